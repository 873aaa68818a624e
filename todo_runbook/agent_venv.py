"""kagent's agent runtime (kagent-adk) in its own virtualenv, cached by version under the cache root.

Its dependency tree (google-adk, a2a-sdk, opentelemetry, ...) must never collide with the runbook's or
the app's, so it lives in $TODO_RUNBOOK_CACHE/venvs/kagent-adk-<version>-<pin hash>. It is built once,
on demand, with uv from the package index (pip as the fallback), into a temporary folder that is renamed into place only
when complete: an interrupted build never leaves a half venv that looks usable.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .config import cache_root
from .errors import ToolMissingError

KAGENT_ADK_VERSION = "0.10.4"
# Seen working together; newer a2a-sdk (1.x) breaks kagent-adk's import.
KAGENT_PINS = (
    f"kagent-adk=={KAGENT_ADK_VERSION}",
    "opentelemetry-instrumentation-fastapi==0.59b0",
    "opentelemetry-instrumentation-httpx==0.59b0",
    "a2a-sdk[http-server]>=0.3.26,<1",
)
REPORTED = ("kagent-adk", "google-adk", "a2a-sdk", "mcp", "openai", "litellm")
BUILD_TIMEOUT_S = 1800


@dataclass
class AgentVenv:
    path: Path
    python: Path
    reused: bool
    build_seconds: float | None  # measured when this call built it; else the recorded cold build time
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def cli(self) -> Path:
        return self.path / "bin" / "kagent-adk"


def venv_dir(root: Path | None = None) -> Path:
    digest = hashlib.sha256("\n".join(KAGENT_PINS).encode()).hexdigest()[:10]
    return (root or cache_root()) / "venvs" / f"kagent-adk-{KAGENT_ADK_VERSION}-{digest}"


def _installed_versions(python: Path) -> dict[str, str]:
    code = ("import importlib.metadata as m, json, sys\n"
            "out = {}\n"
            f"for n in {list(REPORTED)!r}:\n"
            "    try: out[n] = m.version(n)\n"
            "    except m.PackageNotFoundError: pass\n"
            "print(json.dumps(out))")
    res = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60)
    return json.loads(res.stdout) if res.returncode == 0 else {}


def ensure_agent_venv(root: Path | None = None, log: Path | None = None) -> AgentVenv:
    """The cached venv, built first if absent. Concurrent callers wait on one build (file lock)."""
    target = venv_dir(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    stamp = target / "todo-runbook-venv.json"
    with (target.parent / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists():
            info = json.loads(stamp.read_text())
            return AgentVenv(target, target / "bin" / "python", True, info.get("build_seconds"),
                             info.get("versions", {}))
        building = target.with_name(target.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        log_path = log or target.parent / f"{target.name}.build.log"
        started = time.monotonic()
        with log_path.open("w") as out:
            try:
                subprocess.run([sys.executable, "-m", "venv", str(building)], check=True, stdout=out,
                               stderr=subprocess.STDOUT, timeout=300)
                installer = _install(building, root or cache_root(), out)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
                shutil.rmtree(building, ignore_errors=True)
                tail = log_path.read_text()[-600:] if log_path.exists() else ""
                raise ToolMissingError(
                    f"could not build kagent's agent runtime venv ({' '.join(KAGENT_PINS)}): "
                    f"{type(exc).__name__}: {tail.strip()[-400:]}",
                    f"check the package index is reachable (pip install kagent-adk=={KAGENT_ADK_VERSION}); "
                    f"full log: {log_path}") from None
        seconds = round(time.monotonic() - started, 1)
        shutil.rmtree(target, ignore_errors=True)
        building.rename(target)
        _fix_shebangs(building, target)
        versions = _installed_versions(target / "bin" / "python")
        stamp.write_text(json.dumps({"pins": list(KAGENT_PINS), "build_seconds": seconds, "installer": installer,
                                     "versions": versions}, indent=2) + "\n")
        return AgentVenv(target, target / "bin" / "python", False, seconds, versions)


def _install(venv: Path, root: Path, out: TextIO) -> str:
    """uv (installed into the venv with pip) resolves and downloads kagent-adk's tree in parallel: a cold
    build took 51 s with uv against 1246 s with pip alone on this project's 2-core machine (both while
    other builds ran). pip stays the fallback."""
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    try:
        subprocess.run([*pip, "uv"], check=True, stdout=out, stderr=subprocess.STDOUT, timeout=600)
        subprocess.run([str(venv / "bin" / "uv"), "pip", "install", "-q", "--python", python, *KAGENT_PINS],
                       check=True, stdout=out, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S,
                       env={**os.environ, "UV_CACHE_DIR": str(root / "uv")})
        return "uv"
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        out.write("uv did not work; installing with pip instead\n")
        out.flush()
    subprocess.run([*pip, *KAGENT_PINS], check=True, stdout=out, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S)
    return "pip"


def _fix_shebangs(old: Path, new: Path) -> None:
    """Console scripts name the interpreter by absolute path; point them at the renamed venv."""
    old_bytes, new_bytes = str(old).encode(), str(new).encode()
    for script in (new / "bin").iterdir():
        if script.is_file() and not script.is_symlink():
            data = script.read_bytes()
            if data.startswith(b"#!") and old_bytes in data[:400]:
                script.write_bytes(data.replace(old_bytes, new_bytes, 1))
    cfg = new / "pyvenv.cfg"
    if cfg.exists():
        cfg.write_text(cfg.read_text().replace(str(old), str(new)))
