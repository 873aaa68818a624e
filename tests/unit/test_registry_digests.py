"""Matching the pods' image IDs with the pushed digests (pod objects as the API returns them)."""

from todo_runbook.registry_push import match_digests

BASE = "127.0.0.1:5443/todo"
DIGEST = "sha256:" + "b" * 64


def pod(name: str, image: str, image_id: str, status_image: str = "") -> dict:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "app", "image": image}]},
            "status": {"containerStatuses": [{"name": "app", "image": status_image or image, "imageID": image_id}]}}


def test_a_pod_running_the_pushed_digest_matches_and_one_running_another_does_not():
    image = f"{BASE}/todo-backend:abc"
    report = match_digests(BASE, [pod("ok", image, f"{BASE}/todo-backend@{DIGEST}"),
                                  pod("other", image, f"{BASE}/todo-backend@sha256:{'c' * 64}")], {image: DIGEST})
    assert [c.matches for c in report.containers] == [True, False] and report.all_match is False


def test_the_image_asked_for_counts_not_another_tag_the_node_shows():
    image = f"{BASE}/todo-backend:abc"
    report = match_digests(BASE, [pod("p", image, f"{BASE}/todo-backend@{DIGEST}",
                                      status_image="docker.io/library/todo-backend:abc")], {image: DIGEST})
    assert report.all_match is True and report.containers[0].image == image


def test_images_outside_the_registry_are_not_judged_and_nothing_seen_is_not_a_pass():
    report = match_digests(BASE, [pod("p", "busybox:1", "docker.io/library/busybox@" + DIGEST)], {})
    assert report.containers == [] and report.all_match is None
