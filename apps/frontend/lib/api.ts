// Typed client for the backend's /api routes. The browser always calls same-origin paths
// (baseUrl ""), which the ingress or this app's own /api proxy forwards to the backend.

import { authorizationHeader } from "./auth";

export interface Task {
  id: number;
  title: string;
  description: string | null;
  completed: boolean;
  due_date: string | null;
  created_at: string | null;
  updated_at: string | null;
}

export interface ToolCall {
  name: string;
  arguments: Record<string, unknown>;
  result: unknown;
}

/** The backend's conversation id, sent back exactly as received (it is an integer today). */
export type ConversationId = number | string;

export interface ChatReply {
  conversation_id: ConversationId;
  reply: string;
  tool_calls: ToolCall[];
  mode: string;
}

export interface AuthResult {
  token: string;
  email: string;
}

/** A failed API call: HTTP status plus the backend's explanation, readable as-is by a person. */
export class ApiError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

export interface ApiClientOptions {
  /** Prefix for every path; "" means same origin (the browser's case). */
  baseUrl?: string;
  /** Returns the current JWT, or null when signed out. */
  getToken?: () => string | null;
  /** Called once per 401 on an authenticated call, e.g. to drop the session. */
  onUnauthorized?: () => void;
  fetchImpl?: typeof fetch;
}

/** Human-readable text from a FastAPI-style error body ({detail: str | [{msg, loc}]}). */
export function describeErrorBody(status: number, body: unknown, fallback: string): string {
  if (body !== null && typeof body === "object") {
    const detail = (body as { detail?: unknown }).detail;
    if (typeof detail === "string" && detail.length > 0) return detail;
    if (Array.isArray(detail) && detail.length > 0) {
      return detail
        .map((item) => {
          if (item === null || typeof item !== "object") return String(item);
          const { msg, loc } = item as { msg?: unknown; loc?: unknown };
          const where = Array.isArray(loc) ? loc.filter((part) => part !== "body").join(".") : "";
          return where ? `${where}: ${String(msg)}` : String(msg);
        })
        .join("; ");
    }
    const message = (body as { message?: unknown }).message;
    if (typeof message === "string" && message.length > 0) return message;
  }
  return fallback || `Request failed with HTTP ${status}`;
}

function asString(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  return null;
}

export function normalizeTask(raw: unknown): Task {
  if (raw === null || typeof raw !== "object") {
    throw new ApiError(502, `Backend sent a task that is not an object: ${JSON.stringify(raw)}`);
  }
  const item = raw as Record<string, unknown>;
  const id = typeof item.id === "number" ? item.id : Number(item.id);
  if (!Number.isFinite(id) || typeof item.title !== "string") {
    throw new ApiError(502, `Backend sent a task without a numeric id and a title: ${JSON.stringify(raw)}`);
  }
  return {
    id,
    title: item.title,
    description: asString(item.description),
    completed: Boolean(item.completed),
    due_date: asString(item.due_date),
    created_at: asString(item.created_at),
    updated_at: asString(item.updated_at),
  };
}

/** Accepts either a bare array or an envelope {tasks: [...]} and returns tasks in list order. */
export function normalizeTaskList(body: unknown): Task[] {
  const items = Array.isArray(body)
    ? body
    : body !== null && typeof body === "object" && Array.isArray((body as { tasks?: unknown }).tasks)
      ? (body as { tasks: unknown[] }).tasks
      : null;
  if (items === null) {
    throw new ApiError(502, `Backend sent a task list in an unexpected shape: ${JSON.stringify(body)}`);
  }
  return items.map(normalizeTask);
}

export function normalizeChatReply(body: unknown): ChatReply {
  if (body === null || typeof body !== "object") {
    throw new ApiError(502, "Backend sent an empty chat reply.");
  }
  const raw = body as Record<string, unknown>;
  const conversationId = raw.conversation_id;
  const validId =
    (typeof conversationId === "number" && Number.isFinite(conversationId)) ||
    (typeof conversationId === "string" && conversationId.length > 0);
  if (!validId || typeof raw.reply !== "string") {
    throw new ApiError(502, `Backend chat reply lacks conversation_id or reply: ${JSON.stringify(body)}`);
  }
  const toolCalls = Array.isArray(raw.tool_calls) ? raw.tool_calls : [];
  return {
    conversation_id: conversationId as ConversationId,
    reply: raw.reply,
    mode: typeof raw.mode === "string" ? raw.mode : "unknown",
    tool_calls: toolCalls.map((call) => {
      const entry = (call ?? {}) as Record<string, unknown>;
      const args = entry.arguments ?? entry.args ?? {};
      return {
        name: typeof entry.name === "string" ? entry.name : "unknown",
        arguments: args !== null && typeof args === "object" ? (args as Record<string, unknown>) : {},
        result: entry.result ?? entry.output ?? null,
      };
    }),
  };
}

