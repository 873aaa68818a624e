"""kubectl-ai, only where the user has it on PATH (it cannot be obtained from the registries here).

Always with --model (its default is a Gemini model), --quiet, and a kubeconfig pinned to the chosen
context, so it never talks to another current context. --skip-permissions (which lets it run
mutating commands in --quiet mode) only with aiops_allow_mutating=true.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .kagent_runtime import ModelEndpoint

INSTALL_HINT = ("kubectl-ai not installed: put a kubectl-ai release binary on PATH "
                "(GoogleCloudPlatform/kubectl-ai releases, or `kubectl krew install ai`); "
                "its prompts were sent to kagent's agent runtime instead")
_PROVIDER = {"openai": "openai", "anthropic": "anthropic", "gemini": "gemini", "ollama": "ollama"}


@dataclass
class KubectlAiRun:
    command: str
    outcome: str
    output: str
    seconds: float


def installed() -> str | None:
    return shutil.which("kubectl-ai")


def pinned_kubeconfig(kubeconfig: str, context: str, folder: Path) -> Path:
    """A kubeconfig holding only the chosen context (private temp file; it carries credentials)."""
    res = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "config", "view", "--minify", "--flatten",
                          *(["--context", context] if context else [])], capture_output=True, text=True, timeout=30)
    path = folder / "kubeconfig"
    path.touch(mode=0o600)
    path.write_text(res.stdout)
    return path


def argv(model: ModelEndpoint, kubeconfig: Path, prompt: str, allow_mutating: bool) -> list[str]:
    line = ["kubectl-ai", "--llm-provider", _PROVIDER.get(model.provider, "openai"), "--model", model.model,
            "--quiet", "--kubeconfig", str(kubeconfig)]
    if allow_mutating:
        line.append("--skip-permissions")
    return [*line, prompt]


def run(model: ModelEndpoint, kubeconfig: str, context: str, prompt: str, allow_mutating: bool,
        timeout_s: float) -> KubectlAiRun:
    with tempfile.TemporaryDirectory(prefix="todo-kubectl-ai-") as tmp:
        pinned = pinned_kubeconfig(kubeconfig, context, Path(tmp))
        line = argv(model, pinned, prompt, allow_mutating)
        env = dict(os.environ)
        if model.base_url:
            env["OPENAI_ENDPOINT"] = model.base_url
        if model.provider == "openai" and not env.get("OPENAI_API_KEY"):
            env["OPENAI_API_KEY"] = "no-key-needed"
        shown = shlex.join([*line[:line.index("--kubeconfig") + 1], f"<{context or 'current'} only>",
                            *line[line.index("--kubeconfig") + 2:]])
        started = time.monotonic()
        try:
            res = subprocess.run(line, capture_output=True, text=True, timeout=timeout_s, env=env)
        except subprocess.TimeoutExpired:
            return KubectlAiRun(shown, f"failed: no answer within {timeout_s:g} s (raise aiops_timeout_s)", "",
                                round(time.monotonic() - started, 1))
    output = (res.stdout + res.stderr).strip()
    lowered = output.lower()
    if "permission" in lowered and ("denied" in lowered or "skip-permissions" in lowered):
        outcome = "refused: kubectl-ai would not run a mutating command (pass -p aiops_allow_mutating=true)"
    else:
        outcome = "ok" if res.returncode == 0 and output else f"failed: exit {res.returncode}"
    return KubectlAiRun(shown, outcome, output[:4000], round(time.monotonic() - started, 1))
