"""A user's own Phase III backend, as its team wrote it, deployed on the test bed by parameters alone.

tests/fixtures/phase3-backend/ has `main.py` at the top (entry `main:app`), `requirements.txt`, routes under
/api/{user_id}/tasks, `BETTER_AUTH_SECRET` and probes at /healthz and /readyz. The runbook builds, loads,
deploys, verifies and tears it down with no file of this repository changed: the generic criteria pass, and
this repository's app checks (sign-up, chat, data kept) are reported as not applicable, with the reason.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import REPO, RunbookRun, run_runbook

pytestmark = [pytest.mark.node, pytest.mark.slow]

PHASE3 = REPO / "tests" / "fixtures" / "phase3-backend"
GENERIC = ("pods_ready", "pod_start_s", "ingress_reachable", "health_p95_ms", "rolling_failed_requests",
           "recovery_s", "teardown_clean", "backend_image_mb", "containers_smoke_run", "deploy_s")


@pytest.fixture(scope="module")
def phase3_run(node_testbed, runbook_outputs) -> RunbookRun:
    return run_runbook(node_testbed, runbook_outputs, "phase3", "--steps", "build,load,deploy,verify,teardown",
                       "-p", f"backend_src={PHASE3}", "-p", "backend_module=main:app",
                       "-p", "backend_health_path=/healthz", "-p", "backend_ready_path=/readyz",
                       "-p", "backend_jwt_secret_env=BETTER_AUTH_SECRET",
                       "-p", "release=phase3", "-p", "namespace=phase3", "-p", "health_requests=50")


def test_the_generic_criteria_pass(phase3_run: RunbookRun) -> None:
    criteria = {c["key"]: c for c in phase3_run.summary["criteria"]}
    failed = {k: criteria[k] for k in GENERIC if criteria[k]["status"] != "pass"}
    assert not failed, f"{failed}\n{phase3_run.stderr[-3000:]}"
    assert phase3_run.returncode == 0, phase3_run.stderr[-3000:]


def test_this_repositorys_app_checks_are_not_applicable(phase3_run: RunbookRun) -> None:
    criteria = {c["key"]: c for c in phase3_run.summary["criteria"]}
    for key in ("chat_adds_task", "data_kept"):
        assert criteria[key]["status"] == "not applicable", criteria[key]
        assert "/api/auth/signup" in criteria[key]["reason"]
    verify = phase3_run.evidence("verify")["result"]
    assert verify["app_checks"]["applicable"] is False and verify["chat"] is None
    # the generic checks reached the app's own probe paths through the ingress
    assert verify["access"] == "ingress"
    assert {h["name"] for h in verify["http"]} >= {"backend /healthz", "backend /readyz"}
    assert all(h["ok"] for h in verify["http"]), verify["http"]


def test_the_app_read_its_own_variable_names(phase3_run: RunbookRun) -> None:
    deploy = phase3_run.evidence("deploy")["result"]
    assert deploy["values"]["backend"]["app"]["envNames"]["jwt"] == "BETTER_AUTH_SECRET"
    build = phase3_run.evidence("build")["result"]
    backend = next(i for i in build["images"] if i["component"] == "backend")
    assert backend["smoke"]["ok"], backend["smoke"]
