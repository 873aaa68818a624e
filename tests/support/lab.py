"""`make lab` as a person starts it: on a free port of its own, its printed URL read from its output."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LabServer:
    port: int
    base: str  # http://127.0.0.1:PORT
    token: str


def free_port() -> int:
    with socket.socket() as sock:  # a port of its own: another server on 8888 must not answer for this one
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def make_lab(env: Mapping[str, str] | None = None, timeout: float = 300) -> Iterator[LabServer]:
    """Run `make lab LAB_PORT=<free>` until the block ends; fails with its output when it prints no URL."""
    port = free_port()
    proc = subprocess.Popen(["make", "lab", f"LAB_PORT={port}"], cwd=ROOT, env=dict(env or os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen, url = "", None
    try:
        deadline = time.monotonic() + timeout
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
        yield LabServer(port, base, token)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
