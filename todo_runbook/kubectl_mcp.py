"""A read-only kubectl MCP server of our own, bound to one cluster's kubeconfig and context.

Agents reach Kubernetes through it: one tool, `kubectl`, whose argument is the kubectl command line
after `kubectl`. Every call runs with the chosen --kubeconfig/--context (an agent cannot point it at
another cluster), is bounded by a timeout, and is appended to a JSON-lines log, which is where the
transcripts' "kubectl commands the tool ran" come from. Verbs that change the cluster are refused
unless the server was started with --allow-mutating; Secrets are never read (their values would
land in a transcript).

Run: python -m todo_runbook.kubectl_mcp --kubeconfig K --context C --port P --log calls.jsonl
(it needs the `mcp` package: the runbook starts it with the agent runtime's interpreter).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

READ_VERBS = {"get", "describe", "logs", "top", "explain", "api-resources", "api-versions", "version",
              "cluster-info", "events"}
READ_SUBCOMMANDS = {("rollout", "status"), ("rollout", "history"), ("auth", "can-i"), ("config", "view")}
# Flags that would point kubectl elsewhere or act as someone else: the server's binding is not negotiable.
FORBIDDEN_FLAGS = ("--kubeconfig", "--context", "--cluster", "--server", "-s", "--token", "--as", "--as-group",
                   "--user", "--username", "--password", "--certificate-authority", "--insecure-skip-tls-verify")
OUTPUT_LIMIT = 12000  # characters of output handed back to the agent


@dataclass
class CallRecord:
    command: str  # the full kubectl command line that ran (or would have)
    args: str
    refused: str  # why it was refused; empty when it ran
    exit_code: int | None
    seconds: float
    output: str


def split(command: str | list[str]) -> list[str]:
    args = list(command) if isinstance(command, list) else shlex.split(command)
    return args[1:] if args[:1] == ["kubectl"] else args


def refusal(args: list[str], allow_mutating: bool) -> str:
    """Why these kubectl arguments may not run; empty when they may."""
    if not args:
        return "refused: empty kubectl command; pass e.g. 'get pods -n NAMESPACE'"
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag in FORBIDDEN_FLAGS:
            return f"refused: {flag} is fixed by the server (it is bound to one cluster and identity)"
    verbs = [a for a in args if not a.startswith("-")]
    verb = verbs[0] if verbs else ""
    if any("secret" in a.lower() for a in verbs[1:]) and verb in READ_VERBS:
        return "refused: reading Secrets is not allowed (their values would reach the transcript)"
    if verb in READ_VERBS or tuple(verbs[:2]) in READ_SUBCOMMANDS:
        if verb == "config" and "--raw" in args:
            return "refused: config view --raw would print credentials"
        return ""
    if allow_mutating:
        return ""
    return (f"refused: 'kubectl {verb}' changes the cluster and this server is read-only "
            "(the runbook allows it only with -p aiops_allow_mutating=true)")


class KubectlRunner:
    def __init__(self, kubeconfig: str, context: str, allow_mutating: bool = False, timeout_s: float = 60,
                 kubectl: str = "kubectl", log: Path | None = None) -> None:
        self.kubeconfig, self.context = kubeconfig, context
        self.allow_mutating, self.timeout_s, self.kubectl, self.log = allow_mutating, timeout_s, kubectl, log
        self._lock = threading.Lock()

    def argv(self, args: list[str]) -> list[str]:
        binding = ["--kubeconfig", self.kubeconfig] + (["--context", self.context] if self.context else [])
        return [self.kubectl, *binding, *args]

    def call(self, command: str | list[str]) -> CallRecord:
        started = time.monotonic()
        try:
            args = split(command)
        except ValueError as exc:
            return self._record(CallRecord(str(command), str(command), f"refused: cannot parse: {exc}", None, 0, ""))
        line = shlex.join(self.argv(args))
        why = refusal(args, self.allow_mutating)
        if why:
            return self._record(CallRecord(line, shlex.join(args), why, None, 0.0, why))
        try:
            res = subprocess.run(self.argv(args), capture_output=True, text=True, timeout=self.timeout_s,
                                 stdin=subprocess.DEVNULL)
            output = (res.stdout + (("\n" + res.stderr) if res.stderr.strip() else "")).strip()
            code: int | None = res.returncode
        except subprocess.TimeoutExpired:
            output = (f"error: kubectl did not finish within {self.timeout_s:g} s and was stopped "
                      "(raise aiops_timeout_s if the cluster is slow)")
            code = None
        except FileNotFoundError:
            output, code = f"error: {self.kubectl} not found on PATH (install kubectl)", None
        return self._record(CallRecord(line, shlex.join(args), "", code, round(time.monotonic() - started, 3),
                                       output[:OUTPUT_LIMIT]))

    def _record(self, record: CallRecord) -> CallRecord:
        if self.log:
            with self._lock, self.log.open("a") as out:
                out.write(json.dumps(asdict(record)) + "\n")
        return record


def read_log(path: Path) -> list[CallRecord]:
    if not path.exists():
        return []
    return [CallRecord(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def serve(runner: KubectlRunner, host: str, port: int) -> None:
    # Runs under the kagent venv's mcp 1.x (the runbook venv has mcp 2, without FastMCP).
    from mcp.server.fastmcp import FastMCP  # type: ignore[attr-defined,unused-ignore]

    server = FastMCP("todo-runbook-kubectl", host=host, port=port, stateless_http=True, json_response=True)

    @server.tool(  # type: ignore[untyped-decorator,unused-ignore]
        description="Run kubectl against the runbook's cluster. `command` is everything after "
                             "`kubectl`, e.g. 'get pods -n todo -o wide'. Read-only: get, describe, logs, top, "
                             "events, rollout status; changes are refused unless the runbook allows them.")
    def kubectl(command: str) -> str:
        record = runner.call(command)
        if record.refused:
            return record.refused
        status = f"exit code {record.exit_code}" if record.exit_code is not None else "no exit code"
        return f"$ {record.command}\n({status})\n{record.output}"

    server.run(transport="streamable-http")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="read-only kubectl MCP server (streamable HTTP)")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--context", default="")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", type=Path)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--kubectl", default="kubectl")
    parser.add_argument("--allow-mutating", action="store_true")
    args = parser.parse_args(argv)
    runner = KubectlRunner(args.kubeconfig, args.context, args.allow_mutating, args.timeout, args.kubectl, args.log)
    serve(runner, args.host, args.port)


if __name__ == "__main__":
    main()
