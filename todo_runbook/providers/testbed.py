"""The offline test bed (testcluster/): real Kubernetes built from Go modules, started on loopback; images are
imported into its node's containerd."""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .. import shell
from ..config import REPO_ROOT, RunbookConfig, cache_root
from ..errors import ClusterUnreachableError, CommandFailedError, RunbookError
from ..progress import phase, steps
from .base import GENERIC_INGRESS_HINT, GENERIC_METRICS_HINT, BuildEngine, ClusterTarget, LoadOutcome, Need, Say

if TYPE_CHECKING:
    from testcluster.paths import Paths

name = "testbed"
tools: tuple[str, ...] = ()
tool_versions: dict[str, list[str]] = {}
install_hint = ""
# `python -m testcluster build` puts these into $TODO_RUNBOOK_CACHE/bin while it builds the test bed
builds_own_tools = frozenset({"helm", "kubectl"})
claims_any_context = False
ingress_hint, metrics_hint = GENERIC_INGRESS_HINT, GENERIC_METRICS_HINT  # it ships Traefik and metrics-server
CONTEXT = "todo-testbed"
# How long the first (cold) build of the runbook's test-bed tools takes, said before it starts. Measured on 2 cores
# (README, cold CI): the test bed's components 11.9 min plus Helm 3 (about 3 min), both at nice 19 next to the
# tests; slower CPUs or disks take longer.
COLD_BUILD_ESTIMATE = "about 15-25 min on 2 cores"


def facts() -> dict[str, Any]:
    path = cache_root() / "testcluster" / "run" / "cluster.json"
    return json.loads(path.read_text()) if path.exists() else {}


def compile_while_images_build(config: RunbookConfig, steps: Sequence[str], say: Say) -> str | None:
    """On a cold test bed, start compiling its tools now, in the background, so the build step's images build
    meanwhile (the compile runs at nice 10, the image build in the Docker engine); the load step then starts the
    test bed (``Session.cluster()`` resolves it live, waiting for this compile). Returns the note preflight
    records, or None when there is nothing to overlap: the test bed runs, no image is built in this run, the
    run may not start it, or every tool is built already."""
    if "build" not in steps or not config.start_cluster or facts():
        return None
    from testcluster.catalog import RUNBOOK_NEEDS
    from testcluster.paths import Paths

    paths = Paths.default()
    missing = tools_to_compile(paths)
    if not missing:
        return None  # nothing long to wait for (or no Go: resolving the cluster raises the clear error)
    log = paths.build_dir / "runbook-tools.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    paths.bin_dir.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        subprocess.Popen(["nice", "-n", "10", sys.executable, "-m", "testcluster", "build", *RUNBOOK_NEEDS],
                         cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    note = (f"the test bed's tools are not built yet ({', '.join(missing)}): compiling them in the background "
            f"(log {log}) while the images build; the load step starts the test bed once they are built")
    say(f"cluster: {note}")
    return note


def tools_to_compile(paths: Paths) -> list[str]:
    """The runbook's test-bed tools that still have to be compiled from Go modules (wheels install in seconds)."""
    from testcluster import build as tc_build
    from testcluster.catalog import RUNBOOK_NEEDS, all_components, select

    try:
        gover = tc_build.go_version(tc_build.find_go())
    except tc_build.BuildError:
        return []
    return [c.name for c in select(all_components(), RUNBOOK_NEEDS)
            if (isinstance(c, tc_build.GoComponent) and not c.is_built(paths, gover))
            or (isinstance(c, tc_build.ScriptComponent) and not all((paths.bin_dir / b).exists()
                                                                      for b in c.binaries))]


def available(config: RunbookConfig) -> tuple[bool, str]:
    # Always usable: it builds itself from Go modules when it is not there (slow the first time).
    return True, "the offline test bed can always be used (it is built from source when missing)"


def owns_context(context: str, config: RunbookConfig) -> bool:
    return context == CONTEXT


def resolve(config: RunbookConfig, reason: str, *, prepare: bool, say: Say, need: Need) -> ClusterTarget:
    found = facts()
    commands = []
    if not found:
        if not config.start_cluster or not prepare:
            raise ClusterUnreachableError(
                "the offline test bed is not running (no cluster.json)",
                "start it with `make cluster-up` (python -m testcluster up); "
                "`todo-runbook run` starts it itself unless start_cluster=false",
                reasons=[] if config.start_cluster else ["start_cluster is false, so the runbook does not start it"],
                in_notebook="tick start_cluster in this notebook's controls and run this cell again (it then builds "
                            f"and starts the test bed: {COLD_BUILD_ESTIMATE} the first time, a minute once cached), "
                            "or choose provider minikube, kind or context for a cluster that is already running")
        repo = str(REPO_ROOT)
        # build and up are idempotent (build is seconds once cached); announce them, as a cold build is long.
        say(cold_build_notice())
        phase(say, 1, 2, "test-bed stage", "build the pinned tools")
        built = build_tools(say)
        phase(say, 2, 2, "test-bed stage", "start the control plane and the node")
        # No simulated (kwok) nodes: the release runs on the real node; the test suite asks for them itself.
        up = shell.run([sys.executable, "-m", "testcluster", "up", "--simulated-nodes", "0"], timeout=3600, cwd=repo,
                       hint="see $TODO_RUNBOOK_CACHE/testcluster/logs/; `python -m testcluster status`")
        reason += "; it was not running, so the runbook started it"
        found = facts()
        if not found:
            raise ClusterUnreachableError("`python -m testcluster up` finished but wrote no cluster.json",
                                          "see $TODO_RUNBOOK_CACHE/testcluster/logs/ and "
                                          "`python -m testcluster status`")
        commands = [shell.recorded(built, "build the test bed's pinned tools (cached by version)"),
                    shell.recorded(up.command, "start the offline test bed")]
    elif prepare:
        # Its volumes are made in advance and kept when released (no provisioner deletes them): the ones earlier
        # releases left Released are wiped and made Available again, as `up` does, so repeated runs (make bench)
        # never run out of them.
        from testcluster import node

        reclaimed = node.reclaim_volumes()
        if reclaimed:
            say(f"cluster: {len(reclaimed)} released test bed volume(s) wiped and available again")
    return ClusterTarget(name, reason, found.get("context", CONTEXT),
                         found.get("kubeconfig", str(cache_root() / "testcluster" / "kubeconfig")),
                         ingress_url=config.ingress_url or found.get("ingress_url", ""),
                         ingress_https_url=config.ingress_https_url or found.get("ingress_https_url", ""),
                         load_method="containerd import (testcluster.images)", nodes=list(found.get("nodes", [])),
                         containerd_address=found.get("containerd_address", ""),
                         containerd_addresses=list(found.get("containerd_addresses") or []), commands=commands,
                         cluster_name="testbed")


