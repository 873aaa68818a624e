"""AIOps: the plan's prompts answered by real agents on the cluster, faults injected and diagnosed.

kagent's own agent runtime (kagent-adk, in its own cached venv) runs on loopback with a model
(the offline operations model, labelled as such, or a real one the user names) and our read-only
kubectl MCP server bound to the chosen cluster. kubectl-ai answers its prompts where it is on PATH;
elsewhere the same prompts go to the kagent runtime and the kubectl-ai rows say "not installed".
Gordon (`docker ai`) runs where Docker Desktop provides it; hadolint and the layer tables stand
beside it. Broken workloads in a scratch namespace are asked about and diagnosed, then removed.
Nothing here stops the runbook: every problem becomes a clear line in the evidence.
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import aimodel, faults, gordon, kagent_cli, kubectl_ai, shell
from .agent_venv import KAGENT_ADK_VERSION, AgentVenv, ensure_agent_venv
from .config import REPO_ROOT, RunbookConfig
from .diagnosis import Diagnosis
from .errors import RunbookError
from .kagent_runtime import AgentRuntime, ModelEndpoint, free_port
from .kube import Kube
from .kubectl_mcp import CallRecord, read_log
from .opsmodel import OpsModelServer
from .providers import ClusterTarget, api_client
from .release_facts import diagnose_release, replicas_of, restore_replicas, wait_ready_replicas
from .timing import iso_now


@dataclass(frozen=True)
class Prompt:
    tool: str  # kubectl-ai | kagent | docker-ai
    group: str  # status, logs, troubleshoot, scale, deploy, cluster health, docker
    text: str
    mutating: bool = False


_K, _G = "kubectl-ai", "kagent"
PLAN_PROMPTS = (
    Prompt(_K, "status", "Show me all pods in {namespace} namespace"),
    Prompt(_K, "status", "Show status of todo-app deployment in namespace {namespace}"),
    Prompt(_K, "status", "List all deployments"),
    Prompt(_K, "logs", "Show logs from backend pods for last 10 minutes in namespace {namespace}"),
    Prompt(_K, "troubleshoot", "Why are my pods crashing in namespace {namespace}?"),
    Prompt(_K, "troubleshoot", "Investigate high memory usage in namespace {namespace}"),
    Prompt(_K, "scale", "Scale backend to 4 replicas in namespace {namespace}", mutating=True),
    Prompt(_K, "scale", "Scale frontend to 3 replicas in namespace {namespace}", mutating=True),
    Prompt(_K, "deploy", "Deploy todo-frontend with 2 replicas in namespace {namespace}", mutating=True),
    Prompt(_G, "cluster health", "analyze cluster health"),
    Prompt(_G, "cluster health", "optimize resource allocation for {namespace} namespace"),
    Prompt(_G, "cluster health", "calculate estimated cost for this cluster setup"),
    Prompt(_G, "cluster health", "check for security vulnerabilities in deployments in namespace {namespace}"),
    Prompt(_G, "cluster health", "Check namespace health for namespace {namespace}"),
    *(Prompt("docker-ai", "docker", text) for text in gordon.GORDON_PROMPTS),
)
NOT_ALLOWED = "changes the cluster (pass -p aiops_allow_mutating=true)"


@dataclass
class AiRun:
    tool: str
    prompt: str
    command: str
    outcome: str  # "ok", "failed: ...", "refused: ...", "skipped: ..."
    ran_at: str
    seconds: float | None = None
    group: str = ""
    runner: str = ""  # what actually answered, with its version
    model: str = ""
    answer: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # kubectl commands run, with output excerpts
    verified: str = ""  # for changes: what the API showed afterwards
    note: str = ""
    transcript_file: str = ""


@dataclass
class AgentSetup:
    runner: str = ""
    model: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    venv: str = ""
    venv_reused: bool | None = None
    venv_build_seconds: float | None = None
    runtime_start_seconds: float | None = None
    mcp_url: str = ""
    problem: str = ""  # why no agent could run; empty when it did


@dataclass
class AiopsResult:
    runs: list[AiRun] = field(default_factory=list)
    agent: AgentSetup = field(default_factory=AgentSetup)
    gordon: list[gordon.DockerfileReview] = field(default_factory=list)
    faults: faults.ScratchReport | None = None
    diagnosis: Diagnosis | None = None
    diagnosis_error: str = ""
    restored: str = ""
    ai_answered: bool = False  # the criterion "AI operations tool answered"; set by answered()
    error: dict[str, str] | None = None
    commands: list[dict[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for run in self.runs:
            key = run.outcome.split(":")[0]
            counts[key] = counts.get(key, 0) + 1
        return counts

    def answered(self) -> bool:
        """At least one real AI tool run executed kubectl on the cluster and returned a final answer."""
        return any(r.outcome == "ok" and r.answer and any(c.get("exit_code") == 0 for c in r.tool_calls)
                   for r in self.runs)

    @property
    def step_status(self) -> str:
        """A step whose every tool was skipped did not do its job: it says so instead of `ok`."""
        if self.error:
            return "failed"
        tried = [r for r in self.runs if not r.outcome.startswith("skipped")]
        return "ok" if tried else "skipped"


def _tool_calls(records: list[CallRecord]) -> list[dict[str, Any]]:
    return [{"command": r.command, "exit_code": r.exit_code, "refused": r.refused, "seconds": r.seconds,
             "output": r.output[:1500]} for r in records]


def _save_transcript(folder: Path, run: AiRun) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", f"{run.tool}-{run.prompt}".lower())[:70].strip("-")
    lines = [f"# {run.tool} ({run.runner}) — {run.model}", f"prompt: {run.prompt}", f"command: {run.command}",
             f"outcome: {run.outcome}", ""]
    for call in run.tool_calls:
        lines += [f"$ {call['command']}", call["refused"] or call["output"], ""]
    lines += ["answer:", run.answer, *([f"verified: {run.verified}"] if run.verified else [])]
    path = folder / f"{slug}.txt"
    path.write_text(shell.mask("\n".join(lines)) + "\n")
    run.transcript_file = str(path)


def _a2a_command(url: str, text: str) -> str:
    body = {"jsonrpc": "2.0", "id": "1", "method": "message/send", "params": {"message": {
        "kind": "message", "role": "user", "messageId": "1", "parts": [{"kind": "text", "text": text}]}}}
    return shell.command_line(["curl", "-s", "-X", "POST", url, "-H", "Content-Type: application/json",
                               "-d", json.dumps(body)])


class _Agent:
    """The MCP server + kagent runtime pair, started once for all prompts."""

    def __init__(self, runtime: AgentRuntime, mcp: subprocess.Popen[bytes], log: Path, setup: AgentSetup) -> None:
        self.runtime, self.mcp, self.log, self.setup = runtime, mcp, log, setup

    def ask(self, prompt: Prompt, text: str, timeout_s: float) -> AiRun:
        before = len(read_log(self.log))
        when = iso_now()
        reply = self.runtime.send(text, timeout_s)
        calls = read_log(self.log)[before:]
        run = AiRun("kagent", text, _a2a_command(self.runtime.url, text), "ok", when, reply.seconds, prompt.group,
                    self.setup.runner, self.setup.model, reply.answer, _tool_calls(calls))
        refused = [c for c in calls if c.refused]
        if not reply.ok:
            run.outcome = f"failed: {reply.error}"
        elif refused:
            run.outcome = f"refused: the read-only kubectl tool refused `kubectl {refused[0].args}`: " \
                          + NOT_ALLOWED
        elif not calls:
            run.outcome = "failed: the agent answered without running kubectl"
        elif not any(c.exit_code == 0 for c in calls):
            first = (calls[0].output.splitlines() or ["no output"])[0][:200]
            run.outcome = f"failed: kubectl ran but did not succeed (exit {calls[0].exit_code}): {first}"
        return run

    def close(self) -> None:
        self.runtime.stop()
        if self.mcp.poll() is None:
            self.mcp.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.mcp.wait(timeout=10)


def _wait_port(port: int, timeout_s: float, proc: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
        time.sleep(0.3)
    return False


def start_mcp(venv: AgentVenv, target: ClusterTarget, allow_mutating: bool, timeout_s: float,
              workdir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Our kubectl MCP server, run by the agent venv's interpreter (it has the `mcp` package)."""
    port, log = free_port(), workdir / "kubectl-calls.jsonl"
    argv = [str(venv.python), "-m", "todo_runbook.kubectl_mcp", "--kubeconfig", target.kubeconfig,
            "--context", target.context, "--port", str(port), "--log", str(log), "--timeout", str(timeout_s)]
    if shell.which("kubectl"):
        argv += ["--kubectl", shell.which("kubectl") or "kubectl"]
    if allow_mutating:
        argv.append("--allow-mutating")
    out = (workdir / "kubectl-mcp.log").open("wb")
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**_clean_env(), "PYTHONPATH": str(REPO_ROOT)})
    if not _wait_port(port, 60, proc):
        proc.kill()
        tail = (workdir / "kubectl-mcp.log").read_text(errors="replace")[-400:]
        raise RunbookError(f"the kubectl MCP server did not start: {tail.strip()}",
                           f"read {workdir / 'kubectl-mcp.log'}")
    return proc, f"http://127.0.0.1:{port}/mcp", log


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}


