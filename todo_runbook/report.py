"""The judges' report: summary.json, a self-contained report.html, and outputs/history.csv.

report.html has everything inline (CSS, plots as base64 PNG): it reads offline and by email.
A failed step still gets a report saying which step failed, why, and the failing cell.
"""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import browser, plots, steps, video
from .config import RunbookConfig
from .criteria import FAIL, NOT_APPLICABLE, NOT_MEASURED, NOT_RUN, PASS, Criterion, all_passed, evaluate
from .evidence import EvidenceStore, to_jsonable
from .sbom import overview as sbom_overview
from .shell import mask, mask_tree
from .timing import iso_now

EXIT_OK, EXIT_CRITERIA, EXIT_STEP_FAILED = 0, 1, 2
TREND_KEYS = ("backend_image_mb", "frontend_image_mb", "deploy_s", "pod_start_s", "health_p95_ms")


@dataclass
class StepOutcome:
    step: str
    status: str  # ok | failed | skipped
    notebook: str = ""
    html: str = ""
    seconds: float | None = None
    error: dict[str, str] | None = None
    failing_cell: dict[str, Any] | None = None
    note: str = ""


@dataclass
class ReportResult:
    run_dir: Path
    report_html: Path
    summary_json: Path
    history_csv: Path
    exit_code: int
    criteria: list[Criterion] = field(default_factory=list)


def exit_code(outcomes: Sequence[StepOutcome], table: Sequence[Criterion]) -> int:
    if any(o.status == "failed" for o in outcomes):
        return EXIT_STEP_FAILED
    return EXIT_OK if all_passed(list(table)) else EXIT_CRITERIA


def commands_by_step(evidence: Mapping[str, Mapping[str, Any]]) -> dict[str, list[dict[str, str]]]:
    out = {}
    order = ["preflight", "cluster", *steps.names()]
    for step, payload in sorted(evidence.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99):
        cmds = (payload.get("result") or {}).get("commands") or []
        if cmds:
            out[step] = cmds
    return out


def _row_value(c: Criterion) -> str:
    if c.measured is None:
        return ""
    return str(c.measured) if isinstance(c.measured, bool) else f"{c.measured:g}"


def update_history(path: Path, row: Mapping[str, Any]) -> list[dict[str, str]]:
    """Append (or replace, for the same run id) one row; returns every row for the trend plot."""
    rows: list[dict[str, str]] = []
    if path.exists():
        with path.open(newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r.get("run_id") != row["run_id"]]
    rows.append({k: "" if v is None else str(v) for k, v in row.items()})
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    return rows


def build_report(store: EvidenceStore, config: RunbookConfig, outcomes: Sequence[StepOutcome],
                 started_at: str = "", history_csv: Path | None = None) -> ReportResult:
    evidence = store.all()
    # Steps asked for in this run; one skipped because an earlier step failed still owes its criteria.
    table = evaluate(config, evidence, [o.step for o in outcomes])
    code = exit_code(outcomes, table)
    finished = iso_now()
    cluster = (evidence.get("preflight", {}).get("result") or {}).get("cluster") or {}
    summary = {
        "run_id": store.run_id,
        "started_at": started_at,
        "finished_at": finished,
        "status": {EXIT_OK: "passed", EXIT_CRITERIA: "criteria missed", EXIT_STEP_FAILED: "step failed"}[code],
        "exit_code": code,
        "provider": {k: cluster.get(k) for k in ("provider", "reason", "context", "server_version")} if cluster else {},
        "parameters": config.changed(),
        "steps": [to_jsonable(o) for o in outcomes],
        "criteria": [asdict(c) for c in table],
        "commands": commands_by_step(evidence),
    }
    summary_path = store.run_dir / "summary.json"
    summary_path.write_text(json.dumps(mask_tree(summary), indent=2, default=str) + "\n")
    history_path = history_csv or config.path(config.outputs_dir) / "history.csv"
    history_path.parent.mkdir(parents=True, exist_ok=True)
    row = {"run_id": store.run_id, "finished_at": finished, "status": summary["status"], "exit_code": code,
           "provider": cluster.get("provider", ""), "steps": " ".join(o.step for o in outcomes),
           **{c.key: _row_value(c) for c in table},
           "criteria_passed": sum(c.status == PASS for c in table),
           "criteria_failed": sum(c.failed for c in table)}
    history = update_history(history_path, row)
    report_path = store.run_dir / "report.html"
    report_path.write_text(render_html(summary, table, evidence, config, history))
    return ReportResult(store.run_dir, report_path, summary_path, history_path, code, list(table))


