"""Where the test bed keeps things: one cache root outside the repo, keyed by version.

Layout (``$TODO_RUNBOOK_CACHE``, default ``~/.cache/todo-runbook``)::

    bin/                         symlinks to the tools we build (kubectl, kube-*, etcd, kwok, helm, ...)
    build/<name>-<version>/      one folder per built component: src/ (wrapper module), bin/, .built
    testcluster/kubeconfig       admin kubeconfig, context ``todo-testbed``
    testcluster/pki/             CA, serving and client certificates (kept across runs)
    testcluster/run/             state of the running test bed (pidfiles, cluster.json); removed by ``down``
    testcluster/data/            etcd data and other runtime data; removed by ``down``
    testcluster/logs/            one log per process of the last ``up`` (kept for post-mortems)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from testcluster.errors import TestbedError

CONTEXT_NAME = "todo-testbed"
CACHE_ENV = "TODO_RUNBOOK_CACHE"
# The checkout this package runs from; the runbook, the image builds and the test bed all read it here.
REPO_ROOT = Path(__file__).resolve().parents[1]


def default_cache_root() -> Path:
    return Path.home() / ".cache" / "todo-runbook"


def cache_root() -> Path:
    """The root of every heavy cache of the project (env ``TODO_RUNBOOK_CACHE``)."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured).expanduser() if configured else default_cache_root()


class MissingBinaryError(TestbedError):
    """A tool the test bed needs has not been built yet."""


@dataclass(frozen=True)
class Paths:
    """Every path of the test bed, derived from one cache root."""

    cache: Path
    # Another state folder for a second, private test bed (same tools, own certs/state/ports).
    state: Path | None = None

    @classmethod
    def default(cls) -> Paths:
        return cls(cache_root())

    @property
    def bin_dir(self) -> Path:
        return self.cache / "bin"

    @property
    def build_dir(self) -> Path:
        return self.cache / "build"

    @property
    def cluster_dir(self) -> Path:
        return self.state if self.state is not None else self.cache / "testcluster"

    @property
    def kubeconfig(self) -> Path:
        return self.cluster_dir / "kubeconfig"

    @property
    def pki_dir(self) -> Path:
        return self.cluster_dir / "pki"

    @property
    def run_dir(self) -> Path:
        return self.cluster_dir / "run"

    @property
    def data_dir(self) -> Path:
        return self.cluster_dir / "data"

    @property
    def log_dir(self) -> Path:
        return self.cluster_dir / "logs"

    @property
    def cluster_json(self) -> Path:
        return self.run_dir / "cluster.json"

    def component_dir(self, name: str, version: str) -> Path:
        return self.build_dir / f"{name}-{version}"

    def binary(self, name: str) -> Path:
        """The built tool ``name``; raises with the command that builds it when it is missing."""
        path = self.bin_dir / name
        if not path.exists():
            raise MissingBinaryError(
                f"{name} is not built yet ({path} is missing). Build the test bed tools with "
                f"`python -m testcluster build` (or `make tools`)."
            )
        return path

    def pidfile(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def logfile(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"