def start_agent(target: ClusterTarget, config: RunbookConfig, model: ModelEndpoint, workdir: Path) -> _Agent:
    setup = AgentSetup(model=model.label)
    venv = ensure_agent_venv()
    setup.venv, setup.venv_reused, setup.venv_build_seconds = str(venv.path), venv.reused, venv.build_seconds
    setup.versions = venv.versions
    setup.runner = f"kagent-adk {venv.versions.get('kagent-adk', KAGENT_ADK_VERSION)} agent runtime " \
                   f"(google-adk {venv.versions.get('google-adk', '?')}, a2a-sdk {venv.versions.get('a2a-sdk', '?')})"
    workdir.mkdir(parents=True, exist_ok=True)
    mcp, mcp_url, log = start_mcp(venv, target, config.aiops_allow_mutating, min(60, config.aiops_timeout_s),
                                  workdir)
    setup.mcp_url = mcp_url
    runtime = AgentRuntime(venv.path, workdir, model, mcp_url, namespace=config.namespace)
    try:
        runtime.start()
    except RunbookError:
        mcp.kill()
        raise
    setup.runtime_start_seconds = runtime.start_seconds
    return _Agent(runtime, mcp, log, setup)


def in_cluster_kagent(kube: Kube | None) -> bool:
    """kagent installed in the cluster (namespace kagent) and its CLI on PATH: then `kagent invoke` answers."""
    if kube is None or not shell.which("kagent"):
        return False
    try:
        kube.core.read_namespace("kagent")
        return True
    except Exception:  # 404 or no answer: no in-cluster kagent to invoke
        return False


