"""Preflight: which tools are here, their versions, and which the chosen path needs.

Runs before any step so that a missing helm or a dead engine fails in seconds with an install
hint, not twenty minutes into a build.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from . import providers, shell
from .errors import INSTALL_HINTS, RunbookError, ToolMissingError
from .steps import BY_NAME

# The cluster tools, then each provider's CLIs (the provider says how to read their versions), then the AI tools.
VERSION_COMMANDS = {
    "helm": ["helm", "version", "--short"],
    "kubectl": ["kubectl", "version", "--client", "-o", "json"],
    **{tool: argv for p in providers.REGISTRY.values() for tool, argv in p.tool_versions.items()},
    "kubectl-ai": ["kubectl-ai", "version"],
    "kagent": ["kagent", "version"],
    "docker-ai": ["docker", "ai", "version"],
}
PROVIDER_TOOLS = {name: list(p.tools) for name, p in providers.REGISTRY.items()}
# How to get each tool: the runbook's own hints, and each provider's for its CLIs.
TOOL_HINTS = {**INSTALL_HINTS, **{tool: p.install_hint for p in providers.REGISTRY.values() for tool in p.tools}}


@dataclass
class ToolStatus:
    name: str
    present: bool
    version: str = ""
    path: str = ""
    required: bool = False
    hint: str = ""
    detail: str = ""


@dataclass
class PreflightResult:
    tools: list[ToolStatus] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    provider: str = ""

    @property
    def missing_required(self) -> list[ToolStatus]:
        return [t for t in self.tools if t.required and not t.present]

    def tool(self, name: str) -> ToolStatus:
        return next(t for t in self.tools if t.name == name)

    def raise_if_missing(self) -> None:
        missing = self.missing_required
        if missing:
            names = ", ".join(t.name for t in missing)
            hints = "; ".join(f"{t.name}: {t.hint}" for t in missing)
            raise ToolMissingError(f"required tool(s) missing for steps {','.join(self.steps)}: {names}", hints)


def docker_engine_version() -> tuple[bool, str, str]:
    """(answers, server version, detail) from the Docker SDK."""
    try:
        import docker

        client = docker.from_env(timeout=10)
        version = client.version()
        client.close()
        return True, str(version.get("Version", "?")), f"API {version.get('ApiVersion', '?')}"
    except Exception as exc:  # the SDK raises several unrelated types when no engine answers
        return False, "", f"no engine answers: {exc.__class__.__name__}: {str(exc)[:200]}"


def _first_version(text: str) -> str:
    match = re.search(r"v?\d+\.\d+(\.\d+)?[\w.+-]*", text)
    return match.group(0) if match else text.strip().splitlines()[0][:60] if text.strip() else ""


def probe_tool(name: str) -> ToolStatus:
    status = ToolStatus(name=name, present=False, hint=TOOL_HINTS.get(name, ""))
    if name == "docker":
        status.present, status.version, status.detail = docker_engine_version()
        status.path = shell.which("docker") or ""
        return status
    argv = VERSION_COMMANDS[name]
    status.path = shell.which(argv[0]) or ""
    if not status.path:
        status.detail = f"{argv[0]} not on PATH"
        return status
    try:
        result = shell.run(argv, timeout=20, check=False, mask_output=False)
    except RunbookError as exc:
        status.detail = exc.problem
        return status
    if result.ok:
        status.present = True
        if name == "kubectl":
            try:
                status.version = json.loads(result.stdout)["clientVersion"]["gitVersion"]
            except (ValueError, KeyError):
                status.version = _first_version(result.stdout)
        else:
            status.version = _first_version(result.stdout or result.stderr)
    else:
        # `docker ai` without the plugin: "docker: 'ai' is not a docker command."
        status.detail = result.tail(3).splitlines()[0] if result.tail(3) else f"exit {result.returncode}"
    return status


def required_tools(steps: list[str], provider: str) -> set[str]:
    """The tools the steps need (the registry says which), plus the provider's CLI for steps that use it."""
    needed: set[str] = set()
    for name in steps:
        step = BY_NAME.get(name)
        if step is None:
            continue
        needed.update(step.tools)
        if step.uses_provider_cli:
            needed.update(PROVIDER_TOOLS.get(provider, []))
    return needed


def preflight(steps: list[str], provider: str) -> PreflightResult:
    """Probe every tool the runbook knows about; mark those the chosen steps/provider need."""
    needed = required_tools(steps, provider)
    result = PreflightResult(steps=list(steps), provider=provider)
    for name in ["docker", *VERSION_COMMANDS]:
        status = probe_tool(name)
        status.required = name in needed
        result.tools.append(status)
    return result
