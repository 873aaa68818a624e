import { describe, expect, it } from "vitest";
import type { ChatReply } from "@/lib/api";
import { chatReducer, initialChatState, MAX_MESSAGE_LENGTH, prepareMessage } from "@/lib/chat";

const reply = (overrides: Partial<ChatReply> = {}): ChatReply => ({
  conversation_id: 7,
  reply: "Added task 1: buy milk (due 2026-11-27).",
  tool_calls: [{ name: "add_task", arguments: { title: "buy milk" }, result: { id: 1 } }],
  mode: "local",
  ...overrides,
});

describe("prepareMessage", () => {
  it("trims and accepts a normal message", () => {
    expect(prepareMessage("  add buy milk tomorrow \n")).toEqual({ ok: true, message: "add buy milk tomorrow" });
  });
  it("rejects an empty or whitespace-only message", () => {
    expect(prepareMessage("   ")).toEqual({ ok: false, error: "Type a message first." });
  });
  it("accepts exactly the limit and rejects one more, saying the limit", () => {
    expect(prepareMessage("x".repeat(MAX_MESSAGE_LENGTH)).ok).toBe(true);
    const tooLong = prepareMessage("x".repeat(MAX_MESSAGE_LENGTH + 1));
    expect(tooLong.ok).toBe(false);
    if (!tooLong.ok) expect(tooLong.error).toContain(String(MAX_MESSAGE_LENGTH));
  });
});

describe("chatReducer", () => {
  it("records a turn: user message, pending, then the reply with its conversation id", () => {
    const sent = chatReducer(initialChatState, { type: "sent", text: "add buy milk tomorrow" });
    expect(sent.pending).toBe(true);
    expect(sent.messages).toEqual([
      { id: 1, role: "user", text: "add buy milk tomorrow", toolCalls: [], mode: null },
    ]);
    const answered = chatReducer(sent, { type: "replied", reply: reply() });
    expect(answered.pending).toBe(false);
    expect(answered.conversationId).toBe(7);
    expect(answered.messages[1]).toMatchObject({ id: 2, role: "assistant", mode: "local" });
    expect(answered.messages[1].toolCalls.map((call) => call.name)).toEqual(["add_task"]);
  });

  it("keeps the conversation id across turns and adopts a new one if the server changes it", () => {
    let state = chatReducer(initialChatState, { type: "sent", text: "one" });
    state = chatReducer(state, { type: "replied", reply: reply({ conversation_id: 7 }) });
    state = chatReducer(state, { type: "sent", text: "two" });
    expect(state.conversationId).toBe(7);
    state = chatReducer(state, { type: "replied", reply: reply({ conversation_id: 8 }) });
    expect(state.conversationId).toBe(8);
    expect(state.messages.map((m) => m.id)).toEqual([1, 2, 3, 4]);
  });

  it("ignores a second send while a turn is pending", () => {
    const sent = chatReducer(initialChatState, { type: "sent", text: "first" });
    expect(chatReducer(sent, { type: "sent", text: "second" })).toBe(sent);
  });

  it("turns a failure into an error message and unblocks the composer, keeping the conversation", () => {
    let state = chatReducer(initialChatState, { type: "sent", text: "one" });
    state = chatReducer(state, { type: "replied", reply: reply() });
    state = chatReducer(state, { type: "sent", text: "two" });
    state = chatReducer(state, { type: "failed", error: "Cannot reach the server" });
    expect(state.pending).toBe(false);
    expect(state.conversationId).toBe(7);
    expect(state.messages.at(-1)).toMatchObject({ role: "error", text: "Cannot reach the server" });
  });

  it("reset starts a new conversation", () => {
    let state = chatReducer(initialChatState, { type: "sent", text: "one" });
    state = chatReducer(state, { type: "replied", reply: reply() });
    expect(chatReducer(state, { type: "reset" })).toEqual(initialChatState);
  });
});
