import { afterEach, describe, expect, it } from "vitest";
import { ApiClient, ApiError, MAX_LIST_PAGES, describeErrorBody, nextPageLink, normalizeTaskList } from "@/lib/api";
import { type Handler, type LoopbackServer, sendJson, startServer } from "./helpers";

const TASK = {
  id: 3,
  title: "buy milk",
  description: null,
  completed: false,
  due_date: "2026-11-27",
  created_at: "2026-11-26T08:00:00+00:00",
  updated_at: "2026-11-26T08:00:00+00:00",
  completed_at: null,
};

let server: LoopbackServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

async function clientFor(handler: Handler, token: string | null = "tok.en.x", onUnauthorized = () => {}) {
  server = await startServer(handler);
  return new ApiClient({ baseUrl: server.baseUrl, getToken: () => token, onUnauthorized });
}

describe("ApiClient against a real HTTP server", () => {
  it("signs up with a JSON body, no Authorization header, and reads access_token", async () => {
    const api = await clientFor((_req, res) =>
      sendJson(res, 201, { access_token: "a.b.c", token_type: "bearer", user: { id: 1, email: "ada@example.com" } }),
    );
    const result = await api.signup("  ada@example.com ", "correct horse");
    expect(result).toEqual({ token: "a.b.c", email: "ada@example.com" });
    const [request] = server!.requests;
    expect(request.method).toBe("POST");
    expect(request.url).toBe("/api/auth/signup");
    expect(request.headers["content-type"]).toBe("application/json");
    expect(request.headers.authorization).toBeUndefined();
    expect(JSON.parse(request.body)).toEqual({ email: "ada@example.com", password: "correct horse" });
  });

  it("logs in at /api/auth/login and reports the backend's reason on 401 without signing out", async () => {
    let unauthorizedCalls = 0;
    const api = await clientFor(
      (_req, res) => sendJson(res, 401, { detail: "wrong email or password" }),
      null,
      () => unauthorizedCalls++,
    );
    await expect(api.login("ada@example.com", "nope")).rejects.toMatchObject({
      status: 401,
      message: "wrong email or password",
    });
    expect(server!.requests[0].url).toBe("/api/auth/login");
    expect(unauthorizedCalls).toBe(0);
  });

  it("lists tasks with the Bearer token, accepting a bare array or a {tasks} envelope", async () => {
    let envelope = false;
    const api = await clientFor((_req, res) => {
      sendJson(res, 200, envelope ? { tasks: [TASK] } : [TASK]);
      envelope = true;
    });
    const expected = [{ ...TASK, completed_at: undefined }].map(({ completed_at: _drop, ...rest }) => rest);
    expect(await api.listTasks()).toEqual(expected);
    expect(await api.listTasks()).toEqual(expected);
    expect(server!.requests[0].headers.authorization).toBe("Bearer tok.en.x");
    expect(server!.requests[0].method).toBe("GET");
  });

  it("follows Link rel=next to the last page, so a list longer than one page is never cut", async () => {
    const api = await clientFor((req, res) => {
      const offset = Number(new URL(req.url, "http://backend").searchParams.get("offset") ?? 0);
      const headers: Record<string, string> = { "content-type": "application/json", "x-total-count": "3" };
      if (offset < 2) headers.link = `</api/tasks?limit=1&offset=${offset + 1}>; rel="next"`;
      res.writeHead(200, headers).end(JSON.stringify([{ ...TASK, id: offset + 1, title: `task ${offset + 1}` }]));
    });
    const tasks = await api.listTasks();
    expect(tasks.map((t) => [t.id, t.title])).toEqual([
      [1, "task 1"],
      [2, "task 2"],
      [3, "task 3"],
    ]);
    expect(server!.requests.map((r) => r.url)).toEqual([
      "/api/tasks",
      "/api/tasks?limit=1&offset=1",
      "/api/tasks?limit=1&offset=2",
    ]);
    expect(server!.requests.every((r) => r.headers.authorization === "Bearer tok.en.x")).toBe(true);
  });

  it("never follows a Link to another address or another list, and stops a list without end", async () => {
    for (const link of ['<http://elsewhere.example/api/tasks?offset=1>; rel="next"', '</api/conversations>; rel="next"']) {
      const api = await clientFor((_req, res) => {
        res.writeHead(200, { "content-type": "application/json", link }).end(JSON.stringify([TASK]));
      });
      expect(await api.listTasks()).toHaveLength(1);
      expect(server!.requests).toHaveLength(1);
      await server!.close();
      server = null;
    }
    const endless = await clientFor((_req, res) => {
      res.writeHead(200, { "content-type": "application/json", link: '</api/tasks?offset=1>; rel="next"' });
      res.end(JSON.stringify([TASK]));
    });
    await expect(endless.listTasks()).rejects.toMatchObject({ status: 502 });
    expect(server!.requests).toHaveLength(MAX_LIST_PAGES);
  });

  it("completes, uncompletes and deletes through their routes", async () => {
    const api = await clientFor((req, res) => {
      if (req.method === "DELETE") {
        res.writeHead(204).end();
        return;
      }
      sendJson(res, 200, { ...TASK, completed: req.url.endsWith("/complete") });
    });
    expect((await api.setCompleted(3, true)).completed).toBe(true);
    expect((await api.setCompleted(3, false)).completed).toBe(false);
    await api.deleteTask(3);
    expect(server!.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      "POST /api/tasks/3/complete",
      "POST /api/tasks/3/uncomplete",
      "DELETE /api/tasks/3",
    ]);
  });

  it("sends conversation_id only once there is one", async () => {
    const api = await clientFor((req, res) =>
      sendJson(res, 200, {
        conversation_id: 11,
        reply: `echo: ${JSON.parse(req.body).message}`,
        tool_calls: [{ name: "add_task", arguments: { title: "buy milk" }, result: TASK }],
        mode: "local",
      }),
    );
    const first = await api.chat("add buy milk tomorrow", null);
    expect(first).toMatchObject({ conversation_id: 11, reply: "echo: add buy milk tomorrow", mode: "local" });
    expect(first.tool_calls[0]).toEqual({ name: "add_task", arguments: { title: "buy milk" }, result: TASK });
    await api.chat("what's on my list", first.conversation_id);
    expect(JSON.parse(server!.requests[0].body)).toEqual({ message: "add buy milk tomorrow" });
    expect(JSON.parse(server!.requests[1].body)).toEqual({ message: "what's on my list", conversation_id: 11 });
  });

  it("calls onUnauthorized when an authenticated call gets 401", async () => {
    let unauthorizedCalls = 0;
    const api = await clientFor(
      (_req, res) => sendJson(res, 401, { detail: "token expired; sign in again" }),
      "old.to.ken",
      () => unauthorizedCalls++,
    );
    await expect(api.listTasks()).rejects.toMatchObject({ status: 401, message: "token expired; sign in again" });
    expect(unauthorizedCalls).toBe(1);
  });

  it("turns a 422 validation body into a readable sentence", async () => {
    const api = await clientFor((_req, res) =>
      sendJson(res, 422, { detail: [{ loc: ["body", "message"], msg: "String should have at most 2000 characters" }] }),
    );
    await expect(api.chat("x", null)).rejects.toMatchObject({
      status: 422,
      message: "message: String should have at most 2000 characters",
    });
  });

  it("uses the raw text when an error body is not JSON", async () => {
    const api = await clientFor((_req, res) => {
      res.writeHead(502, { "content-type": "text/html" });
      res.end("<h1>Bad Gateway</h1>");
    });
    await expect(api.listTasks()).rejects.toMatchObject({ status: 502, message: "<h1>Bad Gateway</h1>" });
  });

  it("refuses an authenticated call without a token, before touching the network", async () => {
    const api = await clientFor((_req, res) => sendJson(res, 200, []), null);
    await expect(api.listTasks()).rejects.toMatchObject({ status: 401 });
    expect(server!.requests).toHaveLength(0);
  });

  it("reports an unreachable server as status 0 with a clear message", async () => {
    const probe = await startServer((_req, res) => sendJson(res, 200, {}));
    const deadUrl = probe.baseUrl;
    await probe.close();
    const api = new ApiClient({ baseUrl: deadUrl, getToken: () => "t" });
    const error = await api.listTasks().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(0);
    expect((error as ApiError).message).toMatch(/Cannot reach the server/);
  });

  it("rejects a success response whose shape is wrong instead of rendering garbage", async () => {
    const api = await clientFor((_req, res) => sendJson(res, 200, { items: [] }));
    await expect(api.listTasks()).rejects.toMatchObject({ status: 502 });
    await expect(api.signup("a@b.co", "password1")).rejects.toThrow(/no access_token/);
  });
});

describe("pure helpers", () => {
  it("describeErrorBody falls back to the status when the body says nothing", () => {
    expect(describeErrorBody(500, {}, "")).toBe("Request failed with HTTP 500");
    expect(describeErrorBody(400, { message: "bad" }, "")).toBe("bad");
  });
  it("nextPageLink reads rel=next among other links and only for the same list", () => {
    const link = '</api/tasks?offset=0>; rel="prev", </api/tasks?limit=500&offset=500>; rel="next"';
    expect(nextPageLink(link, "/api/tasks")).toBe("/api/tasks?limit=500&offset=500");
    expect(nextPageLink("</api/tasks?offset=9>; rel=next", "/api/tasks")).toBe("/api/tasks?offset=9");
    expect(nextPageLink('</api/tasks?offset=0>; rel="prev"', "/api/tasks")).toBeNull();
    expect(nextPageLink('</api/tasksx?offset=9>; rel="next"', "/api/tasks")).toBeNull();
    expect(nextPageLink(null, "/api/tasks")).toBeNull();
  });
  it("normalizeTaskList rejects a task without an id", () => {
    expect(() => normalizeTaskList([{ title: "x" }])).toThrow(ApiError);
  });
});
