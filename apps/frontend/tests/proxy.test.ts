import { afterEach, describe, expect, it } from "vitest";
import {
  backendBaseUrl,
  forwardRequestHeaders,
  ProxyConfigError,
  proxyTimeoutMs,
  proxyToBackend,
  upstreamUrl,
} from "@/lib/proxy";
import { type LoopbackServer, sendJson, startServer } from "./helpers";

let backend: LoopbackServer | null = null;
afterEach(async () => {
  await backend?.close();
  backend = null;
});

describe("API_URL validation", () => {
  it.each([
    [undefined, /API_URL is not set/],
    ["   ", /API_URL is not set/],
    ["todo-backend:8000", /must start with http/],
    ["not a url", /is not a URL/],
    ["ftp://files", /must start with http/],
  ])("rejects %j with a message naming the fix", (value, pattern) => {
    expect(() => backendBaseUrl({ API_URL: value })).toThrow(ProxyConfigError);
    expect(() => backendBaseUrl({ API_URL: value })).toThrow(pattern);
  });

  it("keeps a base path and drops trailing slashes, query and fragment", () => {
    const base = backendBaseUrl({ API_URL: "http://backend:8000/prefix/?x=1#y" });
    expect(upstreamUrl(base, "/api/tasks", "?status=pending")).toBe("http://backend:8000/prefix/api/tasks?status=pending");
  });

  it("joins a bare origin without doubling the slash", () => {
    expect(upstreamUrl(backendBaseUrl({ API_URL: "http://127.0.0.1:8000/" }), "/api/tasks", "")).toBe(
      "http://127.0.0.1:8000/api/tasks",
    );
  });

  it("refuses to forward paths outside /api", () => {
    expect(() => upstreamUrl("http://b", "/healthz", "")).toThrow(/only \/api paths/);
  });

  it("uses API_TIMEOUT_MS when it is a positive number", () => {
    expect(proxyTimeoutMs({ API_TIMEOUT_MS: "2500" })).toBe(2500);
    expect(proxyTimeoutMs({ API_TIMEOUT_MS: "soon" })).toBe(120_000);
  });
});

describe("forwardRequestHeaders", () => {
  it("drops hop-by-hop headers, including those listed in Connection, and adds X-Forwarded-*", () => {
    const incoming = new Headers({
      authorization: "Bearer t",
      connection: "keep-alive, x-private",
      "x-private": "secret-hop",
      host: "frontend:3000",
      "content-length": "12",
      "content-type": "application/json",
    });
    const out = forwardRequestHeaders(incoming, "frontend:3000", "http:");
    expect(out.get("authorization")).toBe("Bearer t");
    expect(out.get("content-type")).toBe("application/json");
    expect(out.has("x-private")).toBe(false);
    expect(out.has("host")).toBe(false);
    expect(out.has("content-length")).toBe(false);
    expect(out.get("x-forwarded-host")).toBe("frontend:3000");
    expect(out.get("x-forwarded-proto")).toBe("http");
  });
});

describe("proxyToBackend against a real HTTP server", () => {
  it("forwards method, path, query, body and Authorization, and streams the answer back", async () => {
    backend = await startServer((req, res) => {
      res.setHeader("x-request-id", "req-1");
      sendJson(res, 201, { echoed: JSON.parse(req.body), path: req.url });
    });
    const request = new Request("http://frontend.local/api/chat?trace=1", {
      method: "POST",
      headers: { authorization: "Bearer abc", "content-type": "application/json" },
      body: JSON.stringify({ message: "add buy milk tomorrow" }),
    });
    const response = await proxyToBackend(request, { API_URL: backend.baseUrl });
    expect(response.status).toBe(201);
    expect(response.headers.get("x-request-id")).toBe("req-1");
    expect(await response.json()).toEqual({
      echoed: { message: "add buy milk tomorrow" },
      path: "/api/chat?trace=1",
    });
    const seen = backend.requests[0];
    expect(seen.method).toBe("POST");
    expect(seen.headers.authorization).toBe("Bearer abc");
    expect(seen.headers["x-forwarded-host"]).toBe("frontend.local");
  });

  it("passes backend errors through unchanged, and handles 204 without a body", async () => {
    backend = await startServer((req, res) => {
      if (req.method === "DELETE") res.writeHead(204).end();
      else sendJson(res, 404, { detail: "task 9 not found" });
    });
    const missing = await proxyToBackend(new Request("http://f/api/tasks/9"), { API_URL: backend.baseUrl });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ detail: "task 9 not found" });
    const deleted = await proxyToBackend(new Request("http://f/api/tasks/9", { method: "DELETE" }), {
      API_URL: backend.baseUrl,
    });
    expect(deleted.status).toBe(204);
    expect(await deleted.text()).toBe("");
  });

  it("answers 503 naming API_URL when it is not set, without calling anything", async () => {
    const response = await proxyToBackend(new Request("http://f/api/tasks"), {});
    expect(response.status).toBe(503);
    expect((await response.json()).detail).toMatch(/API_URL is not set/);
  });

  it("answers 502 naming the backend when nothing listens there", async () => {
    const probe = await startServer((_req, res) => sendJson(res, 200, {}));
    const deadUrl = probe.baseUrl;
    await probe.close();
    const response = await proxyToBackend(new Request("http://f/api/tasks"), { API_URL: deadUrl });
    expect(response.status).toBe(502);
    expect((await response.json()).detail).toContain(`API_URL (${deadUrl})`);
  });

  it("answers 504 when the backend is slower than API_TIMEOUT_MS", async () => {
    backend = await startServer((_req, res) => setTimeout(() => sendJson(res, 200, {}), 2000));
    const response = await proxyToBackend(new Request("http://f/api/chat", { method: "POST", body: "{}" }), {
      API_URL: backend.baseUrl,
      API_TIMEOUT_MS: "200",
    });
    expect(response.status).toBe(504);
    expect((await response.json()).detail).toMatch(/API_TIMEOUT_MS/);
  });
});
