"""Starting a test bed that is not running: it first says what it will do (the estimate, where the logs are), then
counts `python -m testcluster build`'s components ("component i of n") as their summary lines arrive, stops on a
failed build before starting anything, and stops the whole build (compilers included) when interrupted."""

from __future__ import annotations

import collections
import io
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from testcluster import build as tc_build
from testcluster.paths import Paths
from todo_runbook.config import RunbookConfig
from todo_runbook.errors import ClusterUnreachableError, CommandFailedError
from todo_runbook.providers import testbed

# The start of a real cold `python -m testcluster build` (the prebuild log of a cold CI machine, 2 cores): the
# component count, each script's last lines indented, one summary line per component.
RECORDED_COLD_BUILD = """\
build: 2 component(s) with go1.26.8, cache /root/.cache/todo-runbook
- helm: running helm/build-helm.sh
    go: added sigs.k8s.io/structured-merge-diff/v6 v6.4.2
    go: added sigs.k8s.io/yaml v1.6.0
    build-helm: helm v3.22.0: compiling helm.sh/helm/v3/cmd/helm (a few minutes on a cold Go build cache)
    build-helm: helm v3.22.0: built /root/.cache/todo-runbook/build/helm-v3.22.0/helm
  helm script: ran in 192.7s [helm]
- helm4: running helm/build-helm.sh
    go: added sigs.k8s.io/yaml v1.6.0
    build-helm: helm v4.3.1: compiling helm.sh/helm/v4/cmd/helm (a few minutes on a cold Go build cache)
  helm4 script: ran in 277.9s [helm4]
build: done in 470.6s; tools in /root/.cache/todo-runbook/bin
"""


def relayed(lines: list[str]) -> tuple[list[str], list[str]]:
    said: list[str] = []
    tail: collections.deque[str] = collections.deque(maxlen=3)
    testbed.relay_build_output(lines, said.append, tail)
    return said, list(tail)


def test_a_recorded_cold_build_counts_its_components_as_they_finish() -> None:
    lines = RECORDED_COLD_BUILD.splitlines(keepends=True)
    said, tail = relayed(lines)
    counts = [line for line in said if line.startswith("component ")]
    assert counts == ["component 1 of 2: helm", "component 2 of 2: helm4"]
    # every line of the build is shown, in order, each count right after the summary line it counts
    assert [line for line in said if not line.startswith("component ")] == [line.rstrip() for line in lines]
    assert said[said.index("  helm script: ran in 192.7s [helm]") + 1] == "component 1 of 2: helm"
    assert said[said.index("  helm4 script: ran in 277.9s [helm4]") + 1] == "component 2 of 2: helm4"
    assert tail[-1].startswith("build: done in 470.6s")  # the newest lines, for a failure's message


def test_the_count_follows_what_testcluster_build_prints_today(tmp_path: Path) -> None:
    # testcluster's own build() on two components whose scripts are absent (it skips them without compiling):
    # the parser must understand the lines this version of testcluster prints, not only the recorded ones.
    absent = [tc_build.ScriptComponent(name=name, script=f"no-such-dir/{name}.sh") for name in ("first", "second")]
    out = io.StringIO()
    tc_build.build(absent, paths=Paths(tmp_path), out=out)
    said, _ = relayed(out.getvalue().splitlines(keepends=True))
    assert [line for line in said if line.startswith("component ")] == ["component 1 of 2: first",
                                                                       "component 2 of 2: second"]


def test_lines_before_the_component_count_or_nested_deeper_are_not_counted() -> None:
    said, _ = relayed(["  early v1: built in 1.0s [x]",  # no "build: N component(s)" line yet
                       "build: 1 component(s) with go1.26.8, cache /c",
                       "    ... kubernetes: go build still running (60s)",
                       "  [kubernetes] compiling kube-apiserver, kubelet",
                       "  kubernetes v1.34.4: built in 512.3s [kube-apiserver, kubelet]"])
    assert [line for line in said if line.startswith("component ")] == ["component 1 of 1: kubernetes"]


def stand_in_build(tmp_path: Path, body: str) -> list[str]:
    """A stand-in for `python -m testcluster build` (a real one compiles Kubernetes for minutes): a small script
    that prints recorded output; build_tools runs it as it runs the real command."""
    script = tmp_path / "stand_in_testcluster_build.py"
    script.write_text(textwrap.dedent(body))
    return [sys.executable, str(script)]


def test_a_cold_start_says_what_it_will_do_before_the_build_and_stops_when_the_build_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TODO_RUNBOOK_CACHE", str(tmp_path / "cache"))  # no cluster.json: the test bed is not running
    argv = stand_in_build(tmp_path, f"""\
        import sys
        sys.stdout.write({"".join(RECORDED_COLD_BUILD.splitlines(keepends=True)[:7])!r})
        print("build: helm4 failed: go: module lookup disabled by GOPROXY=off", flush=True)
        sys.exit(3)
        """)
    monkeypatch.setattr(testbed, "build_argv", lambda: argv)
    said: list[str] = []
    config = RunbookConfig.from_mapping({"provider": "testbed"})
    with pytest.raises(CommandFailedError) as failed:
        testbed.resolve(config, "provider=testbed", prepare=True, say=said.append, need=lambda: (0, 0))

    # first what it will do, how long it may take and where the logs are; then the stage; then the build's lines
    assert said[0] == testbed.cold_build_notice()
    assert testbed.COLD_BUILD_ESTIMATE in said[0] and "from Go source" in said[0]
    assert f"progress in {tmp_path / 'cache' / 'build'}/<component>-<version>/build.log" in said[0]
    assert said[1] == "test-bed stage 1 of 2: build the pinned tools"
    assert said[2].startswith("build: 2 component(s)") and "component 1 of 2: helm" in said
    # a failed build stops there: nothing is started, and the message gives the last lines and where to look
    assert not any("stage 2 of 2" in line for line in said)
    assert "(exit 3)" in failed.value.problem and "module lookup disabled" in failed.value.problem
    assert "build.log" in failed.value.remedy


def test_without_start_cluster_the_notebook_remedy_gives_the_same_estimate(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TODO_RUNBOOK_CACHE", str(tmp_path))
    config = RunbookConfig.from_mapping({"provider": "testbed", "start_cluster": "false"})
    with pytest.raises(ClusterUnreachableError) as refused:
        testbed.resolve(config, "provider=testbed", prepare=True, say=print, need=lambda: (0, 0))
    assert f"{testbed.COLD_BUILD_ESTIMATE} the first time" in refused.value.in_notebook


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its reaper counts: it no longer runs)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_interrupting_the_build_stops_its_compilers_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the stand-in starts a long child, as `testcluster build` starts `go build`, and waits for it
    argv = stand_in_build(tmp_path, """\
        import subprocess
        child = subprocess.Popen(["sleep", "300"])
        print(f"compiler pid {child.pid}", flush=True)
        child.wait()
        """)
    monkeypatch.setattr(testbed, "build_argv", lambda: argv)
    compiler: list[int] = []

    def say(line: str) -> None:  # the person presses the stop button once the compiler runs
        if line.startswith("compiler pid "):
            compiler.append(int(line.split()[-1]))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        testbed.build_tools(say)
    assert compiler, "the stand-in build never started its compiler"
    deadline = time.monotonic() + 10
    while not gone(compiler[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not gone(compiler[0]):
        os.kill(compiler[0], 9)
        pytest.fail("the build's compiler kept running after the interrupt")