# -- HTML ----------------------------------------------------------------------------------------
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222;
line-height:1.4;padding:0 1em}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;font-size:.9em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}th{background:#f4f4f4}
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}.na{color:#888}
.banner{padding:.8em 1em;border-radius:6px;font-size:1.1em;margin:1em 0}
.banner.ok{background:#dafbe1}.banner.bad{background:#ffebe9}
pre,code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em}
pre{background:#f6f8fa;padding:.6em;overflow-x:auto;white-space:pre-wrap}
img{max-width:100%}.muted{color:#666;font-size:.9em}
.failure{border-left:4px solid #cf222e;padding:.1em 1em;background:#fff8f8}
"""


def _e(value: Any) -> str:
    return html.escape(mask("" if value is None else str(value)))


def _status_class(status: str) -> str:
    return {PASS: "pass", "ok": "pass", FAIL: "fail", "failed": "fail", NOT_MEASURED: "fail"}.get(status, "na")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(fig: Any, caption: str) -> str:
    if fig is None:
        return ""
    return f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{plots.to_base64_png(fig)}">' \
           f"<figcaption class='muted'>{_e(caption)}</figcaption></figure>"


def _criteria_html(table: Sequence[Criterion]) -> str:
    rows = []
    for c in table:
        threshold = f"{c.comparison} {c.threshold:g} {c.unit}" if not isinstance(c.threshold, bool) \
            else f"{c.comparison} {c.threshold}"
        rows.append([_e(c.description), _e(_row_value(c) + (f" {c.unit}" if c.measured is not None and
                                                              not isinstance(c.measured, bool) else "")),
                     _e(threshold), f"<span class='{_status_class(c.status)}'>{_e(c.status)}</span>",
                     _e(c.step), _e(c.how + (f" — {c.reason}" if c.reason else ""))])
    return _table(["criterion", "measured", "threshold", "result", "step", "how measured"], rows)


def _steps_html(steps: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """(the steps table, the failure explanations that go right under the banner)."""
    rows, failures = [], []
    for s in steps:
        link = f"<a href='{_e(Path(s['html']).name)}'>{_e(Path(s['html']).name)}</a>" if s.get("html") else ""
        secs = f"{s['seconds']:.1f} s" if s.get("seconds") is not None else ""
        rows.append([_e(s["step"]), f"<span class='{_status_class(s['status'])}'>{_e(s['status'])}</span>",
                     _e(secs), link, _e(s.get("note", ""))])
        if s["status"] == "failed":
            err = s.get("error") or {}
            cell = s.get("failing_cell") or {}
            block = f"<h3>step <code>{_e(s['step'])}</code> failed</h3>"
            block += f"<p><b>what is wrong:</b> {_e(err.get('problem', 'unknown'))}</p>"
            if err.get("remedy"):
                block += f"<p><b>what to do:</b> {_e(err['remedy'])}</p>"
            if cell:
                block += (f"<p>failing cell #{_e(cell.get('index'))} of {_e(Path(s.get('notebook', '')).name)}"
                          f" ({_e(cell.get('ename'))}):</p><pre>{_e(cell.get('source'))}</pre>")
            failures.append(block)
    table = _table(["step", "status", "time", "executed notebook", "note"], rows)
    return table, (f"<div class='failure'>{''.join(failures)}</div>" if failures else "")


def _commands_html(commands: Mapping[str, Sequence[Mapping[str, str]]]) -> str:
    out = []
    for step, cmds in commands.items():
        lines = "\n".join(f"# {c.get('purpose', '')}\n{c.get('command', '')}" for c in cmds)
        out.append(f"<h3>{_e(step)}</h3><pre>{_e(lines)}</pre>")
    return "".join(out) or "<p class='muted'>no commands recorded</p>"


def _result(evidence: Mapping[str, Mapping[str, Any]], step: str) -> dict[str, Any]:
    return dict((evidence.get(step) or {}).get("result") or {})


def render_html(summary: Mapping[str, Any], table: Sequence[Criterion], evidence: Mapping[str, Mapping[str, Any]],
                config: RunbookConfig, history: Sequence[Mapping[str, Any]]) -> str:
    ok = summary["exit_code"] == EXIT_OK
    passed = sum(c.status == PASS for c in table)
    counted = sum(c.status not in (NOT_RUN, NOT_APPLICABLE) for c in table)
    banner = (f"<div class='banner {'ok' if ok else 'bad'}'><b>{_e(summary['status'])}</b> — "
              f"{passed}/{counted} success criteria met; exit code {summary['exit_code']}</div>")
    prov = summary.get("provider") or {}
    cluster = (f"cluster: {_e(prov.get('provider'))} (context {_e(prov.get('context'))}, Kubernetes "
               f"{_e(prov.get('server_version'))}) — {_e(prov.get('reason'))}") if prov else "no cluster used"
    steps_table, failures = _steps_html(summary["steps"])
    parts = ["<h1>Todo AI Chatbot on Kubernetes — runbook report</h1>",
             f"<p class='muted'>run <code>{_e(summary['run_id'])}</code>, {_e(summary['started_at'])} → "
             f"{_e(summary['finished_at'])}; {cluster}</p>",
             banner, failures, "<h2>Success criteria</h2>", _criteria_html(table),
             "<h2>Steps</h2>", steps_table]
    build, verify, aiops = _result(evidence, "build"), _result(evidence, "verify"), _result(evidence, "aiops")
    deploy, load = _result(evidence, "deploy"), _result(evidence, "load")
    if build.get("images"):
        parts.append("<h2>Images</h2>")
        parts.append(_table(["image", "size", "layers", "build time", "cache hits", "base images", "smoke run"], [
            [_e(i["ref"]), _e(f"{i['size_mb']} MB"), _e(i["layers"]), _e(f"{i['seconds']:.1f} s"),
             _e(f"{i['cache_hits']}/{i['steps']}"), _e(", ".join(i.get("base_images", {}).values())),
             _e(((i.get("smoke") or {}).get("detail") or "")[:120])] for i in build["images"]]))
        parts.append(_figure(plots.image_sizes(build, {"backend": config.max_backend_image_mb,
                                                       "frontend": config.max_frontend_image_mb}),
                             "image sizes and build times against the budgets"))
    parts.append(_sbom_html(build))
    if load.get("images"):
        path = (f"push to the registry {load['registry']}: the nodes pull" if load.get("registry") else
                f"loaded into the nodes ({load.get('method', '')})")
        parts.append(f"<h2>Load</h2><p>path: {_e(path)}</p>" + _table(["image", "method", "digest", "time"], [
            [_e(i["image"]), _e(i["method"]), _e(i.get("digest", "")), _e(f"{i.get('seconds') or 0:.1f} s")]
            for i in load["images"]]))
    if deploy:
        parts.append(f"<h2>Deploy</h2><p>release <code>{_e(deploy.get('release'))}</code> revision "
                     f"{_e(deploy.get('revision'))} ({_e(deploy.get('status'))}) in "
                     f"{_e(deploy.get('seconds'))} s</p>")
    if verify:
        parts.append(_verify_html(verify, config))
    parts.append(video.report_html(_result(evidence, "video")))
    if aiops:
        parts.append(_aiops_html(aiops))
    elif verify.get("diagnosis"):
        parts.append("<h2>Diagnosis</h2>" + _diagnosis_html(verify["diagnosis"]))
    trend = plots.trend(history, [k for k in TREND_KEYS if any(r.get(k) for r in history)] or ["criteria_passed"])
    if trend is not None:
        parts.append("<h2>Trend across runs</h2>" + _figure(trend, f"last {len(history)} runs (outputs/history.csv)"))
    parts.append("<h2>Commands a person would type</h2>" + _commands_html(summary.get("commands") or {}))
    changed = summary.get("parameters") or "none"
    parts.append(f"<p class='muted'>parameters changed from the defaults: {_e(changed)}</p>")
    body = "\n".join(p for p in parts if p)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>runbook report "
            f"{_e(summary['run_id'])}</title><style>{CSS}</style></head><body>{body}</body></html>\n")


def _sbom_html(build: Mapping[str, Any]) -> str:
    summary = sbom_overview(build)
    if summary is None:
        return ""
    rows = [[_e(r["image"]), f"<a href='{_e(r['document'])}'>{_e(r['document'])}</a>" if r["path"] else "—",
             *[_e(r[k]) for k in ("format", "packages", "by type", "largest")]] for r in summary.rows]
    return (f"<h2>Software bill of materials</h2><p>{_e(summary.status)}</p>"
            + (_table(["image", "document", "format", "packages", "by type", "largest"], rows) if rows else "")
            + f"<p>vulnerabilities: {_e(summary.scan)}</p>")


def _verify_html(verify: Mapping[str, Any], config: RunbookConfig) -> str:
    parts = ["<h2>Verify</h2>"]
    if verify.get("pods"):
        parts.append(_table(["pod", "component", "ready", "restarts", "scheduled", "initialized", "containers ready",
                             "ready (s)"], [
            [_e(p["name"]), _e(p["component"]), _e(p["ready"]), _e(p["restarts"]),
             *[_e(p["phases"].get(k)) for k in ("scheduled", "initialized", "containers_ready", "ready")]]
            for p in verify["pods"]]))
        parts.append(_figure(plots.pod_timeline(verify["pods"], config.max_pod_start_s), "pod start phases"))
    parts.append(f"<p>access: {_e(verify.get('access'))} — {_e(verify.get('access_note'))}</p>")
    if verify.get("http"):
        parts.append(_table(["check", "url", "status", "ms"], [
            [_e(h["name"]), _e(h["url"]), f"<span class='{'pass' if h['ok'] else 'fail'}'>{_e(h['status'])}</span>",
             _e(h["ms"])] for h in verify["http"]]))
    chat = verify.get("chat") or {}
    if chat:
        parts.append(f"<p>chat turn “{_e(chat.get('prompt'))}” → mode {_e(chat.get('mode'))}, tools "
                     f"{_e(', '.join(chat.get('tool_calls') or []))}; task added: "
                     f"<b>{_e(chat.get('task_added'))}</b>; reply: “{_e(chat.get('reply'))}”</p>")
    parts.append(browser.report_html(verify.get("browser")))
    parts.append(_figure(plots.latency(verify.get("latency"), config.max_health_p95_ms), "health latency"))
    rolling, recovery = verify.get("rolling") or {}, verify.get("recovery") or {}
    if rolling and not rolling.get("skipped"):
        parts.append(f"<p>rolling update: {_e(rolling.get('failed'))} failed of {_e(rolling.get('requests'))} "
                     f"requests in {_e(rolling.get('seconds'))} s (revision {_e(rolling.get('revision_before'))} → "
                     f"{_e(rolling.get('revision_after'))}); errors: {_e(', '.join(rolling.get('errors') or []))}</p>")
    if recovery and not recovery.get("skipped"):
        parts.append(f"<p>pod kill: {_e(recovery.get('pod_killed'))} replaced by {_e(recovery.get('replacement'))} "
                     f"Ready after {_e(recovery.get('seconds'))} s; data kept: {_e(recovery.get('data_kept'))}; "
                     f"{_e(recovery.get('failed_requests'))} of {_e(recovery.get('requests'))} requests failed</p>")
    res = verify.get("resources") or {}
    parts.append(f"<p class='muted'>metrics: {_e(res.get('detail'))}</p>")
    parts.append(_figure(plots.resources(res), "CPU and memory against requests and limits"))
    if verify.get("error"):
        parts.append(f"<p class='fail'>verify stopped: {_e(verify['error'].get('problem'))}</p>")
    return "".join(parts)


def _diagnosis_html(diag: Mapping[str, Any]) -> str:
    findings = diag.get("findings") or []
    if not findings:
        return f"<p class='pass'>no findings in {_e(diag.get('pods_examined'))} pods / " \
               f"{_e(diag.get('events_examined'))} events</p>"
    return _table(["severity", "rule", "object", "detail", "remedy"], [
        [_e(f["severity"]), _e(f["rule"]), _e(f["object"]), _e(f["detail"]), _e(f["remedy"])] for f in findings])


def _aiops_html(aiops: Mapping[str, Any]) -> str:
    from .aiops_report import aiops_html

    return aiops_html(aiops, _diagnosis_html)