def invoke_in_cluster(target: ClusterTarget, config: RunbookConfig, prompt: Prompt, text: str) -> AiRun:
    """`kagent invoke` on the chosen context only (its CLI has no --context: KUBECONFIG is pinned)."""
    res = kagent_cli.invoke(target.kubeconfig, target.context, config.kagent_agent, text, config.aiops_timeout_s)
    return AiRun(_G, text, res.command, res.outcome, iso_now(), res.seconds, prompt.group,
                 f"kagent in the cluster (agent {config.kagent_agent})", "the cluster's kagent model", res.output,
                 note="in-cluster kagent: its kubectl calls happen inside the cluster, not shown here")


def _change_of(text: str) -> tuple[str, int] | None:
    match = re.search(r"(\d+)\s+replica", text)
    return ("frontend" if "frontend" in text.lower() else "backend", int(match.group(1))) if match else None


def _skipped(prompt: Prompt, text: str, why: str, command: str = "") -> AiRun:
    return AiRun(prompt.tool, text, command, f"skipped: {why}", iso_now(), group=prompt.group)


def run_prompts(result: AiopsResult, agent: _Agent | None, model: ModelEndpoint | None, target: ClusterTarget,
                config: RunbookConfig, kube: Kube | None, transcripts: Path) -> None:
    has_kubectl_ai = bool(kubectl_ai.installed())
    cluster_kagent = in_cluster_kagent(kube)
    for prompt in (p for p in PLAN_PROMPTS if p.tool != "docker-ai"):
        text = prompt.text.format(namespace=config.namespace)
        if prompt.tool not in config.aiops_tools:
            result.runs.append(_skipped(prompt, text, "not in aiops_tools"))
            continue
        if prompt.tool == _G and cluster_kagent:
            run = invoke_in_cluster(target, config, prompt, text)
        elif prompt.tool == _K and has_kubectl_ai and model is not None:
            res = kubectl_ai.run(model, target.kubeconfig, target.context, text, config.aiops_allow_mutating,
                                 config.aiops_timeout_s)
            run = AiRun(_K, text, res.command, res.outcome, iso_now(), res.seconds, prompt.group, "kubectl-ai",
                        model.label, res.output, res.tool_calls)
        else:
            if prompt.tool == _K:  # the command it would have run, with the same model and the pinned cluster
                would = kubectl_ai.argv(model or ModelEndpoint("openai", "MODEL", "", ""),
                                        Path(f"<{target.context} only>"), text, config.aiops_allow_mutating)
                env = {"OPENAI_ENDPOINT": model.base_url} if model and model.base_url else {}
                result.runs.append(_skipped(prompt, text, kubectl_ai.INSTALL_HINT, shell.command_line(would, env)))
            if agent is None:
                result.runs.append(AiRun(_G, text, "", f"failed: {result.agent.problem}", iso_now(),
                                         group=prompt.group))
                continue
            run = agent.ask(prompt, text, config.aiops_timeout_s)
            if prompt.tool == _K:
                run.note = "kubectl-ai prompt answered by kagent's runtime (kubectl-ai not installed)"
        if prompt.mutating and config.aiops_allow_mutating and run.outcome == "ok" and kube is not None:
            change = _change_of(text)
            if change:
                try:
                    ok, line = wait_ready_replicas(kube, config.namespace, change[0], change[1],
                                                   config.aiops_timeout_s)
                except Exception as exc:  # the API did not answer: the change is unproven, say so
                    ok, line = False, f"could not read the deployment: {type(exc).__name__}: {str(exc)[:200]}"
                run.verified = line
                if not ok:
                    run.outcome = f"failed: verify: {line}"
        elif prompt.mutating and not config.aiops_allow_mutating and run.outcome == "ok":
            run.outcome = f"refused: {NOT_ALLOWED}"
        _save_transcript(transcripts, run)
        result.runs.append(run)
        result.commands.append(shell.recorded(run.command, f"ask {run.runner or run.tool}: {prompt.group}"))


