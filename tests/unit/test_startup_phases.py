"""Image ready, container started and app listening, from the kubelet's event, the container status and the log."""

from todo_runbook.kube import start_phases
from todo_runbook.startup_phases import START_PHASES, extra_phases, listening_at, merged

POD = "todo-backend-7c9d8f6b5-x2k4q"
# The shapes the API gives (sanitized events), the times of the recorded pod fixture.
EVENTS = [
    {"reason": "Pulled", "involvedObject": {"name": POD, "fieldPath": "spec.initContainers{migrate}"},
     "eventTime": None, "lastTimestamp": "2026-11-26T09:00:01Z"},
    {"reason": "Pulled", "involvedObject": {"name": POD, "fieldPath": "spec.containers{backend}"},
     "eventTime": None, "lastTimestamp": "2026-11-26T09:00:03Z",
     "message": 'Container image "todo-backend:3f2a9c1d0b7e" already present on machine'},
    {"reason": "Pulled", "involvedObject": {"name": "other-pod", "fieldPath": "spec.containers{backend}"},
     "lastTimestamp": "2026-11-26T09:00:30Z"},
    {"reason": "Started", "involvedObject": {"name": POD, "fieldPath": "spec.containers{backend}"},
     "lastTimestamp": "2026-11-26T09:00:04Z"},
]
UVICORN_LOG = """2026-11-26T09:00:04.512345678Z INFO:     Started server process [1]
2026-11-26T09:00:06.250000000Z INFO:     Waiting for application startup.
2026-11-26T09:00:07.100000000Z INFO:     Application startup complete.
2026-11-26T09:00:07.125000000Z INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)
"""
NEXT_LOG = """2026-11-26T09:00:04.000000000Z    ▲ Next.js 16.0.0
2026-11-26T09:00:04.010000000Z    - Local:        http://localhost:3000
2026-11-26T09:00:04.020000000Z  ✓ Starting...
2026-11-26T09:00:04.180000000Z  ✓ Ready in 160ms
"""


def test_the_three_moments_between_initialized_and_containers_ready(fixture_json):
    pod = fixture_json("pod_ready_backend.json")
    extra = extra_phases(pod, EVENTS, {"backend": UVICORN_LOG})
    # the serving container's Pulled event, not the init container's nor another pod's
    assert extra == {"image_ready": 3.0, "container_started": 4.0, "app_listening": 7.125}
    phases = merged(start_phases(pod), extra)
    assert list(phases) == list(START_PHASES)
    assert phases["initialized"] <= phases["image_ready"] <= phases["container_started"] <= phases["app_listening"] \
        <= phases["containers_ready"]


def test_what_each_server_prints_when_it_listens():
    assert listening_at(UVICORN_LOG) == "2026-11-26T09:00:07.125000000Z"
    assert listening_at(NEXT_LOG) == "2026-11-26T09:00:04.180000000Z"
    assert listening_at("2026-11-26T09:00:04Z starting\n2026-11-26T09:00:05Z still starting\n") is None


def test_moments_not_seen_are_none(fixture_json):
    pod = fixture_json("pod_pending_cpu.json")
    assert extra_phases(pod, [], {}) == {"image_ready": None, "container_started": None, "app_listening": None}
    # the latest container decides: a pod listens once its last server does
    two = fixture_json("pod_ready_backend.json")
    later = UVICORN_LOG.replace("09:00:07.125", "09:00:08.500")
    assert extra_phases(two, EVENTS, {"backend": UVICORN_LOG, "sidecar": later})["app_listening"] == 8.5
