"""kubectl-ai, only where the user has it on PATH (it cannot be obtained from the registries here).

Always with --model (its default is a Gemini model), --quiet, and a kubeconfig pinned to the chosen
context, so it never talks to another current context. --skip-permissions (which lets it run
mutating commands in --quiet mode) only with aiops_allow_mutating=true; without it kubectl-ai stops
at a mutating command, and that is recorded as a refusal, not a failure.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import RunbookError
from .kagent_runtime import ModelEndpoint

INSTALL_HINT = ("kubectl-ai not installed: put a kubectl-ai release binary on PATH "
                "(GoogleCloudPlatform/kubectl-ai releases, or `kubectl krew install ai`); "
                "its prompts were sent to kagent's agent runtime instead")
REFUSED = "refused: kubectl-ai would not run a mutating command (pass -p aiops_allow_mutating=true)"
_PROVIDER = {"openai": "openai", "anthropic": "anthropic", "gemini": "gemini", "ollama": "ollama"}
# kubectl --flatten inlines these file references; a pinned kubeconfig must not depend on other files.
_INLINED = {"clusters": ("cluster", ("certificate-authority",)),
            "users": ("user", ("client-certificate", "client-key"))}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class KubectlAiRun:
    command: str
    outcome: str
    output: str
    seconds: float
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # kubectl commands its output names


def installed() -> str | None:
    return shutil.which("kubectl-ai")


def _load_merged(kubeconfig: str) -> tuple[dict[str, Any], dict[str, Path]]:
    """The kubeconfig (a KUBECONFIG-style list: the first file naming an entry wins, like kubectl), and the
    folder each cluster/user entry came from (relative certificate paths are relative to their file)."""
    merged: dict[str, Any] = {"current-context": "", "contexts": [], "clusters": [], "users": []}
    origin: dict[str, Path] = {}
    for part in (p for p in kubeconfig.split(os.pathsep) if p):
        path = Path(part).expanduser()
        try:
            data = yaml.safe_load(path.read_text()) or {}
            problem = "" if isinstance(data, dict) else "it is not a kubeconfig (no YAML map)"
        except (OSError, yaml.YAMLError) as exc:
            problem = f"{type(exc).__name__}: {str(exc)[:200]}"
        if problem:
            raise RunbookError(f"cannot read the kubeconfig {path}: {problem}",
                               "check -p kubeconfig (or $KUBECONFIG) names a readable kubeconfig file")
        if not merged["current-context"]:
            merged["current-context"] = data.get("current-context") or ""
        for section in ("contexts", "clusters", "users"):
            known = {e.get("name") for e in merged[section]}
            for entry in data.get(section) or []:
                if isinstance(entry, dict) and entry.get("name") not in known:
                    merged[section].append(entry)
                    origin[f"{section}/{entry.get('name')}"] = path.parent
    return merged, origin


def _inline_files(entry: dict[str, Any], keys: tuple[str, ...], folder: Path) -> dict[str, Any]:
    body = dict(entry)
    for key in keys:
        if body.get(key) and not body.get(f"{key}-data"):
            file = Path(body.pop(key)).expanduser()
            file = file if file.is_absolute() else folder / file
            try:
                body[f"{key}-data"] = base64.b64encode(file.read_bytes()).decode()
            except OSError as exc:
                raise RunbookError(f"the kubeconfig names {key} {file}, which cannot be read ({exc.strerror})",
                                   "fix the path in the kubeconfig, or embed the data with "
                                   "`kubectl config view --flatten`") from None
    return body


def pinned_kubeconfig(kubeconfig: str, context: str, folder: Path) -> Path:
    """A kubeconfig holding only the chosen context, as its current context, with certificate files inlined
    (like `kubectl config view --minify --flatten --context C`). A tool given it (its KUBECONFIG, or
    --kubeconfig) cannot reach another cluster. Written as a private file: it carries credentials."""
    config, origin = _load_merged(kubeconfig)
    name = context or config.get("current-context") or ""
    contexts = {c.get("name"): c for c in config["contexts"]}
    if name not in contexts:
        raise RunbookError(f"context '{name}' is not in the kubeconfig {kubeconfig} (it has: "
                           f"{', '.join(sorted(str(n) for n in contexts)) or 'none'})",
                           "choose one of those with -p kube_context=NAME, or fix -p kubeconfig")
    ctx = contexts[name].get("context") or {}
    pinned: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "current-context": name, "preferences": {},
                              "contexts": [contexts[name]], "clusters": [], "users": []}
    for section, wanted in (("clusters", ctx.get("cluster")), ("users", ctx.get("user"))):
        entry = next((e for e in config[section] if e.get("name") == wanted), None)
        if entry is None:
            if section == "users" and not wanted:
                continue  # a context without a user (e.g. an anonymous test bed) is valid
            raise RunbookError(f"context '{name}' names {section[:-1]} '{wanted}', which the kubeconfig "
                               f"{kubeconfig} does not define", "fix the kubeconfig or choose another context")
        inner, keys = _INLINED[section]
        body = _inline_files(entry.get(inner) or {}, keys, origin[f"{section}/{wanted}"])
        pinned[section].append({"name": wanted, inner: body})
    path = folder / "kubeconfig"
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        yaml.safe_dump(pinned, out, sort_keys=False)
    return path


def argv(model: ModelEndpoint, kubeconfig: Path, prompt: str, allow_mutating: bool) -> list[str]:
    line = ["kubectl-ai", "--llm-provider", _PROVIDER.get(model.provider, "openai"), "--model", model.model,
            "--quiet", "--kubeconfig", str(kubeconfig)]
    if allow_mutating:
        line.append("--skip-permissions")
    return [*line, prompt]


def environment(model: ModelEndpoint, pinned: Path) -> dict[str, str]:
    """What kubectl-ai needs on top of the user's environment (keys stay where the user put them)."""
    env = {"KUBECONFIG": str(pinned)}  # the kubectl it runs sees only the chosen context too
    if model.base_url:
        env["OPENAI_ENDPOINT"] = model.base_url  # kubectl-ai's OpenAI(-compatible) client reads it
        if model.provider == "ollama":
            env["OLLAMA_HOST"] = model.base_url  # its Ollama client reads this one instead
    if model.provider == "openai" and not os.environ.get("OPENAI_API_KEY"):
        env["OPENAI_API_KEY"] = "no-key-needed"  # its OpenAI client refuses to start without one
    return env