def run_gordon(result: AiopsResult, config: RunbookConfig, images: dict[str, str], transcripts: Path) -> None:
    present, reason = gordon.detect() if "docker-ai" in config.aiops_tools else (False, "not in aiops_tools")
    for prompt in (p for p in PLAN_PROMPTS if p.tool == "docker-ai"):
        command = f"cd {shlex.quote(str(REPO_ROOT))} && " + shell.command_line(["docker", "ai", prompt.text])
        if not present:
            result.runs.append(AiRun("docker-ai", prompt.text, command, f"skipped: {reason}", iso_now(),
                                     group="docker", runner="docker ai (Gordon)"))
            continue
        started = time.monotonic()
        outcome, output = gordon.ask(prompt.text, REPO_ROOT, config.aiops_timeout_s)
        run = AiRun("docker-ai", prompt.text, command, outcome, iso_now(), round(time.monotonic() - started, 1),
                    "docker", "docker ai (Gordon)", "Docker's own model", output)
        _save_transcript(transcripts, run)
        result.runs.append(run)
    result.gordon = gordon.review(REPO_ROOT, {"backend": config.backend_dockerfile,
                                              "frontend": config.frontend_dockerfile}, images)


def inject_faults(result: AiopsResult, kube: Kube, config: RunbookConfig) -> None:
    """Create the broken workloads first: their symptoms (a crash loop's restarts) show while the agent starts."""
    scratch = faults.scratch_namespace(config.namespace)
    report = faults.ScratchReport(scratch, "")
    result.faults = report
    try:
        report.image = faults.node_image(kube, config.namespace)
        report.injected = faults.inject(kube, scratch, report.image)
    except Exception as exc:  # the API said no: record it; ask_about_faults removes what was made
        report.error = f"{type(exc).__name__}: {str(exc)[:300]}"


def ask_about_faults(result: AiopsResult, agent: _Agent | None, kube: Kube, config: RunbookConfig,
                     transcripts: Path) -> float:
    """Diagnose and ask about each injected fault, then ask for the scratch namespace's deletion (when it was
    asked, on the monotonic clock): the namespace goes while the rest of the step runs."""
    report = result.faults
    assert report is not None
    try:
        if not report.error:
            _, found, report.seconds_waited = faults.wait_until_diagnosed(kube, report.namespace,
                                                                          min(180, config.aiops_timeout_s))
            report.faults = found
            report.diagnosed = sum(f.diagnosed for f in found)
            for item in found:
                if agent is None:
                    item.agent_outcome = f"failed: {result.agent.problem}"
                    continue
                prompt = Prompt(_G, "troubleshoot", item.question)
                run = agent.ask(prompt, item.question.format(namespace=report.namespace), config.aiops_timeout_s)
                run.note = f"injected fault: {item.what}"
                _save_transcript(transcripts / "faults", run)
                item.agent_answer, item.agent_outcome = run.answer, run.outcome
    except Exception as exc:  # the API said no: record it, remove what was made, go on
        report.error = f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        requested_at = time.monotonic()
        report.removal_proof = faults.request_removal(kube, report.namespace)
    result.commands.append(shell.recorded(f"kubectl delete namespace {report.namespace} --wait",
                                          "remove the scratch namespace"))
    return requested_at


