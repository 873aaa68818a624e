"""The diagnosis rules added for objects other than pods, on API-shaped dicts (as the API returns them)."""

from __future__ import annotations

from todo_runbook.diagnosis import ClusterObjects, diagnose


def _rules(objects: ClusterObjects, events=None):
    diag = diagnose("shop", [], events or [], None, objects)
    return {(f.rule, f.object): f for f in diag.findings}


def test_service_without_endpoints():
    svc = {"metadata": {"name": "api"}, "spec": {"selector": {"app": "api"}, "ports": [{"port": 80}]}}
    served = {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}}}
    headless_manual = {"metadata": {"name": "ext"}, "spec": {"ports": [{"port": 80}]}}
    endpoints = [{"metadata": {"name": "api"}, "subsets": [{"notReadyAddresses": [{"ip": "10.0.0.1"}]}]},
                 {"metadata": {"name": "web"}, "subsets": [{"addresses": [{"ip": "10.0.0.2"}]}]}]
    found = _rules(ClusterObjects(services=[svc, served, headless_manual], endpoints=endpoints))
    assert list(found) == [("service_no_endpoints", "service/api")]
    assert "selector app=api" in found[("service_no_endpoints", "service/api")].detail


def test_ingress_class_missing_and_controller_missing():
    ing = {"metadata": {"name": "todo"}, "spec": {"ingressClassName": "nginx"}}
    classes = [{"metadata": {"name": "traefik"}}]
    found = _rules(ClusterObjects(ingresses=[ing], ingress_classes=classes))
    detail = found[("ingress_class_missing", "ingress/todo")].detail
    assert "IngressClass 'nginx' does not exist (have: traefik)" in detail
    ok_class = [{"metadata": {"name": "nginx"}}]
    found = _rules(ClusterObjects(ingresses=[ing], ingress_classes=ok_class))
    assert list(found) == [("ingress_controller_missing", "ingress/todo")]
    served = {**ing, "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}}
    assert _rules(ClusterObjects(ingresses=[served], ingress_classes=ok_class)) == {}


def test_rollout_past_progress_deadline():
    dep = {"metadata": {"name": "api"}, "status": {"conditions": [
        {"type": "Available", "status": "True"},
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": 'ReplicaSet "api-5d" has timed out progressing.'}]}}
    found = _rules(ClusterObjects(deployments=[dep]))
    assert "timed out progressing" in found[("rollout_stuck", "deployment/api")].detail
    assert "rollout undo deployment/api" in found[("rollout_stuck", "deployment/api")].remedy


def test_node_pressure_and_evictions():
    node = {"metadata": {"name": "n1"}, "status": {"conditions": [
        {"type": "MemoryPressure", "status": "True", "message": "kubelet has insufficient memory available"},
        {"type": "DiskPressure", "status": "False"}, {"type": "Ready", "status": "True"}]}}
    events = [{"reason": "Evicted", "involvedObject": {"name": "api-1"},
               "message": "The node was low on resource: memory."}]
    found = _rules(ClusterObjects(nodes=[node]), events)
    assert set(found) == {("node_pressure", "node/n1"), ("evicted", "pod/api-1")}


def test_hpa_without_metrics():
    hpa = {"metadata": {"name": "api"}, "status": {"conditions": [
        {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
         "message": "the HPA was unable to compute the replica count: unable to get metrics for resource cpu"}]}}
    healthy = {"metadata": {"name": "web"}, "status": {"conditions": [{"type": "ScalingActive", "status": "True"}]}}
    found = _rules(ClusterObjects(hpas=[hpa, healthy]))
    assert list(found) == [("hpa_no_metrics", "hpa/api")]
    assert "metrics-server" in found[("hpa_no_metrics", "hpa/api")].remedy


def test_without_objects_the_old_signature_still_works():
    assert diagnose("shop", [], []).findings == []
