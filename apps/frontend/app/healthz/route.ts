// Probe route: answers from this process alone, never calls the backend, so a backend outage
// does not restart healthy frontend pods.
export const dynamic = "force-dynamic";

export function GET(): Response {
  return Response.json(
    { status: "ok", service: "todo-frontend", uptime_seconds: Math.round(process.uptime()) },
    { headers: { "cache-control": "no-store" } },
  );
}
