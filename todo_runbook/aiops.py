"""AIOps: kubectl-ai, kagent and Docker's `docker ai` with the plan's prompts, plus the built-in diagnosis.

Each AI tool runs in its real command form only when the tool and its credentials are present;
otherwise the evidence says why it was skipped ("skipped: kagent not installed") and the run goes
on. Prompts that would change the cluster run only with aiops_allow_mutating=true. The built-in
rule-based diagnosis always runs, needing neither tools nor credentials.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import shell
from .config import RunbookConfig
from .diagnosis import Diagnosis, diagnose
from .errors import RunbookError
from .kube import Kube
from .providers import ClusterTarget, api_client
from .timing import iso_now


@dataclass(frozen=True)
class Prompt:
    tool: str
    text: str
    mutating: bool = False


# The plan's documented prompts. The plan writes kagent as `kagent "..."`; that form does not exist,
# its CLI is `kagent invoke --agent AGENT --task "..."`, which is what runs here.
PLAN_PROMPTS = (
    Prompt("docker-ai", "What can you do?"),
    Prompt("docker-ai", "Review dockerfiles/backend.Dockerfile for image size and security"),
    Prompt("kubectl-ai", "check why the pods are failing in namespace {namespace}"),
    Prompt("kubectl-ai", "deploy the todo frontend with 2 replicas in namespace {namespace}", mutating=True),
    Prompt("kubectl-ai", "scale the backend to handle more load in namespace {namespace}", mutating=True),
    Prompt("kagent", "analyze the cluster health"),
    Prompt("kagent", "optimize resource allocation for namespace {namespace}"),
)
LLM_KEYS = ("GEMINI_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_OPENAI_API_KEY")


@dataclass
class AiRun:
    tool: str
    prompt: str
    command: str
    outcome: str  # "ok", "failed: ...", "skipped: ..."
    ran_at: str
    seconds: float | None = None
    transcript: str = ""
    transcript_file: str = ""


@dataclass
class AiopsResult:
    runs: list[AiRun] = field(default_factory=list)
    diagnosis: Diagnosis | None = None
    diagnosis_error: str = ""
    error: dict[str, str] | None = None
    commands: list[dict[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for run in self.runs:
            key = run.outcome.split(":")[0]
            counts[key] = counts.get(key, 0) + 1
        return counts


def _kubectl_ai_argv(target: ClusterTarget, prompt: str, mutating: bool) -> tuple[list[str] | None, str]:
    provider = []
    if not os.environ.get("GEMINI_API_KEY"):
        if os.environ.get("OPENAI_API_KEY"):
            provider = ["--llm-provider", "openai", "--model", os.environ.get("OPENAI_MODEL", "gpt-4o-mini")]
        elif os.environ.get("ANTHROPIC_API_KEY"):
            provider = ["--llm-provider", "anthropic"]
        elif os.environ.get("AZURE_OPENAI_API_KEY"):
            provider = ["--llm-provider", "azopenai"]
        else:
            return None, "skipped: no LLM credentials (set GEMINI_API_KEY or OPENAI_API_KEY)"
    argv = ["kubectl-ai", "--quiet", "--kubeconfig", target.kubeconfig, *provider]
    if mutating:
        argv.append("--skip-permissions")
    return [*argv, prompt], ""


def _argv(prompt: Prompt, text: str, target: ClusterTarget, config: RunbookConfig) -> tuple[list[str] | None, str]:
    if prompt.tool == "kubectl-ai":
        return _kubectl_ai_argv(target, text, prompt.mutating)
    if prompt.tool == "kagent":
        return ["kagent", "invoke", "--agent", config.kagent_agent, "--task", text,
                "--timeout", f"{config.aiops_timeout_s}s"], ""
    return ["docker", "ai", text], ""


def _installed(tool: str) -> bool:
    if tool == "docker-ai":
        if not shell.which("docker"):
            return False
        return shell.run(["docker", "ai", "version"], timeout=20, check=False).ok
    return shell.which(tool) is not None


def _kagent_in_cluster(target: ClusterTarget) -> bool:
    """kagent's agents run in the cluster (namespace kagent); the CLI alone cannot answer."""
    try:
        kube = Kube(api_client(target))
        try:
            kube.core.read_namespace("kagent")
            return True
        finally:
            kube.close()
    except Exception:  # 404, or no cluster to ask: either way there is no kagent to invoke
        return False


