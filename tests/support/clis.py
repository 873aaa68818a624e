"""Fixture plugin: the real kind, minikube and syft CLIs, built pinned from the Go module proxy into the test cache.

Not onto the user's PATH: tests run the binaries by path, to check that every command line the providers
emit gets past the real flag parsers, and to record real outputs for the parsing code's unit tests.
kind installs as it is (`go install`, about 1.5 min cold). minikube has no installable main at the module
root path it is published under, so a two-file wrapper module requires it and builds its `cmd/minikube`
package with `-tags libvirt_dlopen` (about 12 min cold: `make test` builds it in the background after the test
bed and runs its tests last; a plain pytest run builds it only with TODO_RUNBOOK_BUILD_MINIKUBE=1, see
`_build_minikube`); both are cached by version. syft (`syft_cli`, about 8 min cold) is built by
`todo_runbook.syft_tool.install_syft` into the very folder the runbook looks in, so later runs and tests reuse it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.go_clis import (
    KIND_VERSION,
    MINIKUBE_VERSION,
    NoGoError,
    build_kind,
    build_minikube,
    minikube_binary,
)
from tests.support.prebuild import PID_VARIABLE
from todo_runbook import syft_tool


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
    binary = minikube_binary()
    if binary.exists():
        return binary
    if os.environ.get(PID_VARIABLE):
        # `make test` builds it in the background (tests/support/prebuild.py) and runs this fixture's tests
        # after that build has finished: a missing binary is that build's failure, not a reason to skip.
        pytest.fail(f"minikube {MINIKUBE_VERSION} is not in {binary.parent}: the background tools build failed "
                    "to build it (see its log, $TODO_RUNBOOK_CACHE/build/prebuild.log)")
    if os.environ.get("TODO_RUNBOOK_BUILD_MINIKUBE") != "1":
        # A plain pytest run does not start a cold build of 12 min (48 on a loaded machine) inside a test.
        pytest.skip(f"minikube {MINIKUBE_VERSION} is not built in {binary.parent}: `make test` builds it, or set "
                    "TODO_RUNBOOK_BUILD_MINIKUBE=1 to build it here (about 12 min cold)")
    _go()
    return build_minikube()


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
    return RealCli("syft", syft_tool.SYFT_VERSION, syft_tool.install_syft())
