"""Progress for long work: a live widget in JupyterLab (progress_view.py), plain timestamped lines under papermill.

Work reports through a plain `Progress` callable (one line at a time) and, where it knows them, counts with
`phase(progress, 1, 2, "image", "backend")`. A notebook's reporter (`Session.progress`) is also a context manager
that ends with "done in N s" or the failure:

    with s.progress("build") as progress:
        build_images(config, progress)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from types import TracebackType

Progress = Callable[[str], None]

# Builder chatter that says nothing a reader of a headless log needs (the widget keeps it all).
_NOISE = (" ---> Running in ", "Removing intermediate container", "  Downloading ", "     \u2501", "Collecting ")


def counted(index: int, total: int, what: str, name: str = "") -> str:
    """ "image 1 of 2: backend" """
    return f"{what} {index} of {total}" + (f": {name}" if name else "")


def phase(progress: Progress, index: int, total: int, what: str, name: str = "") -> None:
    """Work item `index` of `total` starts: a bar moves where there is one, a line says so everywhere."""
    counts = getattr(progress, "phase", None)  # TextProgress and the widget show counts; a plain callable gets a line
    if callable(counts):
        counts(index, total, what, name)
    else:
        progress(counted(index, total, what, name))


def steps(progress: Progress, done: int, total: int, what: str, name: str = "") -> None:
    """`done` of `total` smaller items finished inside the current phase (the widget's second bar)."""
    counts = getattr(progress, "step", None)
    if callable(counts):
        counts(done, total, what, name)
    else:
        progress(counted(done, total, what, name))


def ending(label: str, seconds: float, error: BaseException | None) -> str:
    """The last status line: "done in N s" or what failed."""
    if error is None:
        return f"{label}: done in {seconds:.0f} s"
    problem = getattr(error, "problem", "") or (str(error).splitlines() or [type(error).__name__])[0]
    return f"{label}: failed after {seconds:.0f} s: {problem}"


class TextProgress:
    """Plain lines for headless runs and logs; counts become lines too."""

    def __init__(self, label: str, about: str = "") -> None:
        self.label = label
        self.started = time.monotonic()
        if about:
            self(about)

    def __call__(self, line: str) -> None:
        if line.startswith(_NOISE) or (line.startswith(" ---> ") and "Using cache" not in line):
            return
        print(f"[{datetime.now():%H:%M:%S}] {self.label}: {line}", flush=True)

    def phase(self, index: int, total: int, what: str, name: str = "") -> None:
        self(counted(index, total, what, name))

    def step(self, done: int, total: int, what: str, name: str = "") -> None:
        self(counted(done, total, what, name))

    def __enter__(self) -> TextProgress:
        self.started = time.monotonic()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        print(f"[{datetime.now():%H:%M:%S}] {ending(self.label, time.monotonic() - self.started, error)}", flush=True)
