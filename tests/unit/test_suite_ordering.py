"""The suite's own ordering (tests/support/ordering.py): tests needing no built tools first, the test bed's last,
and the wait for `make test`'s background tools build."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.support import ordering
from tests.support.prebuild import PID_VARIABLE

REPO = Path(__file__).resolve().parents[2]


def test_modules_run_by_tier_and_stay_whole(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "import pytest\n\n@pytest.fixture\ndef helm_binaries():\n    return {}\n\n"
        "@pytest.fixture\ndef testbed():\n    return None\n\n@pytest.fixture\ndef minikube_cli():\n    return None\n")
    (tmp_path / "test_0_minikube.py").write_text("def test_flags(minikube_cli):\n    pass\n")
    (tmp_path / "test_a_cluster.py").write_text(
        "import pytest\n\ndef test_plain():\n    pass\n\n@pytest.mark.cluster\ndef test_on_the_cluster():\n    pass\n")
    (tmp_path / "test_b_helm.py").write_text("def test_render(helm_binaries):\n    pass\n")
    (tmp_path / "test_c_plain.py").write_text("def test_one():\n    pass\n\ndef test_two():\n    pass\n")
    (tmp_path / "test_d_fixture.py").write_text("def test_needs_the_bed(testbed):\n    pass\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "tests.support.ordering",
         "-o", "markers=cluster", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    order = [line.split("::")[0].rsplit("/", 1)[-1] + "::" + line.split("::")[1]
             for line in proc.stdout.splitlines() if "::" in line]
    assert order == [
        "test_c_plain.py::test_one", "test_c_plain.py::test_two",  # tier 0
        "test_b_helm.py::test_render",  # tier 1: a CLI built from Go modules
        "test_a_cluster.py::test_plain", "test_a_cluster.py::test_on_the_cluster",  # tier 2, the module kept whole
        "test_d_fixture.py::test_needs_the_bed",
        "test_0_minikube.py::test_flags",  # tier 3: minikube, the prebuild's last CLI
    ], proc.stdout


def test_the_wait_ends_when_the_build_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    build = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    monkeypatch.setenv(PID_VARIABLE, str(build.pid))
    lines: list[str] = []
    config = SimpleNamespace(pluginmanager=SimpleNamespace(get_plugin=lambda name: SimpleNamespace(
        write_line=lines.append)))
    started = time.monotonic()
    ordering.wait_for_prebuild(config, poll_s=0.1)  # the child becomes a zombie: that counts as finished
    assert time.monotonic() - started >= 1.0
    assert not ordering.prebuild_running(build.pid)
    assert lines[0].strip().startswith(f"waiting for the tools build (pid {build.pid}")
    assert lines[-1].startswith("tools build finished after")
    build.wait()


def test_no_wait_without_a_running_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PID_VARIABLE, "not-a-pid")
    lines: list[str] = []
    config = SimpleNamespace(pluginmanager=SimpleNamespace(get_plugin=lambda name: SimpleNamespace(
        write_line=lines.append)))
    ordering.wait_for_prebuild(config)
    monkeypatch.delenv(PID_VARIABLE)
    ordering.wait_for_prebuild(config)
    assert lines == []  # nothing to wait for: not a pid, no variable


def test_the_test_bed_tier_waits_only_for_its_step(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tier 2 goes on once the log says the test bed is built, while the build goes on to minikube."""
    log = tmp_path / "prebuild.log"
    log.write_text("prebuild: syft ready in 3 s\n")
    build = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        monkeypatch.setenv(PID_VARIABLE, str(build.pid))
        monkeypatch.setenv(ordering.LOG_VARIABLE, str(log))
        lines: list[str] = []
        config = SimpleNamespace(pluginmanager=SimpleNamespace(get_plugin=lambda name: SimpleNamespace(
            write_line=lines.append)))
        writer = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep(1); open({str(log)!r}, 'a')"
                                   f".write('prebuild: {ordering.TEST_BED_STEP} ready in 9 s\\n')"])
        started = time.monotonic()
        ordering.wait_for_prebuild(config, poll_s=0.1, step=ordering.TEST_BED_STEP)
        assert 0.8 <= time.monotonic() - started < 20
        assert ordering.prebuild_running(build.pid)  # the build itself goes on
        assert lines[-1].startswith(f"step '{ordering.TEST_BED_STEP}' of the tools build finished after")
        writer.wait()
        lines.clear()
        ordering.wait_for_prebuild(config, poll_s=0.1, step=ordering.TEST_BED_STEP)
        assert lines == []  # already finished: no wait, no lines
    finally:
        build.kill()
        build.wait()