def cold_build_notice() -> str:
    """What starting a test bed that is not running will do, said before it begins: how long, where the logs are."""
    return ("cluster: the offline test bed is not running; building its pinned tools, then starting it. Cached "
            "builds take seconds; the first one compiles Kubernetes, its add-ons and Helm from Go source "
            f"({COLD_BUILD_ESTIMATE}; progress in {cache_root() / 'build'}/<component>-<version>/build.log)")


# `python -m testcluster build` says how many components it has, then one summary line per component.
_TOTAL_LINE = re.compile(r"^build: (\d+) component")
_DONE_LINE = re.compile(r"^  (\S+) \S+: \w+ in [\d.]+s")


def relay_build_output(lines: Iterable[str], say: Say, tail: collections.deque[str]) -> None:
    """Each line of `python -m testcluster build` to `say` (and `tail`), plus "component i of n" as each
    component's summary line arrives."""
    total, done = 0, 0
    for raw in lines:
        line = raw.rstrip()
        tail.append(line)
        say(line)
        if found := _TOTAL_LINE.match(line):
            total = int(found[1])
        elif (found := _DONE_LINE.match(line)) and total:
            done += 1
            steps(say, done, total, "component", found[1])


def build_argv() -> list[str]:
    from testcluster.catalog import RUNBOOK_NEEDS

    return [sys.executable, "-m", "testcluster", "build", *RUNBOOK_NEEDS]


def build_tools(say: Say) -> str:
    """`python -m testcluster build`, its lines streamed to `say` with "component i of n" counts. Interrupting
    (the notebook's stop button) stops the whole build, Go compilers included. Returns the command line."""
    argv = build_argv()
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    tail: collections.deque[str] = collections.deque(maxlen=25)
    try:
        assert proc.stdout is not None
        relay_build_output(proc.stdout, say, tail)
        returncode = proc.wait()
    except BaseException:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
        raise
    command = shell.command_line(argv)
    if returncode != 0:
        raise CommandFailedError(f"`{command}` failed (exit {returncode}): " + " | ".join(list(tail)[-5:]),
                                 "see $TODO_RUNBOOK_CACHE/build/*/build.log; it needs a Go toolchain")
    return command


def grow_hint(config: RunbookConfig, cpu_m: int, mem_bytes: int) -> str:
    return "the test bed's node offers this machine's CPUs and memory: run on a bigger machine"


def load_image(target: ClusterTarget, image: str, config: RunbookConfig) -> LoadOutcome:
    """The test bed's own loader: docker save | ctr images import into each real node's containerd."""
    from testcluster import images as tc_images

    addresses = target.containerd_addresses or ([target.containerd_address] if target.containerd_address else [])
    if not addresses:
        raise ClusterUnreachableError("the test bed has no containerd_address in cluster.json (no real node?)",
                                      "start the test bed with its node: `python -m testcluster up`")
    outcomes = []
    for address in addresses:
        try:
            outcomes.append(tc_images.load_image(image, address=address, ctr=shell.which("ctr") or "ctr"))
        except tc_images.ImageLoadError as exc:
            raise RunbookError(f"loading {image} into the test bed's containerd at {address} failed: {exc}",
                               "check the node (`python -m testcluster status`); rebuild the image if it is missing",
                               ) from exc
    reused = all(outcome.reused for outcome in outcomes)
    method = "already on the node (same Docker image ID): not copied" if reused else "containerd import"
    if len(outcomes) > 1:
        method += f" into {len(outcomes)} nodes"
    return {"image": image, "method": method, "seconds": round(sum(o.seconds for o in outcomes), 3),
            "reused": reused, "command": " && ".join(o.command for o in outcomes if o.command),
            "reference": outcomes[0].reference, "bytes": outcomes[0].bytes}


def remove_image(target: ClusterTarget, image: str, config: RunbookConfig) -> list[shell.CommandResult]:
    return []  # the node's containerd keeps it: a later run reuses it without copying


def stop_argv(target: ClusterTarget, config: RunbookConfig) -> list[str] | None:
    return [sys.executable, "-m", "testcluster", "down"]


def build_engine(config: RunbookConfig) -> BuildEngine | None:
    return None  # images are built in the local engine and imported into the node's containerd


def prepare_while_building(config: RunbookConfig, steps: Sequence[str], say: Say) -> str | None:
    return compile_while_images_build(config, steps, say)