def confirm_faults_removed(result: AiopsResult, kube: Kube, requested_at: float) -> None:
    report = result.faults
    if report is not None and not report.removal_proof:  # no proof yet means the deletion was accepted
        report.removed, report.removal_proof = faults.confirm_removed(kube, report.namespace, requested_at)


def run_aiops(target: ClusterTarget, config: RunbookConfig, transcripts: Path,
              images: dict[str, str] | None = None) -> AiopsResult:
    result = AiopsResult()
    workdir = transcripts / "runtime"
    with contextlib.ExitStack() as stack:
        kube = None
        with contextlib.suppress(Exception):
            kube = Kube(api_client(target))
            stack.callback(kube.close)
        if kube is not None:
            inject_faults(result, kube, config)
            # whatever stops the step early, the scratch namespace does not stay (a second request is harmless)
            stack.callback(faults.request_removal, kube, faults.scratch_namespace(config.namespace))
        choice = aimodel.choose(config)
        if choice.offline:
            server = stack.enter_context(OpsModelServer())
            choice = aimodel.choose(config, server.base_url)
        agent = None
        if choice.endpoint is None:
            result.agent.problem = f"{choice.problem} — {choice.remedy}"
        elif "kagent" in config.aiops_tools or "kubectl-ai" in config.aiops_tools:
            try:
                agent = start_agent(target, config, choice.endpoint, workdir)
                result.agent = agent.setup
                stack.callback(agent.close)
            except RunbookError as exc:
                result.agent.problem = f"{exc.problem} — {exc.remedy}"
            except Exception as exc:  # an unforeseen start problem is still one line, and the step goes on
                result.agent.problem = f"the agent runtime did not start: {type(exc).__name__}: {str(exc)[:300]}"
        removal_asked_at = ask_about_faults(result, agent, kube, config, transcripts) if kube is not None else None
        originals: dict[str, int] = {}
        if kube is not None and config.aiops_allow_mutating:
            with contextlib.suppress(Exception):  # no answer: nothing can be changed or restored either
                originals = replicas_of(kube, config.namespace)
        try:
            run_prompts(result, agent, choice.endpoint, target, config, kube, transcripts)
        finally:
            if originals and kube is not None:
                try:
                    result.restored = restore_replicas(kube, config.namespace, originals, config.aiops_timeout_s)
                except Exception as exc:
                    result.restored = f"restore failed: {type(exc).__name__}: {str(exc)[:200]} — scale back by " \
                                      f"hand: {originals}"
        try:
            run_gordon(result, config, images or {}, transcripts)
        except Exception as exc:  # Docker answered strangely: record it, go on
            result.runs.append(AiRun("docker-ai", "", "", f"failed: {type(exc).__name__}: {str(exc)[:200]}",
                                     iso_now(), group="docker"))
        if kube is not None:
            try:
                result.diagnosis = diagnose_release(kube, config.namespace)
            except Exception as exc:
                # The AI tools may skip; the built-in diagnosis may not: without it the step failed.
                result.diagnosis_error = f"{type(exc).__name__}: {str(exc)[:300]}"
            if removal_asked_at is not None:
                confirm_faults_removed(result, kube, removal_asked_at)
        else:
            result.diagnosis_error = "no Kubernetes API client for the chosen cluster"
    result.ai_answered = result.answered()
    if result.diagnosis is None:
        result.error = {"type": "DiagnosisError", "kind": "diagnosis failed",
                        "problem": f"the built-in diagnosis could not read namespace {config.namespace}: "
                                   f"{result.diagnosis_error}",
                        "remedy": "check the cluster answers (todo-runbook preflight) and rerun 05-aiops"}
    result.commands.append(shell.recorded(shell.command_line(
        target.kubectl("-n", config.namespace, "get", "events", "--sort-by=.lastTimestamp")),
        "what the diagnosis reads: events (plus pods, services, endpoints, deployments, ingresses, nodes, HPAs)"))
    return result

