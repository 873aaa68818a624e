"""Build every tool the test suite compiles from Go modules (and kagent's venv), in the order the tests need them.

`make test` starts this at low priority (`nice -n 19`) next to pytest: while the tests that need no
cluster run, their idle CPU time compiles the test bed (about 30 min on 2 cores from a cold cache).
:mod:`tests.support.ordering` runs those tests first and makes the first test-bed test wait for this
process. Every builder here keeps its own lock and cache, so a fixture that needs a tool first waits for
this build of it instead of compiling it twice; a second run finds everything cached in seconds.

Standard library only (it starts before the virtualenv exists). Run by hand: ``python3 -m
tests.support.prebuild`` (exit 1 when anything failed; the rest is still built).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from testcluster import build as tc_build
from testcluster import catalog as tc_catalog
from testcluster import components as tc_components
from testcluster import node_components as tc_node
from testcluster.paths import Paths
from tests.support import go_clis
from todo_runbook import agent_venv, syft_tool

PID_VARIABLE = "TODO_RUNBOOK_PREBUILD_PID"


def _helm() -> None:
    tc_build.build(tc_components.SCRIPT_COMPONENTS, paths=Paths.default())


def _syft() -> None:
    print(f"syft {syft_tool.SYFT_VERSION}: {syft_tool.install_syft()}", flush=True)


def _kind() -> None:
    print(f"kind {go_clis.KIND_VERSION}: {go_clis.build_kind()}", flush=True)


def _kagent_venv() -> None:
    print(f"kagent venv: {agent_venv.ensure_agent_venv().path}", flush=True)


def _registry() -> None:
    tc_build.build([tc_node.REGISTRY], paths=Paths.default())


def _test_bed() -> None:
    tc_build.build(tc_catalog.all_components(), paths=Paths.default())


def _minikube() -> None:
    print(f"minikube {go_clis.MINIKUBE_VERSION}: {go_clis.build_minikube()}", flush=True)


# Chart, SBOM, CLI and registry tests run before the test bed's; so are their tools. minikube (about 12 min cold)
# comes last: its flag-parser tests run after the test bed's, which do not wait for it (TEST_BED_STEP).
TEST_BED_STEP = "test bed (Kubernetes, etcd, kwok, crictl, CoreDNS, metrics-server, Traefik)"
STEPS: list[tuple[str, Callable[[], None]]] = [
    ("helm 3 and 4", _helm),
    ("kagent agent venv", _kagent_venv),
    ("syft", _syft),
    ("kind", _kind),
    ("distribution registry", _registry),
    (TEST_BED_STEP, _test_bed),
    ("minikube", _minikube),
]


def main() -> int:
    failed: list[str] = []
    started = time.monotonic()
    print(f"prebuild: pid {os.getpid()}, {len(STEPS)} steps", flush=True)
    for name, step in STEPS:
        step_start = time.monotonic()
        print(f"prebuild: {name} ...", flush=True)
        try:
            step()
        except Exception as error:  # report and go on: the tests that need it say why
            failed.append(name)
            print(f"prebuild: {name} FAILED: {type(error).__name__}: {error}", flush=True)
        else:
            print(f"prebuild: {name} ready in {time.monotonic() - step_start:.0f} s", flush=True)
    summary = f"failed: {', '.join(failed)}" if failed else "all ready"
    print(f"prebuild: done in {time.monotonic() - started:.0f} s; {summary}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
