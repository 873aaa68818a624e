"""Fixture plugin: the offline Kubernetes test bed (testcluster), brought up once per test session.

``testbed`` builds the tools when they are missing (cached by version; skips with the reason when no
Go toolchain exists and nothing is built), runs ``testcluster up`` and yields a :class:`Testbed`.
It stops the test bed at the end of the session unless it was already running before (a developer's
``make cluster-up``). Set ``TODO_TESTBED_NODE=0`` to run without the real node.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import pytest

from testcluster import build as tc_build
from testcluster import catalog as tc_catalog
from testcluster import components as tc_components
from testcluster import controlplane
from testcluster.context import ClusterContext, ClusterInfo
from testcluster.paths import CONTEXT_NAME, Paths

CONTROL_PLANE_TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")


@dataclass
class Testbed:
    """A running test bed: where its kubeconfig is and how to talk to it."""

    paths: Paths
    info: ClusterInfo
    ctx: ClusterContext
    started_here: bool
    node_error: str | None

    @property
    def kubeconfig(self) -> str:
        return self.info.kubeconfig

    @property
    def context(self) -> str:
        return CONTEXT_NAME

    @property
    def server(self) -> str:
        return self.info.server

    @property
    def bin_dir(self) -> str:
        return str(self.paths.bin_dir)

    @property
    def has_node(self) -> bool:
        """True when the real node joined (not only simulated nodes)."""
        return self.ctx.node_enabled and self.node_error is None

    def api_client(self) -> Any:
        from kubernetes import config

        return config.new_client_from_config(config_file=self.kubeconfig, context=CONTEXT_NAME)

    def env(self) -> dict[str, str]:
        """Environment for kubectl/helm: our kubeconfig and tools first on PATH."""
        env = dict(os.environ, KUBECONFIG=self.kubeconfig)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        return env

    def run(self, tool: str, args: Sequence[str], *, input: str | None = None, check: bool = True,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run a built tool (kubectl, helm) against the test bed; on failure the error shows its output."""
        cmd = [str(self.paths.binary(tool)), *args]
        if tool in ("kubectl", "helm"):
            cmd += ["--kube-context", CONTEXT_NAME] if tool == "helm" else ["--context", CONTEXT_NAME]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, env=self.env(), timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc


def _ensure_tools(paths: Paths, out: TextIO) -> str | None:
    """Build what the test bed needs. Returns why the node cannot be used (None when it can)."""
    try:
        tc_build.find_go()
    except tc_build.BuildError as error:
        missing = [t for t in CONTROL_PLANE_TOOLS if not (paths.bin_dir / t).exists()]
        if missing:
            pytest.skip(f"test bed unavailable: {', '.join(missing)} not built and {error}")
        return f"no Go toolchain to build the node's tools: {error}"
    required = [*tc_components.COMPONENTS, *tc_components.SCRIPT_COMPONENTS]
    tc_build.build(required, paths=paths, out=out)
    node_parts = [c for c in tc_catalog.all_components() if c not in required]
    if not node_parts:
        return None
    try:
        tc_build.build(node_parts, paths=paths, out=out)
    except tc_build.BuildError as error:
        return f"building the node's tools failed: {error}"
    return None


@pytest.fixture(scope="session")
def testbed() -> Iterator[Testbed]:
    paths = Paths.default()
    out = sys.stderr  # progress of a cold build takes minutes; show it with -s, keep it in the report otherwise
    already = ClusterContext.load(paths, out=out)
    started_here = not (already.facts() and controlplane.control_plane_running(already))
    node_build_error = _ensure_tools(paths, out)
    want_node = os.environ.get("TODO_TESTBED_NODE", "1") != "0" and node_build_error is None
    info = controlplane.up(paths=paths, node=want_node, node_errors="record", out=out)
    ctx = ClusterContext.load(paths, out=out)
    node_error = info.node_error or node_build_error
    if not want_node and node_error is None:
        node_error = "disabled with TODO_TESTBED_NODE=0"
    yield Testbed(paths=paths, info=info, ctx=ctx, started_here=started_here, node_error=node_error)
    if started_here:
        controlplane.down(paths=paths, out=out)
