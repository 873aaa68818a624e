"""The live progress widget of a notebook cell: what is about to happen, a progress bar with counts ("image 1 of
2", "step 18 of 25"), the elapsed time, a log view that follows the newest lines, and an ending that says
"done in N s" or what failed. Plain lines under papermill come from progress.TextProgress instead."""

from __future__ import annotations

import html
import re
import threading
import time
from datetime import datetime
from pathlib import Path
from types import TracebackType

import ipywidgets as widgets
from IPython.display import display

from .progress import TextProgress, counted, ending

# The classic Docker builder numbers its steps: "Step 18/25 : RUN ..."
STEP_LINE = re.compile(r"^Step (\d+)/(\d+)\b")
VISIBLE_LINES = 12  # the log box shows the newest lines only, so it always follows the output
STOP_HINT = "to stop: the ■ button in the toolbar (Kernel › Interrupt Kernel)"


class ProgressView(TextProgress):
    def __init__(self, label: str, about: str = "", log_file: Path | None = None) -> None:
        self.label, self.log_file = label, log_file
        self.started = time.monotonic()
        self.lines: list[str] = []
        self._ticking = threading.Event()
        self.status = widgets.HTML(value=f"<b>{html.escape(label)}</b>: starting")
        self.about = widgets.HTML(value=_about_html(about, log_file))
        self.bar = widgets.IntProgress(value=0, min=0, max=1, bar_style="info",
                                       layout=widgets.Layout(width="320px"))
        self.count = widgets.Label(value="")
        self.steps = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(width="320px"))
        self.step_count = widgets.Label(value="")
        self.elapsed = widgets.Label(value="elapsed 0 s")
        self.log = widgets.Textarea(value="", disabled=True,
                                    layout=widgets.Layout(width="100%", height=f"{VISIBLE_LINES * 1.45 + 1:.0f}em"))
        self.box = widgets.VBox([self.about, self.status, widgets.HBox([self.bar, self.count, self.elapsed]),
                                 widgets.HBox([self.steps, self.step_count]), self.log])
        self.box.add_class("todo-progress")
        # Shown once there is something to show: a bar when the work has counts, the log once it has lines.
        self.bar.layout.display = self.steps.layout.display = self.log.layout.display = "none"
        display(self.box)
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            log_file.write_text("")

    def __call__(self, line: str) -> None:
        stamped = f"{datetime.now():%H:%M:%S} {line}"
        self.lines.append(stamped)
        del self.lines[:-VISIBLE_LINES]
        if self.log_file is not None:
            with self.log_file.open("a") as handle:
                handle.write(stamped + "\n")
        step = STEP_LINE.match(line)
        if step:
            self._show_step(int(step[1]), int(step[2]), "step", "")
        self.status.value = f"<b>{html.escape(self.label)}</b>: {html.escape(line[:160])}"
        self.log.value = "\n".join(self.lines)
        self.log.layout.display = ""
        self._tick()

    def phase(self, index: int, total: int, what: str, name: str = "") -> None:
        self.bar.max, self.bar.value = total, index - 1
        self.bar.layout.display = ""
        self.count.value = counted(index, total, what, name)
        self.steps.value, self.step_count.value = 0, ""
        self.steps.layout.display = "none"
        self(self.count.value)

    def step(self, done: int, total: int, what: str, name: str = "") -> None:
        self._show_step(done, total, what, name)
        self(counted(done, total, what, name))

    def _show_step(self, done: int, total: int, what: str, name: str) -> None:
        self.steps.max, self.steps.value = total, done
        self.step_count.value = counted(done, total, what, name)
        self.steps.layout.display = ""

    def __enter__(self) -> ProgressView:
        self.started = time.monotonic()
        self._ticking.set()
        threading.Thread(target=self._tick_every_second, daemon=True, name=f"progress-{self.label}").start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._ticking.clear()
        seconds = time.monotonic() - self.started
        last = ending(self.label, seconds, error)
        color = "green" if error is None else "#c00"
        self.status.value = f"<b style='color:{color}'>{html.escape(last)}</b>"
        self.bar.bar_style = "success" if error is None else "danger"
        if error is None:
            self.bar.value = self.bar.max
        self.about.value = _about_html("", self.log_file, running=False)
        self._tick()
        if self.log_file is not None:
            with self.log_file.open("a") as handle:
                handle.write(last + "\n")

    def _tick(self) -> None:
        self.elapsed.value = f"elapsed {time.monotonic() - self.started:.0f} s"

    def _tick_every_second(self) -> None:
        while self._ticking.is_set():
            self._tick()
            time.sleep(1)


def _about_html(about: str, log_file: Path | None, running: bool = True) -> str:
    parts = [html.escape(about)] if about else []
    if log_file is not None:
        parts.append(f"full log: <code>{html.escape(str(log_file))}</code>")
    if running:
        parts.append(html.escape(STOP_HINT))
    return "<div style='color:#444'>" + "<br>".join(parts) + "</div>"
