// Chat panel state as a pure reducer: the component dispatches, the tests drive it directly.

import type { ChatReply, ConversationId, ToolCall } from "./api";

/** Longest message the UI sends; the backend enforces its own limit too. */
export const MAX_MESSAGE_LENGTH = 2000;

export type ChatRole = "user" | "assistant" | "error";

export interface ChatMessage {
  id: number;
  role: ChatRole;
  text: string;
  toolCalls: ToolCall[];
  mode: string | null;
}

export interface ChatState {
  conversationId: ConversationId | null;
  messages: ChatMessage[];
  pending: boolean;
  nextId: number;
}

export type ChatAction =
  | { type: "sent"; text: string }
  | { type: "replied"; reply: ChatReply }
  | { type: "failed"; error: string }
  | { type: "reset" };

export const initialChatState: ChatState = {
  conversationId: null,
  messages: [],
  pending: false,
  nextId: 1,
};

/** The message to send after trimming, or a sentence saying why it cannot be sent. */
export function prepareMessage(text: string): { ok: true; message: string } | { ok: false; error: string } {
  const message = text.trim();
  if (message.length === 0) return { ok: false, error: "Type a message first." };
  if (message.length > MAX_MESSAGE_LENGTH) {
    return {
      ok: false,
      error: `Your message has ${message.length} characters; the limit is ${MAX_MESSAGE_LENGTH}. Shorten it and send again.`,
    };
  }
  return { ok: true, message };
}

function append(state: ChatState, message: Omit<ChatMessage, "id">): ChatState {
  return { ...state, messages: [...state.messages, { id: state.nextId, ...message }], nextId: state.nextId + 1 };
}

export function chatReducer(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case "sent":
      // One turn at a time: the backend reloads the conversation per request, so overlapping
      // turns would race on the history.
      if (state.pending) return state;
      return { ...append(state, { role: "user", text: action.text, toolCalls: [], mode: null }), pending: true };
    case "replied":
      return {
        ...append(state, {
          role: "assistant",
          text: action.reply.reply,
          toolCalls: action.reply.tool_calls,
          mode: action.reply.mode,
        }),
        conversationId: action.reply.conversation_id,
        pending: false,
      };
    case "failed":
      return { ...append(state, { role: "error", text: action.error, toolCalls: [], mode: null }), pending: false };
    case "reset":
      return initialChatState;
  }
}

