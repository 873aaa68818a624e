"""The AIOps step as a whole: the plan's prompt catalogue, bad input that never stops the runbook,
the step status when every tool was skipped, and the cheatsheet written from recorded evidence."""

from __future__ import annotations

import json
from pathlib import Path

from todo_runbook import aiops, cheatsheet
from todo_runbook.config import RunbookConfig
from todo_runbook.evidence import to_jsonable

from .test_kubectl_mcp import _dead_cluster


def test_the_plans_prompts_cover_every_task_group():
    groups = {p.group for p in aiops.PLAN_PROMPTS}
    assert groups == set(cheatsheet.GROUPS)
    texts = [p.text for p in aiops.PLAN_PROMPTS]
    assert "Scale backend to 4 replicas in namespace {namespace}" in texts
    assert "analyze cluster health" in texts and "calculate estimated cost for this cluster setup" in texts
    assert {p.text.split()[0] for p in aiops.PLAN_PROMPTS if p.mutating} == {"Scale", "Deploy"}


def test_bad_provider_on_a_dead_cluster_is_evidence_not_a_traceback(tmp_path):
    config = RunbookConfig.from_sources({"aiops_llm_provider": "gtp", "aiops_tools": "kagent,kubectl-ai",
                                         "aiops_timeout_s": "5"}, env={})
    result = aiops.run_aiops(_dead_cluster(tmp_path), config, tmp_path / "aiops")
    assert "unknown model provider 'gtp'" in result.agent.problem and "aiops_llm_provider" in result.agent.problem
    agent_rows = [r for r in result.runs if r.tool == "kagent"]
    assert agent_rows and all(r.outcome.startswith("failed: unknown model provider 'gtp'") for r in agent_rows)
    kubectl_ai_rows = [r for r in result.runs if r.tool == "kubectl-ai"]
    assert kubectl_ai_rows and all("not installed" in r.outcome for r in kubectl_ai_rows)
    assert not result.ai_answered
    assert result.error and "could not read namespace" in result.error["problem"]  # the cluster is dead
    assert result.faults is not None and not result.faults.removed and result.faults.error
    json.dumps(to_jsonable(result))  # the evidence store can record all of it


def test_a_step_whose_every_tool_was_skipped_is_not_ok():
    result = aiops.AiopsResult(runs=[aiops.AiRun("kagent", "p", "", "skipped: not in aiops_tools", "now")])
    assert result.step_status == "skipped"
    result.runs.append(aiops.AiRun("kagent", "p", "", "failed: no answer", "now"))
    assert result.step_status == "ok"


def test_cheatsheet_from_a_runs_evidence(tmp_path):
    run_dir = tmp_path / "run-7"
    (run_dir / "evidence").mkdir(parents=True)
    call = {"command": "kubectl --context tb get pods -n todo -o wide", "exit_code": 0, "refused": "",
            "output": "NAME READY STATUS\nweb-1 1/1 Running"}
    runs = [{"tool": "kagent", "group": "status", "prompt": "Show me all pods in todo namespace", "outcome": "ok",
             "command": "curl -s -X POST http://127.0.0.1:1/", "runner": "kagent-adk 0.10.4",
             "model": "model: offline rules, not an LLM", "answer": "web-1 is Running", "tool_calls": [call],
             "ran_at": "t"},
            {"tool": "docker-ai", "group": "docker", "prompt": "What can you do?", "outcome": "skipped: no plugin",
             "command": "docker ai 'What can you do?'", "ran_at": "t"}]
    (run_dir / "evidence" / "aiops.json").write_text(json.dumps({"result": {"runs": runs}}))
    text = cheatsheet.write_for_run(run_dir).read_text()
    assert text.index("## status") < text.index("Show me all pods") < text.index("## logs")
    assert "$ kubectl --context tb get pods -n todo -o wide\nNAME READY STATUS\nweb-1 1/1 Running" in text
    assert "model: offline rules, not an LLM" in text and "`run-7`" in text
    assert "## logs\n\nNo prompt of this group ran." in text
    assert cheatsheet.latest_run(tmp_path) == run_dir
    out = tmp_path / "docs.md"
    assert cheatsheet.main(["--outputs", str(tmp_path), "--out", str(out)]) == 0 and out.read_text() == text


