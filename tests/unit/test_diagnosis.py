import copy

from todo_runbook.diagnosis import ERROR, INFO, WARNING, diagnose


def rules(diag):
    return {(f.rule, f.severity) for f in diag.findings}


def test_healthy_pod_with_limits_has_no_findings(fixture_json):
    diag = diagnose("todo", [fixture_json("pod_ready_backend.json")], [])
    assert diag.findings == [] and diag.healthy


def test_pending_pod_says_why_and_how_to_fix(fixture_json):
    diag = diagnose("todo", [fixture_json("pod_pending_cpu.json")], [])
    (finding,) = [f for f in diag.findings if f.rule == "pending_pod"]
    assert finding.severity == ERROR and "Insufficient cpu" in finding.detail
    assert "resources.requests" in finding.remedy
    assert not diag.healthy


def test_pending_reason_from_events_when_the_condition_has_none(fixture_json):
    pod = fixture_json("pod_pending_cpu.json")
    pod["status"]["conditions"] = []
    diag = diagnose("todo", [pod], fixture_json("events_probe.json"))
    assert any(f.rule == "pending_pod" and "Insufficient cpu" in f.detail for f in diag.findings)


def test_crash_loop_with_oom_kill_and_missing_limits(fixture_json):
    diag = diagnose("todo", [fixture_json("pod_crashloop_oom.json")], [])
    found = rules(diag)
    assert ("crash_loop", ERROR) in found and ("oom_killed", ERROR) in found
    assert ("missing_limits", WARNING) in found
    # a crash loop already explains the restarts and the unreadiness: no duplicate findings
    assert not {"restarts", "not_ready"} & {f.rule for f in diag.findings}
    crash = next(f for f in diag.findings if f.rule == "crash_loop")
    assert "exit code 137" in crash.detail and "--previous" in crash.remedy
    oom = next(f for f in diag.findings if f.rule == "oom_killed")
    assert "limits.memory" in oom.remedy


def test_image_pull_error_points_at_loading_the_image(fixture_json):
    diag = diagnose("todo", [fixture_json("pod_image_pull.json")], [])
    (finding,) = [f for f in diag.findings if f.rule == "image_pull"]
    assert "ErrImagePull" in finding.detail and "image load" in finding.remedy


def test_a_pull_from_a_registry_names_the_image_the_registry_and_the_error(fixture_json):
    pod = fixture_json("pod_image_pull.json")
    status = pod["status"]["containerStatuses"][0]
    status["image"] = "127.0.0.1:5443/todo/todo-frontend:abc123"
    status["state"]["waiting"]["message"] = "failed to resolve reference: x509: certificate signed by unknown authority"
    (finding,) = [f for f in diagnose("todo", [pod], []).findings if f.rule == "image_pull"]
    assert "image 127.0.0.1:5443/todo/todo-frontend:abc123 from registry 127.0.0.1:5443" in finding.detail
    assert "unknown authority" in finding.detail
    assert "hosts.toml" in finding.remedy and "imagePullSecrets" in finding.remedy


def test_failing_probe_from_events(fixture_json):
    diag = diagnose("todo", [fixture_json("pod_ready_backend.json")], fixture_json("events_probe.json"))
    (finding,) = [f for f in diag.findings if f.rule == "failing_probe"]
    assert "503" in finding.detail and "seen 3x" in finding.detail


def test_restarts_without_a_crash_loop_are_a_warning(fixture_json):
    pod = fixture_json("pod_ready_backend.json")
    pod["status"]["containerStatuses"][0]["restartCount"] = 2
    diag = diagnose("todo", [pod], [])
    assert ("restarts", WARNING) in rules(diag)


def test_memory_near_the_limit_and_an_idle_cpu_request(fixture_json):
    diag = diagnose("todo", [fixture_json("pod_ready_backend.json")], [], fixture_json("pod_metrics.json"))
    headroom = [f for f in diag.findings if f.rule == "resource_headroom"]
    memory = next(f for f in headroom if "memory" in f.detail)
    assert memory.severity == WARNING and "92%" in memory.detail  # 470Mi of 512Mi
    cpu = next(f for f in headroom if "cpu" in f.detail)
    assert cpu.severity == INFO and "2%" in cpu.detail  # 4.8m of a 250m request


def test_findings_are_sorted_errors_first(fixture_json):
    pods = [fixture_json(n) for n in ("pod_ready_backend.json", "pod_crashloop_oom.json", "pod_image_pull.json")]
    pods[0] = copy.deepcopy(pods[0])
    pods[0]["status"]["containerStatuses"][0]["restartCount"] = 1
    diag = diagnose("todo", pods, fixture_json("events_probe.json"))
    severities = [f.severity for f in diag.findings]
    assert severities == sorted(severities, key={ERROR: 0, WARNING: 1, INFO: 2}.get)
    assert diag.by_rule()["crash_loop"] == 1


def test_a_probe_that_failed_once_while_a_ready_pod_started_is_not_a_finding(fixture_json):
    events = fixture_json("events_probe.json")
    events[0]["count"] = 1
    assert not [f for f in diagnose("todo", [fixture_json("pod_ready_backend.json")], events).findings
                if f.rule == "failing_probe"]
    pod = fixture_json("pod_crashloop_oom.json")
    events[0]["involvedObject"]["name"] = pod["metadata"]["name"]
    assert any(f.rule == "failing_probe" for f in diagnose("todo", [pod], events).findings)
