import copy

from todo_runbook.kube import app_pods, is_ready, pod_report, service_report, start_phases


def test_start_phases_are_seconds_from_creation(fixture_json):
    pod = fixture_json("pod_ready_backend.json")
    assert start_phases(pod) == {"scheduled": 1.0, "initialized": 2.0, "containers_ready": 9.0, "ready": 9.0}


def test_phases_not_reached_are_none(fixture_json):
    phases = start_phases(fixture_json("pod_crashloop_oom.json"))
    assert phases["scheduled"] == 1.0 and phases["initialized"] == 2.0
    assert phases["containers_ready"] is None and phases["ready"] is None
    assert start_phases(fixture_json("pod_pending_cpu.json")) == dict.fromkeys(
        ("scheduled", "initialized", "containers_ready", "ready"))


def test_pod_report_counts_restarts_and_component(fixture_json):
    report = pod_report(fixture_json("pod_crashloop_oom.json"))
    assert (report.component, report.ready, report.restarts, report.node) == ("backend", False, 4, "todo-node-0")
    ok = pod_report(fixture_json("pod_ready_backend.json"))
    assert ok.ready and ok.restarts == 0 and ok.resources["backend"]["limits"]["memory"] == "512Mi"


def test_service_report_counts_ready_and_unready_endpoints(fixture_json):
    data = fixture_json("service_endpoints.json")
    report = service_report(data["service"], data["endpoints"])
    assert (report.ready_endpoints, report.not_ready_endpoints) == (2, 1)
    assert report.ports == ["http:8000->http"]
    assert service_report(data["service"], None).ready_endpoints == 0


def test_app_pods_skip_finished_and_terminating(fixture_json):
    running = fixture_json("pod_ready_backend.json")
    finished = copy.deepcopy(running)
    finished["status"]["phase"] = "Succeeded"
    terminating = copy.deepcopy(running)
    terminating["metadata"]["deletionTimestamp"] = "2026-11-26T09:10:00Z"
    assert app_pods([running, finished, terminating]) == [running]
    assert is_ready(running) and not is_ready(finished | {"status": {"conditions": []}})
