"""`make lab` serves the notebooks for whoever runs it, root included: JupyterLab refuses root unless told, and CI
runs this as root, so a server that answers here proves the root case."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_make_lab_serves_the_notebooks_and_prints_its_url() -> None:
    with socket.socket() as sock:  # a port of its own: another server on 8888 must not answer for this one
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(["make", "lab", f"LAB_PORT={port}"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen, url = "", None
    try:
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        while time.monotonic() < deadline and url is None:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            seen += line
            found = re.search(r"(http://127\.0\.0\.1:\d+/lab\?token=\w+)", line)
            url = found.group(1) if found else None
        assert url, f"no URL printed; make lab said:\n{seen[-3000:]}"
        base, token = url.split("/lab?token=")
        assert base.endswith(f":{port}"), url
        listing = ""
        for _ in range(20):  # the URL is logged as the server starts listening; give it a moment
            try:
                listing = urllib.request.urlopen(f"{base}/api/contents?token={token}", timeout=30).read().decode()
                break
            except OSError:
                time.sleep(1)
        assert "01-build.ipynb" in listing and "06-teardown.ipynb" in listing
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
