from todo_runbook.config import RunbookConfig
from todo_runbook.criteria import FAIL, NOT_APPLICABLE, NOT_MEASURED, NOT_RUN, PASS, all_passed, evaluate

from . import evidence_samples as samples

ALL = ["build", "load", "deploy", "verify", "aiops", "teardown"]


def ok(result):
    return {"status": "ok", "result": result}


def full_evidence(**overrides):
    evidence = {"build": ok(samples.build()), "deploy": ok(samples.deploy()), "verify": ok(samples.verify()),
                "aiops": ok(samples.aiops()), "teardown": ok(samples.teardown()), "video": ok(samples.video())}
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
    health = crit["health_p95_ms"]
    assert health.status == PASS  # the latency is still measured, and says how the app was reached
    assert health.how == ("timed HTTP GETs through a kubectl port-forward, not the ingress "
                          "(no IngressClass in the cluster -> kubectl port-forward)")


def test_the_health_latency_says_it_went_through_the_ingress_with_the_host_header():
    health = by_key(evaluate(RunbookConfig(), full_evidence(), ALL))["health_p95_ms"]
    assert health.how == ("timed HTTP GETs through the ingress with the Host header "
                          "(GET http://127.0.0.1:30080/api/health -> 200)")
    unreached = samples.verify()
    unreached["access"], unreached["latency"] = "", None  # verify stopped before it connected
    health = by_key(evaluate(RunbookConfig(), full_evidence(verify=ok(unreached)), ALL))["health_p95_ms"]
    assert health.status == NOT_MEASURED and health.how == "timed HTTP GETs"


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


def test_the_browser_criterion_passes_only_when_the_task_appeared():
    crit = by_key(evaluate(RunbookConfig(), full_evidence(), ALL))
    assert crit["browser_chat_ui"].status == PASS and crit["browser_chat_ui"].measured is True
    verify = samples.verify()
    verify["browser"] = samples.browser(False, reason="stopped at “see buy milk”: the page showed: Sign in")
    crit = by_key(evaluate(RunbookConfig(), full_evidence(verify=ok(verify)), ALL))
    assert crit["browser_chat_ui"].status == FAIL and "the page showed: Sign in" in crit["browser_chat_ui"].reason


def test_no_browser_is_not_measured_with_the_reason_and_the_install_command():
    verify = samples.verify()
    verify["browser"] = samples.browser(None, reason="no headless Chromium: apt-get failed",
                                        install="scripts/ensure-chromium.sh as root")
    crit = by_key(evaluate(RunbookConfig(), full_evidence(verify=ok(verify)), ALL))["browser_chat_ui"]
    assert crit.status == NOT_MEASURED and crit.failed
    assert "no headless Chromium" in crit.reason and "scripts/ensure-chromium.sh" in crit.reason


def test_the_demo_video_is_measured_from_its_own_evidence_against_its_budget():
    crit = by_key(evaluate(RunbookConfig(), full_evidence(), ALL))["demo_video_s"]
    assert crit.status == PASS and crit.measured == 36.0 and crit.threshold == 90.0
    long = by_key(evaluate(RunbookConfig(), full_evidence(video=ok(samples.video(90.0))), ALL))["demo_video_s"]
    assert long.status == FAIL  # the budget is strict: 90 s is not under 90 s
    missing = samples.video(None, reason="ffmpeg is not installed", install="scripts/apt-ensure.sh ffmpeg")
    crit = by_key(evaluate(RunbookConfig(), full_evidence(video=ok(missing)), ALL))["demo_video_s"]
    assert crit.status == NOT_MEASURED and "scripts/apt-ensure.sh ffmpeg" in crit.reason
    without_teardown = by_key(evaluate(RunbookConfig(), full_evidence(), ALL[:-1]))["demo_video_s"]
    assert without_teardown.status == NOT_RUN


def test_fixable_critical_vulnerabilities_fail_and_no_database_does_not_apply():
    with_critical = dict(samples.build(), sbom=samples.sbom(fixable_critical=2))
    crit = by_key(evaluate(RunbookConfig(), full_evidence(build=ok(with_critical)), ALL))
    assert crit["critical_vulnerabilities"].measured == 2 and crit["critical_vulnerabilities"].status == FAIL
    allowed = by_key(evaluate(RunbookConfig(max_critical_vulnerabilities=2), full_evidence(build=ok(with_critical)),
                              ALL))
    assert allowed["critical_vulnerabilities"].status == PASS
    unscanned = dict(samples.build(), sbom=samples.sbom(fixable_critical=None))
    crit = by_key(evaluate(RunbookConfig(), full_evidence(build=ok(unscanned)), ALL))
    scan = crit["critical_vulnerabilities"]
    assert scan.status == NOT_APPLICABLE and scan.measured is None
    assert scan.reason == "not scanned: no vulnerability database; grype db update ..."


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


def test_smoke_runs_turned_off_do_not_apply_but_a_missing_smoke_run_is_not_measured():
    build = samples.build()
    for image in build["images"]:
        image["smoke"] = {"ok": False, "skipped": True, "detail": "smoke_run=false"}
    crit = by_key(evaluate(RunbookConfig(smoke_run=False), full_evidence(build=ok(build)), ALL))
    assert crit["containers_smoke_run"].status == NOT_APPLICABLE
    assert "smoke_run=false" in crit["containers_smoke_run"].reason and not crit["containers_smoke_run"].failed
    build["images"][0]["smoke"] = None  # one image never smoke-ran although nothing turned it off
    crit = by_key(evaluate(RunbookConfig(), full_evidence(build=ok(build)), ALL))
    assert crit["containers_smoke_run"].status == NOT_MEASURED and crit["containers_smoke_run"].failed
