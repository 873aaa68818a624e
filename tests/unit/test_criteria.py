from todo_runbook.config import RunbookConfig
from todo_runbook.criteria import FAIL, NOT_APPLICABLE, NOT_MEASURED, NOT_RUN, PASS, all_passed, evaluate

from . import evidence_samples as samples

ALL = ["build", "load", "deploy", "verify", "aiops", "teardown"]


def ok(result):
    return {"status": "ok", "result": result}


def full_evidence(**overrides):
    evidence = {"build": ok(samples.build()), "deploy": ok(samples.deploy()), "verify": ok(samples.verify()),
                "aiops": ok(samples.aiops()), "teardown": ok(samples.teardown())}
    evidence.update(overrides)
    return evidence


def by_key(table):
    return {c.key: c for c in table}


def test_every_criterion_measured_and_passing():
    table = evaluate(RunbookConfig(), full_evidence(), ALL)
    assert all(c.status == PASS for c in table), [(c.key, c.status) for c in table]
    crit = by_key(table)
    assert crit["backend_image_mb"].measured == 272.4 and crit["pod_start_s"].measured == 9.0
    assert crit["health_p95_ms"].measured == 12.5 and all_passed(table)


def test_a_missed_budget_fails():
    config = RunbookConfig(max_backend_image_mb=250)
    crit = by_key(evaluate(config, full_evidence(verify=ok(samples.verify(p95=700.0, failed=3))), ALL))
    assert crit["backend_image_mb"].status == FAIL
    assert crit["health_p95_ms"].status == FAIL and crit["rolling_failed_requests"].status == FAIL
    assert crit["frontend_image_mb"].status == PASS


def test_budgets_are_strict_upper_bounds():
    config = RunbookConfig(max_deploy_s=48.3)
    assert by_key(evaluate(config, full_evidence(), ALL))["deploy_s"].status == FAIL


def test_a_step_that_ran_without_the_measurement_is_not_measured_and_fails():
    verify = samples.verify()
    verify["latency"] = None
    verify["recovery"] = {"skipped": True}
    crit = by_key(evaluate(RunbookConfig(), full_evidence(verify=ok(verify)), ALL))
    assert crit["health_p95_ms"].status == NOT_MEASURED and crit["health_p95_ms"].failed
    assert crit["recovery_s"].status == NOT_MEASURED and crit["data_kept"].status == NOT_MEASURED
    assert not all_passed(list(crit.values()))


def test_a_failed_step_without_evidence_is_not_measured():
    evidence = full_evidence(deploy={"status": "failed", "result": {}})
    assert by_key(evaluate(RunbookConfig(), evidence, ALL))["deploy_s"].status == NOT_MEASURED


def test_criteria_of_steps_not_in_the_run_do_not_fail_it():
    table = evaluate(RunbookConfig(), {"build": ok(samples.build())}, ["build"])
    crit = by_key(table)
    assert crit["backend_image_mb"].status == PASS and crit["deploy_s"].status == NOT_RUN
    assert all_passed(table)


def test_leftovers_after_teardown_fail():
    crit = by_key(evaluate(RunbookConfig(), full_evidence(teardown=ok(samples.teardown(False))), ALL))
    assert crit["teardown_clean"].status == FAIL and crit["teardown_clean"].measured is False


def test_a_pod_that_never_became_ready_leaves_pod_start_unmeasured():
    verify = samples.verify()
    verify["pods"][1]["phases"]["ready"] = None
    verify["pods"][1]["ready"] = False
    crit = by_key(evaluate(RunbookConfig(), full_evidence(verify=ok(verify)), ALL))
    assert crit["pod_start_s"].status == NOT_MEASURED and crit["pods_ready"].status == FAIL


def test_a_port_forward_does_not_pass_the_ingress_criterion():
    verify = samples.verify()
    verify["access"], verify["access_note"] = "port-forward", "no IngressClass in the cluster -> kubectl port-forward"
    crit = by_key(evaluate(RunbookConfig(), full_evidence(verify=ok(verify)), ALL))
    assert crit["ingress_reachable"].status == FAIL and crit["ingress_reachable"].measured is False
    assert crit["health_p95_ms"].status == PASS  # the latency is still measured, and labelled by access


def test_app_checks_of_another_app_are_not_applicable_with_the_reason():
    verify = samples.verify()
    verify["app_checks"] = {"applicable": False, "reason": "not applicable: the backend does not serve POST /api/chat"}
    verify["chat"], verify["recovery"]["data_kept"] = None, None
    table = evaluate(RunbookConfig(), full_evidence(verify=ok(verify)), ALL)
    crit = by_key(table)
    for key in ("chat_adds_task", "data_kept"):
        assert crit[key].status == NOT_APPLICABLE and "POST /api/chat" in crit[key].reason
        assert not crit[key].failed
    assert crit["recovery_s"].status == PASS and all_passed(table)


def test_aiops_criteria_need_a_real_answer_and_every_fault_named():
    crit = by_key(evaluate(RunbookConfig(), full_evidence(), ALL))
    assert crit["ai_tool_answered"].status == PASS and crit["faults_diagnosed"].measured == 1.0
    crit = by_key(evaluate(RunbookConfig(), full_evidence(aiops=ok(samples.aiops(answered=False, diagnosed=4))), ALL))
    assert crit["ai_tool_answered"].status == FAIL and crit["ai_tool_answered"].measured is False
    assert crit["faults_diagnosed"].status == FAIL and crit["faults_diagnosed"].measured == 0.8
    no_faults = samples.aiops()
    no_faults["faults"] = None
    assert by_key(evaluate(RunbookConfig(), full_evidence(aiops=ok(no_faults)), ALL))["faults_diagnosed"].status \
        == NOT_MEASURED


def test_pods_run_pushed_digests_only_on_the_registry_path():
    loaded = samples.verify()
    loaded["registry_images"] = None
    crit = by_key(evaluate(RunbookConfig(), full_evidence(verify=ok(loaded)), ALL))["pods_run_pushed_digests"]
    assert crit.status == NOT_APPLICABLE and "loaded into the nodes" in crit.reason
    wrong = samples.verify()
    wrong["registry_images"]["containers"][0]["matches"] = False
    assert by_key(evaluate(RunbookConfig(), full_evidence(verify=ok(wrong)), ALL))[
        "pods_run_pushed_digests"].status == FAIL
    none_seen = samples.verify()
    none_seen["registry_images"]["containers"] = []
    assert by_key(evaluate(RunbookConfig(), full_evidence(verify=ok(none_seen)), ALL))[
        "pods_run_pushed_digests"].status == NOT_MEASURED