def test_report_section_shows_prompt_tool_calls_answer_and_faults():
    from todo_runbook.aiops_report import aiops_html

    call = {"command": "kubectl --context tb get pods -n todo -o wide", "exit_code": 0, "refused": "",
            "output": "NAME READY STATUS\nweb-1 1/1 Running"}
    result = {"agent": {"runner": "kagent-adk 0.10.4 agent runtime", "model": "model: offline rules, not an LLM",
                        "venv_reused": True, "venv_build_seconds": 300.0, "runtime_start_seconds": 20.0},
              "runs": [{"tool": "kagent", "group": "status", "prompt": "Show me all pods in todo namespace",
                        "outcome": "ok", "answer": "web-1 is Running", "tool_calls": [call]}],
              "faults": {"namespace": "todo-aiops-faults", "injected": 5, "diagnosed": 5, "removed": True,
                         "removal_proof": "404 NotFound", "faults": [
                             {"what": "failing readiness probe", "agent_answer": "pod x: Readiness probe failed",
                              "diagnosis": "failing_probe: pod/x", "remedy": "fix the probe"}]},
              "diagnosis": {"findings": []}}
    html = aiops_html(result, lambda d: "<p>diagnosis</p>")
    status = html[html.index("<h3>status</h3>"):html.index("<h3>Injected faults</h3>")]
    order = [status.index(text) for text in ("Show me all pods", "get pods -n todo -o wide", "web-1 is Running")]
    assert order == sorted(order)
    assert "5 of 5 diagnosed" in html and "failing_probe: pod/x" in html and "fix the probe" in html
    assert "model: offline rules, not an LLM" in html and "<p>diagnosis</p>" in html


def test_faults_are_judged_by_the_rule_that_names_their_cause():
    from todo_runbook import faults
    from todo_runbook.diagnosis import Diagnosis, Finding

    diag = Diagnosis("scratch", findings=[
        Finding("image_pull", "error", "pod/fault-pull-error-5f-x/main", "ErrImagePull: ...", "load it"),
        Finding("restarts", "warning", "pod/fault-crash-loop-6c-y/main", "restarted 1 time(s)", "logs"),
        Finding("not_ready", "warning", "pod/fault-not-ready-7-z", "running but not Ready", "probe"),
        Finding("failing_probe", "warning", "pod/fault-not-ready-7-z", "Readiness probe failed", "fix the probe"),
        Finding("service_no_endpoints", "error", "service/fault-no-endpoints", "no Ready pod", "selector")])
    judged = {r.fault: r for r in faults.judge(diag)}
    assert judged["pull-error"].diagnosed and judged["pull-error"].remedy == "load it"
    assert not judged["crash-loop"].diagnosed  # one restart is not yet a crash loop
    assert not judged["unschedulable"].diagnosed and judged["unschedulable"].diagnosis == "not named"
    assert judged["not-ready"].diagnosis.startswith("failing_probe")  # the more specific rule wins
    assert judged["no-endpoints"].diagnosed
    images = {m["metadata"]["name"]: m for m in faults.manifests("todo-backend:abc")}
    assert images["fault-crash-loop"]["spec"]["template"]["spec"]["containers"][0]["command"][0] == "sh"
    bare = {m["metadata"]["name"]: m for m in faults.manifests("docker.io/todo-runbook/pause:3.10")}
    assert "sh" not in bare["fault-crash-loop"]["spec"]["template"]["spec"]["containers"][0]["command"]


def test_gordon_is_detected_from_the_docker_cli_plugins_and_hadolint_stands_beside_it():
    from todo_runbook import gordon
    from todo_runbook.config import REPO_ROOT

    present, reason = gordon.detect()
    assert present or "Docker Desktop" in reason  # absent here: the reason names where it comes from
    reviews = gordon.review(REPO_ROOT, {"backend": "dockerfiles/backend.Dockerfile"}, {"backend": ""})
    assert reviews[0].hadolint_note in ("no findings", "") or reviews[0].hadolint  # hadolint really ran
    assert "hadolint not installed" not in reviews[0].hadolint_note
    assert reviews[0].layers_note == "no image of this Dockerfile is known in this run"


def test_the_step_with_the_real_agent_on_a_cluster_that_does_not_answer(agent_venv, tmp_path):
    """Every agent row says kubectl failed (and why); nothing is called answered; the step still records all."""
    config = RunbookConfig.from_sources({"aiops_timeout_s": "60", "aiops_tools": "kagent,kubectl-ai"}, env={})
    result = aiops.run_aiops(_dead_cluster(tmp_path), config, tmp_path / "aiops")
    assert result.agent.runner.startswith("kagent-adk 0.10.4 agent runtime") and not result.agent.problem
    agent_rows = [r for r in result.runs if r.tool == "kagent"]
    assert len(agent_rows) == 14
    for row in agent_rows:
        assert row.outcome.startswith("failed: kubectl ran but did not succeed (exit 1)"), (row.prompt, row.outcome)
        assert row.tool_calls and row.answer.startswith("[model: offline rules, not an LLM]")
        assert "kubectl could not answer" in row.answer
        assert "--context dead" in Path(row.transcript_file).read_text()
    assert not result.ai_answered and result.step_status == "failed"  # the diagnosis could not read the cluster
