"""What a notebook needs in one call: the validated config, the run's evidence store, progress,
the cluster, and widgets that never block a headless run.

    s = session.start("deploy", run_dir=run_dir, params=params, headless=headless)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import criteria, notebook_controls, notebook_errors, steps
from .config import RunbookConfig
from .evidence import EvidenceStore, open_run
from .progress import TextProgress
from .providers import ClusterTarget, resolve
from .providers.testbed import COLD_BUILD_ESTIMATE


@dataclass
class Session:
    step: str
    config: RunbookConfig
    store: EvidenceStore
    headless: bool

    def progress(self, label: str = "", about: str = "") -> TextProgress:
        """A reporter for long work, used as `with s.progress("build", about=...) as progress:`; the full log
        goes to the run folder's logs/<label>.log."""
        label = label or self.step
        return make_progress(label, self.headless, about=about, log_file=self.store.run_dir / "logs" / f"{label}.log")

    def cluster(self) -> ClusterTarget:
        """The cluster this run uses: as the runner's preflight (or an earlier notebook) resolved it. Otherwise
        it is resolved now, live: a provider that must start (or first build) its cluster says so before."""
        for step in ("preflight", "cluster"):
            if self.store.has(step):
                data = self.store.result(step).get("cluster") if step == "preflight" else self.store.result(step)
                if data:
                    return ClusterTarget.from_dict(data)
        from . import capacity

        about = (f"finding the cluster (provider={self.config.provider}); starting one when it is not running "
                 f"(start_cluster={str(self.config.start_cluster).lower()}) can take minutes, and the offline "
                 f"test bed's first build {COLD_BUILD_ESTIMATE}: it says so before it begins")
        with self.progress("cluster", about=about) as say:
            target = resolve(self.config, say=say, need=lambda: capacity.peak_need(self.config))
        self.store.record("cluster", target)
        return target

    def built_images(self) -> dict[str, str]:
        """component -> image ref, from 01-build's evidence."""
        return {img["component"]: img["ref"] for img in self.store.result("build").get("images", [])}

    def release_images(self) -> dict[str, str]:
        """What the release runs: our images plus the in-cluster PostgreSQL the build step chose, if any."""
        database = self.store.result("build").get("database") or {}
        return {**self.built_images(), **({"postgresql": database["image"]} if database.get("image") else {})}

    def pushed_digests(self) -> dict[str, str]:
        """image reference -> digest the load step pushed (empty when the images were loaded into the nodes)."""
        if not self.store.has("load"):
            return {}
        load = self.store.result("load")
        return {img["image"]: img["digest"] for img in load.get("images", []) if load.get("registry")
                and img.get("digest")}

    def criteria_so_far(self) -> list[criteria.Criterion]:
        """The success criteria of the steps this run has recorded so far."""
        recorded = [name for name in steps.names() if self.store.has(name)]
        return criteria.evaluate(self.config, self.store.all(), recorded)

    def controls(self, names: list[str]) -> Any:
        """Controls for a few parameters (interactive only), each with its help. A change is validated and saved
        in the run's config.json, so the cells below and the later notebooks use it; nothing waits for input,
        so a headless run goes straight on with the parameters it was given."""
        if self.headless:
            return None
        try:
            return notebook_controls.controls(names, self.config, self._apply)
        except ImportError:
            return None

    def _apply(self, config: RunbookConfig) -> str:
        self.config = config
        self.store.save_config(config)
        return str(self.store.run_dir / "config.json")

    def parameters(self) -> Any:
        """This step's parameters with their values and help, as a collapsed table."""
        from IPython.display import HTML

        return HTML(notebook_controls.parameter_table(self.step, self.config))

    def next_step(self) -> Any:
        """The link to the next notebook and what it will do."""
        from IPython.display import Markdown

        return Markdown(notebook_controls.next_step(self.step))


def make_progress(label: str, headless: bool, about: str = "", log_file: Path | None = None) -> TextProgress:
    """Plain lines headless (or without ipywidgets), else the live widget (progress_view.py)."""
    if not headless:
        try:
            from .progress_view import ProgressView
        except ImportError:  # ipywidgets missing: plain lines still tell the story
            return TextProgress(label, about)
        return ProgressView(label, about=about, log_file=log_file)
    return TextProgress(label, about)


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
    # from here on, a known problem in a cell reads as a message, not a traceback
    notebook_errors.install(interactive=not headless)
    params = {**(params or {}), **loose_parameters(loose or {})}
    defaults = RunbookConfig.from_sources(params or {}, saved={})
    store = open_run(run_dir, outputs_dir=defaults.path(defaults.outputs_dir), create=(step == "build" and not run_dir))
    config = RunbookConfig.from_sources(params or {}, saved=store.saved_config())
    if not run_dir:
        store.save_config(config)
    return Session(step, config, store, headless)
