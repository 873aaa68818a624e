"""What a notebook shows around its work: the step's parameters with their help (a collapsible table), controls
that change them and save the choice into the run's configuration, and the link to the next notebook."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from . import steps
from .config import RunbookConfig
from .errors import ConfigError

Apply = Callable[[RunbookConfig], str]  # takes the validated new config, returns where it was saved


def parameter_table(step: str, config: RunbookConfig) -> str:
    """HTML: a collapsed <details> table of the step's parameters, their values, defaults and help."""
    info = RunbookConfig.describe()
    rows = []
    for name in steps.BY_NAME[step].parameters:
        meta, value = info[name], getattr(config, name)
        changed = value != meta["default"]
        shown = f"<b>{html.escape(repr(value))}</b>" if changed else html.escape(repr(value))
        choices = f" (one of: {', '.join(meta['choices'])})" if meta.get("choices") else ""
        rows.append(f"<tr><td><code>{name}</code></td><td>{shown}</td><td>{html.escape(repr(meta['default']))}</td>"
                    f"<td style='text-align:left'>{html.escape(meta['help'] + choices)}</td></tr>")
    return ("<details class='todo-parameters'><summary><b>Parameters of this step</b> "
            f"({len(rows)}; values in bold differ from the default; click to open)</summary>"
            "<table><thead><tr><th>name</th><th>value in this run</th><th>default</th>"
            "<th style='text-align:left'>what it does</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
            "<p>Change them with the controls below where there are some, or in the parameters cell "
            "(<code>params = {\"name\": value}</code>) before the first code cell runs.</p></details>")


def next_step(step: str) -> str:
    """Markdown: the link to the next notebook and what it will do (or the end of the walkthrough)."""
    order = steps.names()
    position = order.index(step)
    if position + 1 == len(order):
        return ("**This was the last step.** The run's report is in its run folder (`report.html` after "
                "`todo-runbook report`); 01-build starts a new run.")
    following = steps.BY_NAME[order[position + 1]]
    return f"**Next:** [{following.notebook}]({following.notebook}) {following.purpose}."


def label_width(names: list[str]) -> str:
    """Room for the longest label in full (no "build_in_mi…"): about 0.62em a character in JupyterLab's font."""
    return f"{max(len(name) for name in names) * 0.62 + 1:.1f}em"


def controls(names: list[str], config: RunbookConfig, apply: Apply) -> Any:
    """A control per parameter, each with its help text. A change is validated, applied and saved (`apply`),
    so the cells below and every later notebook of this run use it."""
    import ipywidgets as widgets

    info = RunbookConfig.describe()
    message = widgets.HTML()
    width = label_width(names)
    rows = []
    current = {"config": config}
    for name in names:
        meta, value = info[name], getattr(config, name)
        control = _control_for(widgets, name, meta, value)
        control.style.description_width = width
        if meta["type"] == "bool":  # its name sits right of the box, after the label column: room for both
            control.layout.width = f"calc({width} + {len(name) * 0.62 + 3:.1f}em)"
        control.tooltip = meta["help"]
        control.observe(_on_change(name, current, apply, message), names="value")
        control.add_class(f"todo-control-{name}")
        helptext = widgets.HTML(value=f"<span style='color:#555'>{html.escape(meta['help'])}</span>",
                                layout=widgets.Layout(margin="0 0 0 12px", flex="1"))
        rows.append(widgets.HBox([control, helptext]))
    box = widgets.VBox([*rows, message])
    box.add_class("todo-controls")
    return box


def _control_for(widgets: Any, name: str, meta: dict[str, Any], value: Any) -> Any:
    if meta.get("choices"):
        return widgets.Dropdown(options=list(meta["choices"]), value=value, description=name)
    if meta["type"] == "bool":
        return widgets.Checkbox(value=value, description=name, indent=True)
    if meta["type"] == "int":
        return widgets.BoundedIntText(value=value, min=0, max=100000, description=name)
    if meta["type"] == "float":
        return widgets.FloatText(value=value, description=name)
    return widgets.Text(value=str(value), description=name)


def _on_change(name: str, current: dict[str, RunbookConfig], apply: Apply, message: Any) -> Callable[..., None]:
    def handler(change: dict[str, Any]) -> None:
        try:
            updated = replace(current["config"], **{name: change["new"]})
            updated.validate()
        except ConfigError as exc:
            message.value = f"<span style='color:#c00'>{html.escape(str(exc))}</span>"
            return
        current["config"] = updated
        saved = apply(updated)
        message.value = (f"<span style='color:green'>{name} = {change['new']!r}, saved in <code>{saved}</code>: "
                         "the cells below and the later notebooks of this run use it (run a cell below again "
                         "if it already ran)</span>")
    return handler
