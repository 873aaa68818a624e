import csv
import json
import re

from todo_runbook.config import RunbookConfig
from todo_runbook.evidence import EvidenceStore
from todo_runbook.report import EXIT_CRITERIA, EXIT_OK, EXIT_STEP_FAILED, StepOutcome, build_report

from . import evidence_samples as samples

STEPS = ["build", "load", "deploy", "verify", "aiops", "teardown"]


def make_store(tmp_path, name="run-1", **results):
    store = EvidenceStore(tmp_path / "outputs" / name).ensure()
    for step, result in results.items():
        store.record(step, result)
    return store


def outcomes(failed: str = "") -> list[StepOutcome]:
    out, stop = [], False
    for step in STEPS:
        if stop:
            out.append(StepOutcome(step, "skipped", note="skipped: an earlier step failed"))
        elif step == failed:
            out.append(StepOutcome(step, "failed", notebook=f"/x/{step}.ipynb", html=f"/x/{step}.html",
                                   error={"problem": "helm upgrade timed out", "remedy": "look at kubectl get pods"},
                                   failing_cell={"index": 4, "source": "release = run_step(...)",
                                                 "ename": "CommandTimeoutError", "evalue": "..."}))
            stop = True
        else:
            out.append(StepOutcome(step, "ok", notebook=f"/x/{step}.ipynb", html=f"/x/{step}.html", seconds=3.0))
    return out


def full(tmp_path, name="run-1", **over):
    results = {"build": samples.build(), "load": {"images": [], "commands": []}, "deploy": samples.deploy(),
               "verify": samples.verify(), "aiops": samples.aiops(),
               "teardown": samples.teardown(), "video": samples.video()}
    results.update(over)
    return make_store(tmp_path, name, **results)


def test_a_passing_run_writes_a_self_contained_report(tmp_path):
    config = RunbookConfig(outputs_dir=str(tmp_path / "outputs"))
    result = build_report(full(tmp_path), config, outcomes(), started_at="2026-11-26T09:00:00+00:00")
    assert result.exit_code == EXIT_OK
    html = result.report_html.read_text()
    # Self-contained: plots inline, no outside scripts, styles or images.
    assert html.count("data:image/png;base64,") >= 4
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<link" not in html and "<script" not in html
    summary = json.loads(result.summary_json.read_text())
    assert summary["status"] == "passed" and summary["exit_code"] == 0
    assert {c["key"] for c in summary["criteria"]} >= {"backend_image_mb", "deploy_s", "health_p95_ms"}
    assert all(c["status"] == "pass" for c in summary["criteria"])
    assert "helm upgrade --install todo helm/todo-app -n todo --wait" in json.dumps(summary["commands"])


def test_a_missed_criterion_gives_exit_1_and_says_fail(tmp_path):
    config = RunbookConfig(outputs_dir=str(tmp_path / "outputs"), max_health_p95_ms=10)
    result = build_report(full(tmp_path), config, outcomes())
    assert result.exit_code == EXIT_CRITERIA
    summary = json.loads(result.summary_json.read_text())
    assert next(c for c in summary["criteria"] if c["key"] == "health_p95_ms")["status"] == "fail"
    assert "criteria missed" in result.report_html.read_text()


def test_a_failed_step_report_shows_the_step_the_reason_and_the_cell(tmp_path):
    store = make_store(tmp_path, build=samples.build(), load={"images": [], "commands": []})
    store.record("deploy", {}, status="failed", error={"problem": "helm upgrade timed out"})
    result = build_report(store, RunbookConfig(outputs_dir=str(tmp_path / "outputs")), outcomes(failed="deploy"))
    assert result.exit_code == EXIT_STEP_FAILED
    html = result.report_html.read_text()
    assert "step <code>deploy</code> failed" in html and "helm upgrade timed out" in html
    assert "look at kubectl get pods" in html and "failing cell #4" in html and "release = run_step(...)" in html
    summary = json.loads(result.summary_json.read_text())
    statuses = {c["key"]: c["status"] for c in summary["criteria"]}
    assert statuses["backend_image_mb"] == "pass" and statuses["deploy_s"] == "not measured"
    assert statuses["health_p95_ms"] == "not measured"  # verify was asked for but never ran


def test_history_gets_one_row_per_run_and_rebuilding_replaces_it(tmp_path):
    config = RunbookConfig(outputs_dir=str(tmp_path / "outputs"))
    first = build_report(full(tmp_path, "run-1"), config, outcomes())
    build_report(full(tmp_path, "run-1"), config, outcomes())
    verify = samples.verify(p95=20.0)
    second = build_report(full(tmp_path, "run-2", verify=verify), config, outcomes())
    rows = list(csv.DictReader(first.history_csv.open()))
    assert [r["run_id"] for r in rows] == ["run-1", "run-2"]
    assert rows[1]["health_p95_ms"] == "20" and rows[0]["criteria_failed"] == "0"
    assert "Trend across runs" in second.report_html.read_text()


def test_secrets_never_reach_the_report(tmp_path):
    from todo_runbook import shell

    secret = "s3cr3t-jwt-value-for-test"
    shell.register_secret(secret)
    deploy = samples.deploy()
    deploy["commands"].append({"purpose": "x", "command": f"helm upgrade --set secrets.jwtSecret={secret}", "at": ""})
    result = build_report(full(tmp_path, deploy=deploy), RunbookConfig(outputs_dir=str(tmp_path / "outputs")),
                          outcomes())
    for path in (result.report_html, result.summary_json, *result.run_dir.glob("evidence/*.json")):
        assert secret not in path.read_text(), path
