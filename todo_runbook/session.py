"""What a notebook needs in one call: the validated config, the run's evidence store, progress,
the cluster, and widgets that never block a headless run.

    s = session.start("deploy", run_dir=run_dir, params=params, headless=headless)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from . import criteria, notebook_errors, steps
from .config import RunbookConfig
from .errors import ConfigError
from .evidence import EvidenceStore, open_run
from .progress import Progress, make_progress
from .providers import ClusterTarget, resolve


@dataclass
class Session:
    step: str
    config: RunbookConfig
    store: EvidenceStore
    headless: bool

    def progress(self, label: str = "") -> Progress:
        return make_progress(label or self.step, self.headless)

    def cluster(self) -> ClusterTarget:
        """The cluster this run uses: as the runner's preflight (or an earlier notebook) resolved it."""
        for step in ("preflight", "cluster"):
            if self.store.has(step):
                data = self.store.result(step).get("cluster") if step == "preflight" else self.store.result(step)
                if data:
                    return ClusterTarget.from_dict(data)
        from . import capacity

        target = resolve(self.config, need=lambda: capacity.peak_need(self.config))
        self.store.record("cluster", target)
        return target

    def built_images(self) -> dict[str, str]:
        """component -> image ref, from 01-build's evidence."""
        return {img["component"]: img["ref"] for img in self.store.result("build").get("images", [])}

    def release_images(self) -> dict[str, str]:
        """What the release runs: our images plus the in-cluster PostgreSQL the build step chose, if any."""
        database = self.store.result("build").get("database") or {}
        return {**self.built_images(), **({"postgresql": database["image"]} if database.get("image") else {})}

    def criteria_so_far(self) -> list[criteria.Criterion]:
        """The success criteria of the steps this run has recorded so far."""
        recorded = [name for name in steps.names() if self.store.has(name)]
        return criteria.evaluate(self.config, self.store.all(), recorded)

    def controls(self, names: list[str]) -> Any:
        """Widgets for a few parameters (interactive only). Changing one updates self.config at once;
        nothing waits for input, so a headless run goes straight on with the parameters it was given."""
        if self.headless:
            return None
        try:
            import ipywidgets as widgets
        except ImportError:
            return None
        info = RunbookConfig.describe()
        boxes = []
        message = widgets.HTML()
        for name in names:
            meta, value = info[name], getattr(self.config, name)
            if meta.get("choices"):
                w = widgets.Dropdown(options=list(meta["choices"]), value=value, description=name)
            elif meta["type"] == "bool":
                w = widgets.Checkbox(value=value, description=name)
            elif meta["type"] == "int":
                w = widgets.BoundedIntText(value=value, min=0, max=100000, description=name)
            elif meta["type"] == "float":
                w = widgets.FloatText(value=value, description=name)
            else:
                w = widgets.Text(value=str(value), description=name)
            w.style.description_width = "180px"
            w.observe(self._on_change(name, message), names="value")
            boxes.append(w)
        return widgets.VBox([*boxes, message])

    def _on_change(self, name: str, message: Any) -> Any:
        def handler(change: dict[str, Any]) -> None:
            try:
                updated = replace(self.config, **{name: change["new"]})
                updated.validate()
                self.config = updated
                message.value = f"<span style='color:green'>{name} = {change['new']!r}; re-run the next cell</span>"
            except ConfigError as exc:
                message.value = f"<span style='color:red'>{exc}</span>"
        return handler


def loose_parameters(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Runbook parameters given one by one (`papermill -p namespace todo-app` injects a variable `namespace`)."""
    known = set(RunbookConfig.names())
    # Only plain values: a later cell's result re-run in JupyterLab (e.g. `release = deploy.install(...)`) is not one.
    return {name: value for name, value in namespace.items()
            if name in known and isinstance(value, str | int | float | bool | list)}


def start(step: str, run_dir: str = "", params: dict[str, Any] | None = None, headless: bool = False,
          loose: Mapping[str, Any] | None = None) -> Session:
    """Open (or, for the first step, create) the run and validate the parameters once. `loose` is the notebook's
    globals(): parameters papermill injected one by one join `params` (and win, as the later ones)."""
    notebook_errors.install()  # from here on, a known problem in a cell reads as a message, not a traceback
    params = {**(params or {}), **loose_parameters(loose or {})}
    defaults = RunbookConfig.from_sources(params or {}, saved={})
    store = open_run(run_dir, outputs_dir=defaults.path(defaults.outputs_dir), create=(step == "build" and not run_dir))
    config = RunbookConfig.from_sources(params or {}, saved=store.saved_config())
    if not run_dir:
        store.save_config(config)
    return Session(step, config, store, headless)
