"""`make lab` serves the notebooks for whoever runs it, root included: JupyterLab refuses root unless told, and CI
runs this as root, so a server that answers here proves the root case. The command it runs adds --allow-root for
root only and leaves the port to Jupyter (the first free one from 8888) unless LAB_PORT is given."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.support.lab import ROOT, make_lab


def test_make_lab_serves_the_notebooks_and_prints_its_url() -> None:
    with make_lab(timeout=120) as lab:
        assert lab.base.endswith(f":{lab.port}"), lab.base
        listing = ""
        for _ in range(20):  # the URL is logged as the server starts listening; give it a moment
            try:
                with urllib.request.urlopen(f"{lab.base}/api/contents?token={lab.token}", timeout=30) as answer:
                    listing = answer.read().decode()
                break
            except OSError:
                time.sleep(1)
        assert "01-build.ipynb" in listing and "06-teardown.ipynb" in listing


# `make -n lab` prints the command without starting anything. The root check is the Makefile's `$(shell id -u)`:
# a stand-in `id` first on PATH answers for the uid under test (and logs that it was asked).
def lab_command(tmp_path: Path, uid: int | None = None, *variables: str) -> str:
    env = dict(os.environ, TODO_RUNBOOK_CACHE=str(tmp_path / "cache"))
    env.pop("LAB_PORT", None)
    if uid is not None:
        stand_in = tmp_path / "stand-in-bin"
        stand_in.mkdir(exist_ok=True)
        (stand_in / "id").write_text(f'#!/bin/sh\necho "$@" >>{tmp_path / "id-calls"}\n'
                                     f'if [ "$1" = -u ]; then echo {uid}; else exec /usr/bin/id "$@"; fi\n')
        (stand_in / "id").chmod(0o755)
        env["PATH"] = f"{stand_in}{os.pathsep}{env['PATH']}"
    done = subprocess.run(["make", "-n", "lab", *variables], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.replace("\\\n", " ").splitlines()  # the recipe continues its line with a backslash
    (command,) = [line for line in lines if "jupyter lab" in line]
    if uid is not None:
        assert (tmp_path / "id-calls").read_text().split("\n")[0] == "-u", "make lab no longer asks `id -u`"
    return command


def test_make_lab_allows_root_only_for_root(tmp_path: Path) -> None:
    assert "--allow-root" in shlex.split(lab_command(tmp_path, 0))
    assert "--allow-root" not in shlex.split(lab_command(tmp_path, 1000))
    # and for whoever runs this test, without the stand-in
    assert ("--allow-root" in shlex.split(lab_command(tmp_path))) == (os.geteuid() == 0)


def test_make_lab_leaves_the_port_to_jupyter_unless_lab_port_is_given(tmp_path: Path) -> None:
    default = shlex.split(lab_command(tmp_path, 1000))
    assert not [arg for arg in default if arg.startswith("--port")], default
    assert default[:2] == [".venv/bin/jupyter", "lab"] and "--ip=127.0.0.1" in default
    assert "--port=9123" in shlex.split(lab_command(tmp_path, 1000, "LAB_PORT=9123"))
    # Without --port, Jupyter takes 8888 or, when that is taken, the next free one (50 tries): nothing in the
    # configuration this very command loads changes that.
    shown = subprocess.run([*default, "--show-config"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                           env={k: v for k, v in os.environ.items() if k != "JUPYTER_PORT"})
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert ".ip = '127.0.0.1'" in shown.stdout
    assert not re.search(r"^\s+\.port(_retries)? = ", shown.stdout, re.MULTILINE), shown.stdout
    # Asked in a fresh interpreter: importing jupyter_server here would register its Prometheus metrics a second
    # time in a test process that already imported them.
    retries = subprocess.run([".venv/bin/python", "-c", "from jupyter_server.serverapp import ServerApp; "
                              "print(ServerApp.port_retries.default_value)"], cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
    assert int(retries.stdout.strip()) > 0, retries.stderr[-2000:]
