"""Process supervision for the test bed: start detached with a pidfile and a log, stop by pid, wait.

A pidfile records the pid together with the process start time (field 22 of /proc/<pid>/stat),
so a recycled pid is never mistaken for ours and never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from testcluster.errors import TestbedError


class ProcessError(TestbedError):
    """A process of the test bed did not start, exited early or did not become ready."""


@dataclass(frozen=True)
class Recorded:
    """What a pidfile holds."""

    name: str
    pid: int
    start_time: int
    argv: list[str]
    log: str

    def alive(self) -> bool:
        return is_alive(self.pid, self.start_time)


def proc_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses; fields after the last ')' are fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()[0]


def _reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our child (otherwise it would linger as a zombie)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_alive(pid: int, start_time: int | None = None) -> bool:
    """True when ``pid`` runs (not a zombie) and, if given, started at ``start_time``."""
    _reap(pid)
    state = proc_state(pid)
    if state is None or state in ("Z", "X"):
        return False
    return start_time is None or proc_start_time(pid) == start_time


def read_pidfile(path: Path) -> Recorded | None:
    try:
        data = json.loads(path.read_text())
        return Recorded(**data)
    except (OSError, ValueError, TypeError):
        return None


def start(
    name: str,
    argv: Sequence[str],
    *,
    pidfile: Path,
    logfile: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Recorded:
    """Start ``argv`` detached (own session, stdin closed, output to ``logfile``) and record it.

    Idempotent: when the pidfile names a live process, that process is returned and nothing starts.
    """
    existing = read_pidfile(pidfile)
    if existing is not None and existing.alive():
        return existing
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with logfile.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,  # own session: a Ctrl-C in the caller's terminal does not reach it
            )
        except OSError as error:
            raise ProcessError(f"could not start {name} ({argv[0]}): {error}") from error
    start_time = proc_start_time(proc.pid) or 0
    recorded = Recorded(name=name, pid=proc.pid, start_time=start_time, argv=list(argv), log=str(logfile))
    tmp = pidfile.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(recorded)))
    tmp.replace(pidfile)
    return recorded


def stop(recorded: Recorded, *, timeout: float = 20.0) -> bool:
    """SIGTERM, then SIGKILL after ``timeout``. Returns True when a live process was stopped."""
    if not recorded.alive():
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(recorded.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not recorded.alive():
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(recorded.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and recorded.alive():
        time.sleep(0.1)
    if recorded.alive():
        raise ProcessError(f"{recorded.name} (pid {recorded.pid}) survived SIGKILL")
    return True


def stop_pidfile(pidfile: Path, *, timeout: float = 20.0) -> bool:
    """Stop the process a pidfile names (if it is still that process) and remove the pidfile."""
    recorded = read_pidfile(pidfile)
    stopped = stop(recorded, timeout=timeout) if recorded is not None else False
    pidfile.unlink(missing_ok=True)
    return stopped


def tail(path: Path | str, lines: int = 20) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    interval: float = 0.25,
    watch: Recorded | None = None,
) -> float:
    """Poll ``check`` until it returns True; return the seconds it took.

    With ``watch``, fail fast (showing the end of its log) if that process exits meanwhile.
    """
    start = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - start
        except Exception:  # a check that raises is just "not yet"
            pass
        if watch is not None and not watch.alive():
            raise ProcessError(f"{watch.name} exited while waiting for {what}; last lines of {watch.log}:\n"
                               f"{tail(watch.log)}")
        if time.monotonic() - start > timeout:
            hint = f"; last lines of {watch.log}:\n{tail(watch.log)}" if watch is not None else ""
            raise ProcessError(f"timed out after {timeout:.0f}s waiting for {what}{hint}")
        time.sleep(interval)


def rss_kib(pid: int) -> int:
    """Resident memory (VmRSS) of ``pid`` in KiB, 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
