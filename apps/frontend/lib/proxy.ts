// Server-side forwarding of same-origin /api/* calls to the backend named by API_URL.
// API_URL is read on every request (run time), never baked in at build time, so one image works
// in every environment. With an ingress in front, /api never reaches this code at all.

/** Headers that describe one hop, not the message; they must not be forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
]);

/** Upstream response headers that no longer hold after fetch() has decoded the body. */
const STALE_AFTER_DECODE = new Set(["content-encoding", "content-length"]);

/** Statuses whose responses cannot carry a body (the Response constructor rejects one). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

export const DEFAULT_PROXY_TIMEOUT_MS = 120_000;

export class ProxyConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProxyConfigError";
  }
}

/** The backend base URL from API_URL, validated: origin plus optional path prefix, no trailing slash. */
export function backendBaseUrl(env: Record<string, string | undefined>): string {
  const value = env.API_URL?.trim();
  if (!value) {
    throw new ProxyConfigError(
      "API_URL is not set: set it to the backend's base URL (for example http://127.0.0.1:8000) " +
        "or route /api to the backend with an ingress.",
    );
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ProxyConfigError(`API_URL="${value}" is not a URL: use a form like http://todo-backend:8000.`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ProxyConfigError(`API_URL="${value}" must start with http:// or https://.`);
  }
  // A URL object cannot hold an empty path ("/" comes back), so the prefix is kept as a string.
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

/** Where a request for `pathname?search` on this server goes on the backend. */
export function upstreamUrl(base: string, pathname: string, search: string): string {
  if (!pathname.startsWith("/api/") && pathname !== "/api") {
    throw new ProxyConfigError(`only /api paths are forwarded, not ${pathname}`);
  }
  return `${base}${pathname}${search}`;
}

export function proxyTimeoutMs(env: Record<string, string | undefined>): number {
  const parsed = Number(env.API_TIMEOUT_MS);
  return Number.isFinite(parsed) && parsed > 0 ? parsed : DEFAULT_PROXY_TIMEOUT_MS;
}

export function forwardRequestHeaders(incoming: Headers, clientHost: string | null, protocol: string): Headers {
  const outgoing = new Headers();
  const connectionListed = (incoming.get("connection") ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  incoming.forEach((value, name) => {
    const key = name.toLowerCase();
    if (HOP_BY_HOP.has(key) || connectionListed.includes(key)) return;
    outgoing.set(name, value);
  });
  if (clientHost) outgoing.set("x-forwarded-host", clientHost);
  outgoing.set("x-forwarded-proto", protocol.replace(/:$/, ""));
  return outgoing;
}

export function forwardResponseHeaders(upstream: Headers): Headers {
  const outgoing = new Headers();
  upstream.forEach((value, name) => {
    const key = name.toLowerCase();
    if (HOP_BY_HOP.has(key) || STALE_AFTER_DECODE.has(key)) return;
    outgoing.append(name, value);
  });
  return outgoing;
}

function jsonError(status: number, detail: string): Response {
  return new Response(JSON.stringify({ detail }), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}

/** Forward one request to the backend and stream its answer back; errors become JSON 502/503/504. */
export async function proxyToBackend(
  request: Request,
  env: Record<string, string | undefined> = process.env,
): Promise<Response> {
  const incomingUrl = new URL(request.url);
  let target: string;
  try {
    target = upstreamUrl(backendBaseUrl(env), incomingUrl.pathname, incomingUrl.search);
  } catch (error) {
    return jsonError(503, error instanceof Error ? error.message : String(error));
  }
  const method = request.method.toUpperCase();
  const hasBody = method !== "GET" && method !== "HEAD";
  const timeoutMs = proxyTimeoutMs(env);
  let upstream: Response;
  try {
    upstream = await fetch(target, {
      method,
      headers: forwardRequestHeaders(request.headers, request.headers.get("host") ?? incomingUrl.host, incomingUrl.protocol),
      // Bodies are small JSON documents; buffering keeps retries and content-length simple.
      body: hasBody ? await request.arrayBuffer() : undefined,
      redirect: "manual",
      cache: "no-store",
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const name = error instanceof Error ? error.name : "";
    if (name === "TimeoutError") {
      return jsonError(504, `The backend did not answer within ${timeoutMs} ms (API_TIMEOUT_MS).`);
    }
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
    // The path only, never headers: they carry the user's token.
    console.error(`api proxy: ${method} ${incomingUrl.pathname} -> backend unreachable: ${cause}`);
    return jsonError(502, `The backend at API_URL (${new URL(target).origin}) is unreachable: ${cause}`);
  }
  const nullBody = method === "HEAD" || NULL_BODY_STATUSES.has(upstream.status);
  return new Response(nullBody ? null : upstream.body, {
    status: upstream.status,
    statusText: upstream.statusText,
    headers: forwardResponseHeaders(upstream.headers),
  });
}
