"""Where the test suite's Go-built CLIs live and how kind is built; no pytest here, so the background prebuild
(tests/support/prebuild.py, run before the virtualenv exists) can use it too."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from todo_runbook.config import cache_root

KIND_VERSION = "v0.33.0"
MINIKUBE_VERSION = "v1.38.1"
GO_FLAGS = ["-trimpath", "-ldflags=-s -w"]


class NoGoError(RuntimeError):
    """No Go toolchain on PATH to build a CLI from the Go module proxy."""


def tool_dir(name: str, version: str) -> Path:
    return cache_root() / "clis" / f"{name}-{version}"


@contextlib.contextmanager
def build_lock(out: Path) -> Iterator[None]:
    """One build per tool at a time: `make test` prebuilds it while the tests may already ask for it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.with_name(f".{out.name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def build_kind() -> Path:
    """kind installs as it is (`go install`, about 1.5 min cold); cached by version."""
    out = tool_dir("kind", KIND_VERSION)
    binary = out / "kind"
    with build_lock(out):
        if not binary.exists():
            go = shutil.which("go")
            if not go:
                raise NoGoError("no Go toolchain to build the real kind CLI; install Go 1.24+ and put it on PATH")
            out.mkdir(parents=True, exist_ok=True)
            subprocess.run([go, "install", *GO_FLAGS, f"sigs.k8s.io/kind@{KIND_VERSION}"], check=True,
                           env={**os.environ, "GOBIN": str(out)}, capture_output=True, timeout=3600)
    return binary
