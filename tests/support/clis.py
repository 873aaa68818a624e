"""Fixture plugin: the real kind, minikube and syft CLIs, built pinned from the Go module proxy into the test cache.

Not onto the user's PATH: tests run the binaries by path, to check that every command line the providers
emit gets past the real flag parsers, and to record real outputs for the parsing code's unit tests.
kind installs as it is (`go install`, about 1.5 min cold). minikube has no installable main at the module
root path it is published under, so a two-file wrapper module requires it and builds its `cmd/minikube`
package with `-tags libvirt_dlopen` (about 12 min cold; only when TODO_RUNBOOK_BUILD_MINIKUBE=1 or already
cached, see `_build_minikube`); both are cached by version. syft (`syft_cli`, about 8 min cold) is built by
`todo_runbook.sbom.install_syft` into the very folder the runbook looks in, so later runs and tests reuse it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.go_clis import GO_FLAGS, KIND_VERSION, MINIKUBE_VERSION, NoGoError, build_kind, tool_dir
from todo_runbook import sbom


@dataclass(frozen=True)
class RealCli:
    name: str
    version: str
    path: Path

    def env(self, home: Path) -> dict[str, str]:
        """A private HOME (and MINIKUBE_HOME): the check never touches the user's clusters or config."""
        return {**os.environ, "HOME": str(home), "MINIKUBE_HOME": str(home / ".minikube"),
                "KUBECONFIG": str(home / "kubeconfig"), "MINIKUBE_IN_STYLE": "false",
                "MINIKUBE_WANTUPDATENOTIFICATION": "false", "MINIKUBE_WANTNONEDRIVERWARNING": "false"}

    def run(self, argv: list[str], home: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        assert argv[0] == self.name, argv
        return subprocess.run([str(self.path), *argv[1:]], capture_output=True, text=True, timeout=timeout,
                              env=self.env(home), stdin=subprocess.DEVNULL)


def _go() -> str:
    go = shutil.which("go")
    if not go:
        pytest.skip("no Go toolchain to build the real kind/minikube CLIs")
    return go


def _build_minikube() -> Path:
    out = tool_dir("minikube", MINIKUBE_VERSION)
    binary = out / "minikube"
    if binary.exists():
        return binary
    if os.environ.get("TODO_RUNBOOK_BUILD_MINIKUBE") != "1":
        # Its cold build (about 12 min on 2 idle cores, 48 min on a loaded one) would push a cold CI past its
        # budget; once built, the cached binary is used by every run.
        pytest.skip(f"minikube {MINIKUBE_VERSION} is not built in {out}: set TODO_RUNBOOK_BUILD_MINIKUBE=1 "
                    "to build it (about 12 min cold) and run its flag-parser tests")
    wrapper = out / "wrapper"
    wrapper.mkdir(parents=True, exist_ok=True)
    (wrapper / "go.mod").write_text("module todo-runbook.local/minikube-wrapper\n\ngo 1.24\n")
    # A build-tagged file keeps the requirement in go.mod; the binary is built from minikube's own package.
    (wrapper / "tools.go").write_text('//go:build tools\n\npackage tools\n\nimport _ "k8s.io/minikube/cmd/minikube"\n')
    env = {**os.environ, "GOFLAGS": "-mod=mod"}
    subprocess.run([_go(), "get", f"k8s.io/minikube@{MINIKUBE_VERSION}"], cwd=wrapper, env=env, check=True,
                   capture_output=True, timeout=3600)
    subprocess.run([_go(), "build", "-tags", "libvirt_dlopen", *GO_FLAGS, "-o", str(binary),
                    "k8s.io/minikube/cmd/minikube"], cwd=wrapper, env=env, check=True, capture_output=True,
                   timeout=3600)
    return binary


@pytest.fixture(scope="session")
def kind_cli() -> RealCli:
    try:
        return RealCli("kind", KIND_VERSION, build_kind())
    except NoGoError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def minikube_cli() -> RealCli:
    return RealCli("minikube", MINIKUBE_VERSION, _build_minikube())


@pytest.fixture(scope="session")
def syft_cli() -> RealCli:
    """The pinned syft the build step uses for SBOMs, built once into $TODO_RUNBOOK_CACHE/clis/syft-<version>/."""
    _go()
    return RealCli("syft", sbom.SYFT_VERSION, sbom.install_syft())
