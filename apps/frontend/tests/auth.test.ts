import { describe, expect, it } from "vitest";
import {
  authorizationHeader,
  clearSession,
  decodeJwtPayload,
  EXPIRY_SKEW_SECONDS,
  isTokenExpired,
  loadSession,
  saveSession,
  SESSION_STORAGE_KEY,
  validateCredentials,
} from "@/lib/auth";
import { makeJwt, MemoryStorage } from "./helpers";

const NOW = 1_800_000_000;

describe("decodeJwtPayload", () => {
  it("reads the claims of a well-formed token, including non-ASCII text", () => {
    const token = makeJwt({ sub: "42", exp: NOW + 60, name: "Zoë ✓" });
    expect(decodeJwtPayload(token)).toEqual({ sub: "42", exp: NOW + 60, name: "Zoë ✓" });
  });

  it.each([
    ["empty", ""],
    ["two segments", "abc.def"],
    ["empty payload segment", "abc..sig"],
    ["payload not base64 JSON", "abc.!!!.sig"],
    ["payload is an array", `x.${Buffer.from("[1,2]").toString("base64url")}.y`],
  ])("returns null for a malformed token (%s)", (_label, token) => {
    expect(decodeJwtPayload(token)).toBeNull();
  });
});

describe("isTokenExpired", () => {
  it("keeps a token that expires after the skew window", () => {
    expect(isTokenExpired(makeJwt({ exp: NOW + EXPIRY_SKEW_SECONDS + 5 }), NOW)).toBe(false);
  });
  it("drops a token that expires inside the skew window or earlier", () => {
    expect(isTokenExpired(makeJwt({ exp: NOW + EXPIRY_SKEW_SECONDS - 1 }), NOW)).toBe(true);
    expect(isTokenExpired(makeJwt({ exp: NOW - 3600 }), NOW)).toBe(true);
  });
  it("treats a missing exp as valid and a non-numeric exp or garbage token as expired", () => {
    expect(isTokenExpired(makeJwt({ sub: "1" }), NOW)).toBe(false);
    expect(isTokenExpired(makeJwt({ exp: "tomorrow" }), NOW)).toBe(true);
    expect(isTokenExpired("not-a-jwt", NOW)).toBe(true);
  });
});

describe("session storage", () => {
  it("round-trips a live session", () => {
    const storage = new MemoryStorage();
    const session = { token: makeJwt({ exp: NOW + 3600 }), email: "ada@example.com" };
    saveSession(storage, session);
    expect(JSON.parse(storage.getItem(SESSION_STORAGE_KEY) ?? "null")).toEqual(session);
    expect(loadSession(storage, NOW)).toEqual(session);
  });

  it("returns null when nothing is stored", () => {
    expect(loadSession(new MemoryStorage(), NOW)).toBeNull();
  });

  it.each([
    ["not JSON", "{oops"],
    ["JSON null", "null"],
    ["missing email", JSON.stringify({ token: makeJwt({ exp: NOW + 3600 }) })],
    ["expired token", JSON.stringify({ token: makeJwt({ exp: NOW - 1 }), email: "a@b.co" })],
  ])("removes a stale or corrupt entry (%s)", (_label, raw) => {
    const storage = new MemoryStorage();
    storage.setItem(SESSION_STORAGE_KEY, raw);
    expect(loadSession(storage, NOW)).toBeNull();
    expect(storage.getItem(SESSION_STORAGE_KEY)).toBeNull();
  });

  it("clearSession removes only the session key", () => {
    const storage = new MemoryStorage();
    storage.setItem("other", "kept");
    saveSession(storage, { token: makeJwt({}), email: "a@b.co" });
    clearSession(storage);
    expect(storage.getItem(SESSION_STORAGE_KEY)).toBeNull();
    expect(storage.getItem("other")).toBe("kept");
  });
});

describe("authorizationHeader", () => {
  it("uses the Bearer scheme", () => {
    expect(authorizationHeader("t.o.k")).toEqual({ Authorization: "Bearer t.o.k" });
  });
});

describe("validateCredentials", () => {
  it("accepts a valid sign-up", () => {
    expect(validateCredentials(" ada@example.com ", "correct horse", "signup")).toBeNull();
  });
  it("names the field and the fix for each problem", () => {
    expect(validateCredentials("", "x", "signin")).toMatchObject({ field: "email" });
    expect(validateCredentials("ada.example.com", "x", "signin")?.message).toContain("ada.example.com");
    expect(validateCredentials("ada@example.com", "", "signin")).toMatchObject({ field: "password" });
    expect(validateCredentials("ada@example.com", "short", "signup")?.message).toContain("at least 8");
  });
  it("does not apply the length rule on sign-in (old accounts may predate it)", () => {
    expect(validateCredentials("ada@example.com", "short", "signin")).toBeNull();
  });
});