def refused(output: str) -> bool:
    """kubectl-ai in --quiet mode stops at a command needing approval with a message naming --skip-permissions.
    "permission denied" alone is not it: pod logs it was asked to show may say so."""
    lowered = output.lower()
    return "cannot handle permission requests" in lowered or "--skip-permissions" in lowered


def kubectl_calls(output: str) -> list[dict[str, Any]]:
    """The kubectl commands kubectl-ai says it ran: it prints "Running: kubectl ..." before each result.
    Commands it only lists (a refusal names the ones needing approval) are not calls."""
    calls: list[dict[str, Any]] = []
    for line in _ANSI.sub("", output).splitlines():
        found = re.search(r"Running:\s*(kubectl\s+\S.*)$", line.strip())
        if found and found.group(1) not in (c["command"] for c in calls):
            calls.append({"command": found.group(1), "exit_code": None, "refused": "", "seconds": None,
                          "output": ""})
    return calls


def run(model: ModelEndpoint, kubeconfig: str, context: str, prompt: str, allow_mutating: bool,
        timeout_s: float) -> KubectlAiRun:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="todo-kubectl-ai-") as tmp:
        line = argv(model, Path(f"<{context or 'current'} only>"), prompt, allow_mutating)
        shown = shlex.join(line)
        try:
            pinned = pinned_kubeconfig(kubeconfig, context, Path(tmp))
        except RunbookError as exc:
            return KubectlAiRun(shown, f"failed: {exc.problem} — {exc.remedy}", "", 0.0)
        line = argv(model, pinned, prompt, allow_mutating)
        try:
            res = subprocess.run(line, capture_output=True, text=True, timeout=timeout_s,
                                 env={**os.environ, **environment(model, pinned)})
        except subprocess.TimeoutExpired:
            return KubectlAiRun(shown, f"failed: no answer within {timeout_s:g} s (raise aiops_timeout_s)", "",
                                round(time.monotonic() - started, 1))
    output = (res.stdout + res.stderr).strip()
    if refused(output):
        outcome = REFUSED
    else:
        outcome = "ok" if res.returncode == 0 and output else f"failed: exit {res.returncode}"
    return KubectlAiRun(shown, outcome, output[:4000], round(time.monotonic() - started, 1), kubectl_calls(output))
