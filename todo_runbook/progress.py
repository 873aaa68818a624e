"""Progress for long work: ipywidgets in JupyterLab, plain timestamped lines under papermill."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

Progress = Callable[[str], None]


# Builder chatter that says nothing a reader of a headless log needs (the widget keeps it all).
_NOISE = (" ---> Running in ", "Removing intermediate container", "  Downloading ", "     \u2501", "Collecting ")


def text_progress(label: str) -> Progress:
    def report(line: str) -> None:
        if line.startswith(_NOISE) or (line.startswith(" ---> ") and "Using cache" not in line):
            return
        print(f"[{datetime.now():%H:%M:%S}] {label}: {line}", flush=True)

    return report


def widget_progress(label: str, keep: int = 200) -> Progress:
    """A title line with the latest message plus a scrolling log of the last `keep` lines."""
    try:
        import ipywidgets as widgets
        from IPython.display import display
    except ImportError:
        return text_progress(label)
    title = widgets.HTML(value=f"<b>{label}</b>: starting")
    log = widgets.Textarea(value="", layout=widgets.Layout(width="100%", height="160px"), disabled=True)
    display(widgets.VBox([title, log]))
    lines: list[str] = []

    def report(line: str) -> None:
        lines.append(f"{datetime.now():%H:%M:%S} {line}")
        del lines[:-keep]
        title.value = f"<b>{label}</b>: {line[:160]}"
        log.value = "\n".join(lines)

    return report


def make_progress(label: str, headless: bool) -> Progress:
    return text_progress(label) if headless else widget_progress(label)
