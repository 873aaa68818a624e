// Client-side session handling: the backend issues an HS256 JWT; the browser keeps it in
// localStorage and sends it as "Authorization: Bearer <token>". The browser cannot verify the
// signature (it has no secret), it only reads "exp" to drop a session that is already dead.

export const SESSION_STORAGE_KEY = "todo-runbook.session";

/** Seconds of clock skew tolerated before a token counts as expired. */
export const EXPIRY_SKEW_SECONDS = 30;

export interface Session {
  token: string;
  email: string;
}

/** The subset of the Web Storage API the session needs (localStorage in the browser). */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

function decodeBase64Url(segment: string): string {
  const base64 = segment.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The JWT payload as an object, or null when the token is not a well-formed JWT. */
export function decodeJwtPayload(token: string): Record<string, unknown> | null {
  const parts = token.split(".");
  if (parts.length !== 3 || parts.some((part) => part.length === 0)) return null;
  try {
    const payload: unknown = JSON.parse(decodeBase64Url(parts[1]));
    return payload !== null && typeof payload === "object" && !Array.isArray(payload)
      ? (payload as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** True when the token is malformed or its "exp" lies in the past (with skew). */
export function isTokenExpired(token: string, nowSeconds: number = Date.now() / 1000): boolean {
  const payload = decodeJwtPayload(token);
  if (payload === null) return true;
  const exp = payload.exp;
  if (exp === undefined) return false; // a token without expiry stays valid until the server says no
  if (typeof exp !== "number" || !Number.isFinite(exp)) return true;
  return exp <= nowSeconds + EXPIRY_SKEW_SECONDS;
}

export function authorizationHeader(token: string): { Authorization: string } {
  return { Authorization: `Bearer ${token}` };
}

export function saveSession(storage: KeyValueStorage, session: Session): void {
  storage.setItem(SESSION_STORAGE_KEY, JSON.stringify(session));
}

export function clearSession(storage: KeyValueStorage): void {
  storage.removeItem(SESSION_STORAGE_KEY);
}

/**
 * The stored session if it is well formed and not expired; otherwise the stale entry is removed
 * and null is returned, so the UI shows the sign-in form instead of failing on the first request.
 */
export function loadSession(
  storage: KeyValueStorage,
  nowSeconds: number = Date.now() / 1000,
): Session | null {
  const raw = storage.getItem(SESSION_STORAGE_KEY);
  if (raw === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    clearSession(storage);
    return null;
  }
  const candidate = parsed as Partial<Session> | null;
  if (
    candidate === null ||
    typeof candidate !== "object" ||
    typeof candidate.token !== "string" ||
    typeof candidate.email !== "string" ||
    isTokenExpired(candidate.token, nowSeconds)
  ) {
    clearSession(storage);
    return null;
  }
  return { token: candidate.token, email: candidate.email };
}

export interface CredentialProblem {
  field: "email" | "password";
  message: string;
}

export const MIN_PASSWORD_LENGTH = 8;

/** Client-side checks that mirror the backend's rules, so obvious mistakes never leave the page. */
export function validateCredentials(
  email: string,
  password: string,
  mode: "signin" | "signup",
): CredentialProblem | null {
  const trimmed = email.trim();
  if (trimmed.length === 0) return { field: "email", message: "Enter your email address." };
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(trimmed)) {
    return { field: "email", message: `"${trimmed}" is not an email address (expected name@example.com).` };
  }
  if (password.length === 0) return { field: "password", message: "Enter your password." };
  if (mode === "signup" && password.length < MIN_PASSWORD_LENGTH) {
    return {
      field: "password",
      message: `Choose a password of at least ${MIN_PASSWORD_LENGTH} characters.`,
    };
  }
  return null;
}