def run_prompt(prompt: Prompt, target: ClusterTarget, config: RunbookConfig, transcripts: Path) -> AiRun:
    text = prompt.text.format(namespace=config.namespace)
    argv, why_not = _argv(prompt, text, target, config)
    when = iso_now()
    if prompt.tool not in config.aiops_tools:
        return AiRun(prompt.tool, text, "", "skipped: not in aiops_tools", when)
    if prompt.mutating and not config.aiops_allow_mutating:
        return AiRun(prompt.tool, text, shell.command_line(argv or [prompt.tool, text]),
                     "skipped: changes the cluster (pass -p aiops_allow_mutating=true)", when)
    if not _installed(prompt.tool):
        return AiRun(prompt.tool, text, shell.command_line(argv or [prompt.tool, text]),
                     f"skipped: {prompt.tool} not installed", when)
    if argv is None:
        return AiRun(prompt.tool, text, "", why_not, when)
    if prompt.tool == "kagent" and not _kagent_in_cluster(target):
        return AiRun(prompt.tool, text, shell.command_line(argv),
                     "skipped: kagent is not installed in the cluster (run `kagent install`)", when)
    try:
        res = shell.run(argv, timeout=config.aiops_timeout_s, check=False,
                        env={"KUBECONFIG": target.kubeconfig})
    except RunbookError as exc:
        return AiRun(prompt.tool, text, shell.command_line(argv), f"failed: {exc.problem}", when)
    transcript = f"$ {res.command}\n{res.stdout}\n{res.stderr}".strip()
    slug = re.sub(r"[^a-z0-9]+", "-", f"{prompt.tool}-{text}".lower())[:60].strip("-")
    transcripts.mkdir(parents=True, exist_ok=True)
    path = transcripts / f"{slug}.txt"
    path.write_text(transcript + "\n")
    outcome = "ok" if res.ok else f"failed: exit {res.returncode}: {res.tail(2)[:200]}"
    return AiRun(prompt.tool, text, res.command, outcome, when, res.seconds, transcript[:4000], str(path))


def run_aiops(target: ClusterTarget, config: RunbookConfig, transcripts: Path) -> AiopsResult:
    result = AiopsResult()
    for prompt in PLAN_PROMPTS:
        run = run_prompt(prompt, target, config, transcripts)
        result.runs.append(run)
        if run.command:
            result.commands.append(shell.recorded(run.command, f"ask {prompt.tool}"))
    kube = Kube(api_client(target))
    try:
        pods, events = kube.pods(config.namespace), kube.events(config.namespace)
        try:
            metrics = kube.pod_metrics(config.namespace)
        except Exception:  # no metrics-server: the headroom rules just have nothing to say
            metrics = []
        result.diagnosis = diagnose(config.namespace, pods, events, metrics)
    except Exception as exc:
        # The AI tools may skip; the built-in diagnosis may not: without it the step failed.
        result.diagnosis_error = f"{type(exc).__name__}: {str(exc)[:300]}"
        result.error = {"type": type(exc).__name__, "kind": "diagnosis failed",
                        "problem": f"the built-in diagnosis could not read namespace {config.namespace}: "
                                   f"{result.diagnosis_error}",
                        "remedy": "check the cluster answers (todo-runbook preflight) and rerun 05-aiops"}
    finally:
        kube.close()
    result.commands.append(shell.recorded(shell.command_line(
        target.kubectl("-n", config.namespace, "get", "events", "--sort-by=.lastTimestamp")),
        "what the diagnosis reads: events (plus pods and metrics)"))
    return result


def write_cheatsheet(outputs_dir: Path, path: Path) -> Path:
    """docs/AIOps-cheatsheet.md from the AIOps evidence of every run on this machine."""
    import json

    rows = []
    for evidence in sorted(outputs_dir.glob("*/evidence/aiops.json")):
        data = json.loads(evidence.read_text())
        for run in (data.get("result") or {}).get("runs", []):
            rows.append((run.get("tool", ""), run.get("prompt", ""), run.get("command", ""),
                         run.get("outcome", ""), run.get("ran_at", ""), evidence.parents[1].name))
    lines = [
        "# AIOps cheatsheet",
        "",
        "Generated by `todo-runbook run` from the AIOps evidence of real runs "
        "(`outputs/<run-id>/evidence/aiops.json`); do not edit by hand.",
        "Each AI tool runs only where it and its credentials are installed; a skip says why.",
        "Prompts that change the cluster run only with `-p aiops_allow_mutating=true`.",
        "",
        "| tool | prompt | command | outcome | when | run |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for tool, prompt, command, outcome, when, run_id in rows[-60:]:
        cells = [tool, prompt, f"`{command}`" if command else "", outcome, when, run_id]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    if not rows:
        lines.append("| | no AIOps step has run yet | | | | |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
