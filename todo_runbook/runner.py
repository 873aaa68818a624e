"""The headless runner: preflight, then papermill runs notebooks/01..06 in order into
outputs/<run-id>/, each exported to HTML, then the report. Exit code: 0 all passed,
1 a success criterion missed, 2 a step failed (or the input was bad).

Running twice in a row works: builds hit the cache, `helm upgrade --install` upgrades, teardown
and the next deploy leave nothing behind that trips the other.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import kernels
from . import registry as image_registry
from . import steps as registry
from .config import REPO_ROOT, RunbookConfig
from .errors import ConfigError, RunbookError, error_dict
from .evidence import EvidenceStore, new_run_id, open_run
from .preflight import preflight
from .providers import Say
from .report import ReportResult, StepOutcome, build_report
from .timing import Timer, iso_now

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = {step.name: step.notebook for step in registry.STEPS}  # step -> notebook, in runbook order
CLUSTER_STEPS = registry.cluster_steps()
KERNEL = "python3"


@dataclass
class RunOutcome:
    run_dir: Path
    exit_code: int
    report: ReportResult | None = None
    outcomes: list[StepOutcome] = field(default_factory=list)


def parse_steps(text: str | Sequence[str] | None) -> list[str]:
    names = registry.names()
    if not text:
        return names
    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    for item in items:
        if item not in names:
            close = difflib.get_close_matches(item, names, n=1)
            guess = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"unknown step '{item}'.{guess}", f"use a comma-separated subset of: {','.join(names)}")
    return [s for s in names if s in items]  # always in runbook order


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"parameter '{pair}' is not in the form name=value",
                              "write it as -p name=value, e.g. -p provider=minikube")
        params[name.strip()] = value
    return params


def failing_cell(notebook: Path) -> dict[str, Any] | None:
    """The first code cell with an error output in an executed notebook."""
    import nbformat

    if not notebook.exists():
        return None
    nb = nbformat.read(notebook, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return {"index": index, "source": cell.source, "ename": output.get("ename", ""),
                        "evalue": output.get("evalue", "")[:2000]}
    return None


def _error_from_evalue(ename: str, evalue: str) -> dict[str, str]:
    problem, _, remedy = evalue.partition("\n  what to do: ")
    return {"type": ename, "kind": "step failed", "problem": problem.strip(), "remedy": remedy.strip()}


def export_html(notebook: Path) -> Path | None:
    from nbconvert import HTMLExporter

    try:
        body, _ = HTMLExporter(embed_images=True).from_filename(str(notebook))
    except Exception:  # an export problem must not hide the run's result
        return None
    target = notebook.with_suffix(".html")
    target.write_text(body)
    return target


def run_notebook(step: str, store: EvidenceStore, params: dict[str, Any], say: Say,
                 ahead: kernels.KernelsAhead) -> StepOutcome:
    import papermill as pm

    source = NOTEBOOKS_DIR / NOTEBOOKS[step]
    target = store.run_dir / NOTEBOOKS[step]
    outcome = StepOutcome(step=step, status="ok", notebook=str(target))
    timer = Timer().start()
    kernel = None
    try:
        kernel = ahead.take(step)
        pm.execute_notebook(str(source), str(target), kernel_name=kernels.KERNEL, cwd=str(NOTEBOOKS_DIR),
                            parameters={"run_dir": str(store.run_dir), "params": params, "headless": True},
                            progress_bar=False, stdout_file=kernel.log, stderr_file=kernel.log, km=kernel.manager)
    except pm.PapermillExecutionError as exc:
        outcome.status = "failed"
        outcome.failing_cell = failing_cell(target)
        recorded = store.read(step).get("error") if store.has(step) else None
        outcome.error = recorded or _error_from_evalue(exc.ename, exc.evalue)
    except Exception as exc:  # no kernel to run it in (with the fix), kernel died, notebook missing, ...
        outcome.status = "failed"
        outcome.error = error_dict(exc)
    finally:
        if kernel is not None:
            kernel.stop()
    recorded_status = store.read(step).get("status") if store.has(step) else None
    if outcome.status == "ok" and recorded_status == "skipped":  # it ran, but none of its tools did
        outcome.status, outcome.note = "skipped", "every tool of this step was skipped (see its evidence)"
    outcome.seconds = timer.stop()
    say(f"step {step}: {outcome.status} in {outcome.seconds:.0f} s"
        + (f" — {outcome.error.get('problem', '')[:300]}" if outcome.error else ""))
    return outcome


def run_preflight(config: RunbookConfig, steps: list[str], store: EvidenceStore, say: Say) -> StepOutcome:
    """Tools first (seconds), then the cluster (answers or not): bad setups fail before any build."""
    from . import capacity
    from .providers import prepare_while_building, resolve, tools_built_by

    timer = Timer().start()
    outcome = StepOutcome(step="preflight", status="ok")
    result: dict[str, Any] = {"steps": steps, "tools": [], "cluster": None}
    try:
        pf = preflight(steps, config.provider)
        result["tools"] = pf.tools
        missing = {t.name for t in pf.missing_required}
        # On a fresh machine a provider may build helm and kubectl itself (the test bed does): let it, then look again.
        provider_builds_them = bool(missing) and missing <= tools_built_by(config)
        if not provider_builds_them:
            pf.raise_if_missing()
        if config.registry and {"load", "deploy"} & set(steps):  # before any build: the push would fail
            pushing = image_registry.parse(config.registry)
            result["registry"] = image_registry.check(pushing, image_registry.credentials(pushing))
            say(f"registry: {pushing.base} answers over TLS ({result['registry'].tls}), auth "
                f"{result['registry'].auth}")
        deferred = prepare_while_building(config, steps, say) if CLUSTER_STEPS & set(steps) else None
        if deferred:
            result["cluster_deferred"] = deferred  # helm and kubectl land in $TODO_RUNBOOK_CACHE/bin (on PATH)
        elif CLUSTER_STEPS & set(steps):
            target = resolve(config, say=say, need=lambda: capacity.peak_need(config))
            result["cluster"] = target
            say(f"cluster: {target.provider} (context {target.context}) — {target.reason}")
            if provider_builds_them:  # run() put $TODO_RUNBOOK_CACHE/bin on PATH before any of this
                pf = preflight(steps, target.provider)
                result["tools"] = pf.tools
                pf.raise_if_missing()
            if "deploy" in steps:  # before any build: a release that cannot fit fails in seconds
                room = capacity.check(target, config)
                result["capacity"] = room
                say(f"capacity: the release needs {room.demand.peak_cpu_m}m CPU and "
                    f"{room.demand.peak_mem_bytes / 2**30:.2f} GiB at peak; {room.free_cpu_m}m and "
                    f"{room.free_mem_bytes / 2**30:.2f} GiB are free")
    except RunbookError as exc:
        outcome.status, outcome.error = "failed", exc.as_dict()
    except Exception as exc:  # a bug or an unforeseen answer: still a report that says where it stopped
        outcome.status, outcome.error = "failed", error_dict(exc)
    outcome.seconds = timer.stop()
    store.record("preflight", result, status=outcome.status, error=outcome.error)
    say(f"preflight: {outcome.status}" + (f" — {outcome.error['problem']}" if outcome.error else ""))
    return outcome


def run(params: dict[str, Any], steps: Sequence[str] | str | None = None, *, run_id: str = "",
        say: Say = lambda line: print(line, file=sys.stderr, flush=True)) -> RunOutcome:
    """The whole runbook, headless. Bad input still yields a run folder with a report saying why."""
    started = iso_now()
    outputs_dir = REPO_ROOT / "outputs"
    try:
        config = RunbookConfig.from_sources(params)
        outputs_dir = config.path(config.outputs_dir)
        selected = parse_steps(steps)
    except ConfigError as exc:
        if isinstance(params.get("outputs_dir"), str) and params["outputs_dir"]:  # still honour where to write
            outputs_dir = RunbookConfig().path(params["outputs_dir"])
        return bad_input(exc, outputs_dir, run_id, started, say)
    store = open_run(outputs_dir / (run_id or new_run_id()), outputs_dir=outputs_dir)
    store.save_config(config)
    say(f"run {store.run_id}: steps {','.join(selected)} -> {store.run_dir}")
    ensure_tools_on_path()  # before the first kernel starts: kernels keep the PATH they start with
    ahead = kernels.KernelsAhead(selected, store.run_dir / "logs", NOTEBOOKS_DIR)  # boots during preflight
    try:
        return run_steps(config, params, selected, store, started, ahead, say)
    finally:
        ahead.close()  # last: a kernel asked to stop exits while the video and the report are made


def run_steps(config: RunbookConfig, params: dict[str, Any], selected: list[str], store: EvidenceStore,
              started: str, ahead: kernels.KernelsAhead, say: Say) -> RunOutcome:
    """Preflight, the selected steps in order (or skipped after a failure), the demo video and the report."""
    outcomes = [run_preflight(config, selected, store, say)]
    failed = outcomes[0].status == "failed"
    # The notebooks receive the validated values (not the raw strings), so they validate the same way.
    nb_params = {k: v for k, v in config.to_dict().items() if k in params or k in config.changed()}
    preflight_failed = failed
    # Each executed notebook is exported to HTML on a side thread while the next step runs (the first export
    # imports nbconvert, about 2 s); the report waits for them. (papermill's import, 1.6 s of it a URI grammar
    # that jsonschema builds, gains nothing on that thread: it competes with preflight for the same core.)
    exports = ThreadPoolExecutor(max_workers=1, thread_name_prefix="html-export")
    pending: list[tuple[StepOutcome, Future[Path | None]]] = []
    for step in selected:
        cleanup = step == "teardown" and config.teardown_on_failure and not preflight_failed
        if failed and not cleanup:
            outcomes.append(StepOutcome(step, "skipped", note="skipped: an earlier step failed"))
            continue
        say(f"step {step}: running notebooks/{NOTEBOOKS[step]}")
        outcome = run_notebook(step, store, nb_params, say, ahead)
        if Path(outcome.notebook).exists():
            pending.append((outcome, exports.submit(export_html, Path(outcome.notebook))))
        if failed:
            outcome.note = "ran after a failed step, to clean up (teardown_on_failure=true)"
        outcomes.append(outcome)
        failed = failed or outcome.status == "failed"
    if "teardown" in selected:  # the demo video closes a run that went to the end; the report links it
        from .video import make_for_run

        make_for_run(store, config, say)
    for outcome, export in pending:
        html = export.result()
        outcome.html = str(html) if html else ""
    exports.shutdown()
    report = build_report(store, config, outcomes, started_at=started)
    if "aiops" in selected:
        from .cheatsheet import write_for_run

        write_for_run(store.run_dir)  # into the run folder; `make cheatsheet` refreshes docs/ on purpose
    say(f"report: {report.report_html} (exit code {report.exit_code})")
    return RunOutcome(store.run_dir, report.exit_code, report, outcomes)


def bad_input(exc: ConfigError, outputs_dir: Path, run_id: str, started: str, say: Say) -> RunOutcome:
    """Bad parameters: no step runs, but the run folder and its report say what was wrong."""
    say(f"bad input: {exc}")
    store = open_run(outputs_dir / (run_id or new_run_id()), outputs_dir=outputs_dir)
    (store.run_dir / "parameters.json").write_text(json.dumps({"error": exc.as_dict()}, indent=2) + "\n")
    outcome = StepOutcome("config", "failed", error=exc.as_dict(), note="parameters rejected before any step ran")
    store.record("config", {}, status="failed", error=exc.as_dict())
    report = build_report(store, RunbookConfig(), [outcome], started_at=started,
                          history_csv=outputs_dir / "history.csv")
    say(f"report: {report.report_html} (exit code {report.exit_code})")
    return RunOutcome(store.run_dir, report.exit_code, report, [outcome])


def ensure_tools_on_path() -> None:
    """The tools the project builds live in $TODO_RUNBOOK_CACHE/bin; put it on PATH like the Makefile."""
    from .config import cache_root

    bin_dir = cache_root() / "bin"
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if str(bin_dir) not in parts:  # also before it exists: the test bed's build may make it during the run
        os.environ["PATH"] = os.pathsep.join([str(bin_dir), *parts])
