"use client";

import { type FormEvent, useEffect, useReducer, useRef, useState } from "react";
import { ApiError, type ApiClient } from "@/lib/api";
import { chatReducer, initialChatState, MAX_MESSAGE_LENGTH, prepareMessage } from "@/lib/chat";

export function ChatPanel({ api, onTurnFinished }: { api: ApiClient; onTurnFinished: () => void }) {
  const [state, dispatch] = useReducer(chatReducer, initialChatState);
  const [draft, setDraft] = useState("");
  const [inputError, setInputError] = useState<string | null>(null);
  const endRef = useRef<HTMLDivElement | null>(null);

  useEffect(() => {
    endRef.current?.scrollIntoView({ block: "end" });
  }, [state.messages.length]);

  async function send(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (state.pending) return;
    const prepared = prepareMessage(draft);
    if (!prepared.ok) {
      setInputError(prepared.error);
      return;
    }
    setInputError(null);
    setDraft("");
    dispatch({ type: "sent", text: prepared.message });
    try {
      const reply = await api.chat(prepared.message, state.conversationId);
      dispatch({ type: "replied", reply });
    } catch (caught) {
      dispatch({ type: "failed", error: caught instanceof ApiError ? caught.message : String(caught) });
    } finally {
      // The agent may have changed tasks even when the turn failed half way.
      onTurnFinished();
    }
  }

  return (
    <section className="panel" aria-label="Chat" data-testid="chat-panel">
      <h2>
        Chat
        <button
          type="button"
          className="secondary"
          onClick={() => dispatch({ type: "reset" })}
          disabled={state.pending || state.messages.length === 0}
          data-testid="chat-new"
        >
          New conversation
        </button>
      </h2>
      <div className="messages" data-testid="chat-messages" aria-live="polite">
        {state.messages.length === 0 && (
          <p className="empty">Try “add buy milk tomorrow”, “what’s on my list” or “mark 1 done”.</p>
        )}
        {state.messages.map((message) => (
          <div key={message.id} className={`message ${message.role}`} data-testid={`chat-message-${message.role}`}>
            {message.text}
            {message.role === "assistant" && (
              <div className="meta" data-testid="chat-meta">
                {message.mode ? `answered by: ${message.mode}` : null}
                {message.toolCalls.length > 0 && ` · tools: ${message.toolCalls.map((call) => call.name).join(", ")}`}
              </div>
            )}
          </div>
        ))}
        {state.pending && <p className="notice" data-testid="chat-pending">Thinking…</p>}
        <div ref={endRef} />
      </div>
      <form className="composer" onSubmit={send}>
        <input
          type="text"
          aria-label="Message"
          placeholder="Tell me what to do with your tasks"
          value={draft}
          maxLength={MAX_MESSAGE_LENGTH}
          onChange={(event) => setDraft(event.target.value)}
          data-testid="chat-input"
        />
        <button type="submit" disabled={state.pending} data-testid="chat-send">
          Send
        </button>
      </form>
      {inputError && (
        <p className="error" role="alert">
          {inputError}
        </p>
      )}
    </section>
  );
}
