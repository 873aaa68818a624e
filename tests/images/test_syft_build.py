"""A machine with Go but no syft (an empty runbook cache): the build step starts compiling the pinned syft in
the background, and the SBOM part waits for that build instead of compiling a second one. The Go build cache
is the one `syft_cli` warmed, so this costs a link, not a full compile."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from todo_runbook import syft_tool


def test_the_background_build_makes_the_pinned_syft_and_the_waiter_gets_that_binary(syft_cli, tmp_path, monkeypatch):
    go = shutil.which("go")
    assert go, "Go builds the test bed here: it must be on PATH"
    monkeypatch.setenv("TODO_RUNBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", f"{Path(go).parent}:/usr/sbin:/usr/bin:/sbin:/bin")
    assert syft_tool.find_syft() is None
    said: list[str] = []
    log = syft_tool.build_in_background(said.append)
    assert log == syft_tool.build_log() and log.is_file()
    assert len(said) == 1 and "building it from Go modules in the background" in said[0] and str(log) in said[0]

    binary = syft_tool.install_syft()  # blocks on the build lock the background process holds
    assert binary == syft_tool.syft_dir() / "syft" and binary.is_file()
    version = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=60, check=True)
    assert "Application:   syft" in version.stdout
    # The background process ends having found (or made) the same binary: one build, not two.
    deadline = time.monotonic() + 300
    while str(binary) not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert log.read_text().strip().splitlines()[-1] == str(binary)
    assert not syft_tool.syft_dir().with_name(syft_tool.syft_dir().name + ".partial").exists()
    # Now it is there: nothing more to start.
    assert syft_tool.build_in_background(said.append) is None and len(said) == 1


def test_without_go_nothing_is_started_and_the_command_to_run_is_given(tmp_path, monkeypatch):
    monkeypatch.setenv("TODO_RUNBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    assert not syft_tool.can_build() and syft_tool.build_in_background() is None
    assert not syft_tool.build_log().exists()
    assert syft_tool.install_command().startswith(f"GOBIN={syft_tool.syft_dir()} go install ")