export function normalizeAuthResult(body: unknown, email: string): AuthResult {
  const raw = (body ?? {}) as Record<string, unknown>;
  const token = raw.access_token ?? raw.token;
  if (typeof token !== "string" || token.length === 0) {
    throw new ApiError(502, "Backend accepted the credentials but sent no access_token.");
  }
  const user = raw.user as Record<string, unknown> | undefined;
  const reportedEmail = typeof user?.email === "string" ? user.email : email;
  return { token, email: reportedEmail };
}

/** Pages of one list the client follows at most: 100 pages of the backend's 500 are 50,000 tasks. */
export const MAX_LIST_PAGES = 100;

/**
 * The target of the rel="next" entry of a Link header when it is a same-origin path of the list at `path`
 * (the backend sends `</api/tasks?limit=500&offset=500>; rel="next"`); null on the last page. Anything else is
 * not followed, so the token is never sent to another address.
 */
export function nextPageLink(link: string | null, path: string): string | null {
  for (const entry of (link ?? "").split(",")) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(entry);
    if (match && /;\s*rel="?next"?\s*(;|$)/i.test(match[2])) {
      const target = match[1];
      return target === path || target.startsWith(`${path}?`) ? target : null;
    }
  }
  return null;
}

export class ApiClient {
  private readonly baseUrl: string;
  private readonly getToken: () => string | null;
  private readonly onUnauthorized: () => void;
  private readonly fetchImpl: typeof fetch;

  constructor(options: ApiClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? "").replace(/\/+$/, "");
    this.getToken = options.getToken ?? (() => null);
    this.onUnauthorized = options.onUnauthorized ?? (() => undefined);
    // Bound so that window.fetch keeps its receiver when called as this.fetchImpl(...).
    this.fetchImpl = options.fetchImpl ?? ((input, init) => fetch(input, init));
  }

  private async request(
    method: string,
    path: string,
    options: { body?: unknown; authenticated?: boolean } = {},
  ): Promise<unknown> {
    return (await this.exchange(method, path, options)).body;
  }

  /** One call: the parsed body and the response headers, or an ApiError with the backend's reason. */
  private async exchange(
    method: string,
    path: string,
    options: { body?: unknown; authenticated?: boolean } = {},
  ): Promise<{ body: unknown; headers: Headers }> {
    const authenticated = options.authenticated ?? true;
    const headers: Record<string, string> = { Accept: "application/json" };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    if (authenticated) {
      const token = this.getToken();
      if (token === null) throw new ApiError(401, "You are signed out. Sign in to continue.");
      Object.assign(headers, authorizationHeader(token));
    }
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        cache: "no-store",
      });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ApiError(0, `Cannot reach the server (${reason}). Check your connection and retry.`);
    }
    const text = await response.text();
    let body: unknown = null;
    if (text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        body = null;
      }
    }
    if (!response.ok) {
      if (response.status === 401 && authenticated) this.onUnauthorized();
      const fallback = text.length > 0 && body === null ? text.slice(0, 200) : "";
      throw new ApiError(response.status, describeErrorBody(response.status, body, fallback));
    }
    return { body, headers: response.headers };
  }

  async signup(email: string, password: string): Promise<AuthResult> {
    const body = await this.request("POST", "/api/auth/signup", {
      body: { email: email.trim(), password },
      authenticated: false,
    });
    return normalizeAuthResult(body, email.trim());
  }

  async login(email: string, password: string): Promise<AuthResult> {
    const body = await this.request("POST", "/api/auth/login", {
      body: { email: email.trim(), password },
      authenticated: false,
    });
    return normalizeAuthResult(body, email.trim());
  }

  /** Every task: the backend sends at most 500 per page, so follow its Link rel="next" to the last one. */
  async listTasks(): Promise<Task[]> {
    const tasks: Task[] = [];
    const seen = new Set<number>();
    let path: string | null = "/api/tasks";
    for (let page = 0; path !== null; page++) {
      if (page === MAX_LIST_PAGES) {
        throw new ApiError(502, `The task list goes on past ${MAX_LIST_PAGES} pages; reload to try again.`);
      }
      const { body, headers } = await this.exchange("GET", path);
      for (const task of normalizeTaskList(body)) {
        if (!seen.has(task.id)) tasks.push(task); // a task added between two pages shifts the next one
        seen.add(task.id);
      }
      path = nextPageLink(headers.get("link"), "/api/tasks");
    }
    return tasks;
  }

  async setCompleted(taskId: number, completed: boolean): Promise<Task> {
    const action = completed ? "complete" : "uncomplete";
    return normalizeTask(await this.request("POST", `/api/tasks/${taskId}/${action}`));
  }

  async deleteTask(taskId: number): Promise<void> {
    await this.request("DELETE", `/api/tasks/${taskId}`);
  }

  async chat(message: string, conversationId: ConversationId | null): Promise<ChatReply> {
    const body: { message: string; conversation_id?: ConversationId } = { message };
    if (conversationId !== null) body.conversation_id = conversationId;
    return normalizeChatReply(await this.request("POST", "/api/chat", { body }));
  }
}
