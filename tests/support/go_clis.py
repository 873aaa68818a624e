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


def minikube_binary() -> Path:
    return tool_dir("minikube", MINIKUBE_VERSION) / "minikube"


def build_minikube() -> Path:
    """minikube has no installable main at the module path it is published under: a two-file wrapper module
    requires it and builds its `cmd/minikube` package with `-tags libvirt_dlopen` (about 12 min cold on 2 idle
    cores); cached by version."""
    binary = minikube_binary()
    out = binary.parent
    with build_lock(out):
        if binary.exists():
            return binary
        go = shutil.which("go")
        if not go:
            raise NoGoError("no Go toolchain to build the real minikube CLI; install Go 1.24+ and put it on PATH")
        wrapper = out / "wrapper"
        wrapper.mkdir(parents=True, exist_ok=True)
        (wrapper / "go.mod").write_text("module todo-runbook.local/minikube-wrapper\n\ngo 1.24\n")
        # A build-tagged file keeps the requirement in go.mod; the binary is built from minikube's own package.
        (wrapper / "tools.go").write_text(
            '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/minikube/cmd/minikube"\n')
        env = {**os.environ, "GOFLAGS": "-mod=mod"}
        subprocess.run([go, "get", f"k8s.io/minikube@{MINIKUBE_VERSION}"], cwd=wrapper, env=env, check=True,
                       capture_output=True, timeout=3600)
        subprocess.run([go, "build", "-tags", "libvirt_dlopen", *GO_FLAGS, "-o", str(binary),
                        "k8s.io/minikube/cmd/minikube"], cwd=wrapper, env=env, check=True, capture_output=True,
                       timeout=3600)
    return binary
