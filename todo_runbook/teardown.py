"""Teardown: helm uninstall, namespace deletion waited for, optional image removal and cluster stop,
then proof that nothing of the release is left.

Order, for speed without a shortcut: the workloads go with their pods orphaned; the pods are stopped with a
short grace period; once every pod has stopped, the namespace deletion is requested, so the namespace
controller's fixed 5 s delay runs while the volume claims are deleted and the stopped pods are removed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import providers, shell
from .config import RunbookConfig
from .faults import scratch_namespace
from .kube import INSTANCE_LABEL, Kube
from .providers import ClusterTarget, api_client
from .timing import Timer
from .tls import delete_release_secrets

PROTECTED_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}


@dataclass
class TeardownResult:
    release: str
    namespace: str
    uninstalled: bool = False
    namespace_deleted: bool = False
    seconds: float = 0.0
    images_removed: list[str] = field(default_factory=list)
    cluster_stopped: bool = False
    leftovers: list[str] = field(default_factory=list)
    # Released volumes the StorageClass keeps on purpose (reclaim policy Retain): the cluster's to wipe.
    retained_volumes: list[str] = field(default_factory=list)
    nothing_left: bool | None = None
    # Where the seconds went, one after the other: uninstall_s, pods_stopped_s, claims_deleted_s, namespace_s.
    phases: dict[str, float] = field(default_factory=dict)
    # The namespace's deletion, request to gone (it overlaps the claims' deletion; at least the controller's 5 s).
    namespace_deletion_s: float = 0.0
    commands: list[dict[str, str]] = field(default_factory=list)


def retained_volumes(kube: Kube, config: RunbookConfig) -> list[str]:
    return [f"persistentvolume {pv.metadata.name} (Released, reclaim policy Retain)"
            for pv in kube.core.list_persistent_volume().items
            if pv.spec.claim_ref and pv.spec.claim_ref.namespace == config.namespace
            and pv.status.phase == "Released" and pv.spec.persistent_volume_reclaim_policy == "Retain"]


def leftovers(kube: Kube, target: ClusterTarget, config: RunbookConfig) -> list[str]:
    """Anything of the release that still exists: the helm release, labelled objects, the namespace,
    volumes still bound or about to be deleted (not the ones the StorageClass retains on purpose)."""
    from kubernetes.client.exceptions import ApiException

    found = []
    res = shell.run(target.helm("list", "-A", "-q", "--filter", f"^{config.release}$"), timeout=60, check=False)
    if res.ok and res.stdout.strip():
        found.append(f"helm release {config.release}")
    selector = f"{INSTANCE_LABEL}={config.release}"
    lists = {
        "pod": kube.core.list_pod_for_all_namespaces,
        "service": kube.core.list_service_for_all_namespaces,
        "secret": kube.core.list_secret_for_all_namespaces,
        "configmap": kube.core.list_config_map_for_all_namespaces,
        "pvc": kube.core.list_persistent_volume_claim_for_all_namespaces,
        "deployment": kube.apps.list_deployment_for_all_namespaces,
        "statefulset": kube.apps.list_stateful_set_for_all_namespaces,
    }
    for kind, lister in lists.items():
        for item in lister(label_selector=selector).items:
            if item.metadata.namespace == config.namespace:
                found.append(f"{kind} {item.metadata.namespace}/{item.metadata.name}")
    for pv in kube.core.list_persistent_volume().items:
        claim = pv.spec.claim_ref
        retained = pv.status.phase == "Released" and pv.spec.persistent_volume_reclaim_policy == "Retain"
        if claim and claim.namespace == config.namespace and not retained:
            found.append(f"persistentvolume {pv.metadata.name} (claim {claim.namespace}/{claim.name})")
    # The AIOps step's scratch namespace (injected faults) must be gone too.
    for name in (config.namespace, scratch_namespace(config.namespace)):
        if name in PROTECTED_NAMESPACES:
            continue
        try:
            ns = kube.core.read_namespace(name)
            found.append(f"namespace {name} ({ns.status.phase})")
        except ApiException as exc:
            if exc.status != 404:
                raise
    return found


def teardown(target: ClusterTarget, config: RunbookConfig, images: list[str] | None = None) -> TeardownResult:
    result = TeardownResult(config.release, config.namespace)
    kube = Kube(api_client(target))
    timer = Timer().start()
    try:
        with Timer() as phase:
            result.uninstalled = _uninstall(kube, target, config, result)
            # The TLS Secret, which Helm does not own.
            delete_release_secrets(kube.api_client, config.namespace, config.release)
        result.phases["uninstall_s"] = phase.seconds
        deletes_namespace = config.namespace not in PROTECTED_NAMESPACES
        with Timer() as phase:
            if config.teardown_grace_s >= 0:
                _shorten_pod_shutdown(kube, target, config, result)
            # kube-controller-manager looks at a deleted namespace 5 s after the deletion (a fixed delay). Finding a
            # pod still running then, it waits out the pods' whole grace period (30 s here) before it looks again;
            # finding only pods that have stopped (Succeeded/Failed), it looks again within milliseconds. So the
            # namespace is deleted once every pod has stopped, and its 5 s overlap the rest of the teardown.
            if deletes_namespace:
                _wait_stopped(kube, config)
            else:
                _wait_gone(kube.core.list_namespaced_pod, config)
        result.phases["pods_stopped_s"] = phase.seconds
        namespace_clock = Timer().start()
        if deletes_namespace:
            _request_namespace_deletion(kube, config)
        with Timer() as phase:
            # The volume claims meanwhile: one still held by its protection finalizer when the controller looks
            # would make it wait 15 s before it looks again.
            _delete_claims(kube, target, config, result)
        result.phases["claims_deleted_s"] = phase.seconds
        if deletes_namespace:
            # recorded after the claims: run one after the other, `--wait` returns once both are gone
            result.commands.append(shell.recorded(shell.command_line(
                target.kubectl("delete", "namespace", config.namespace, "--wait")), "remove the namespace"))
            with Timer() as phase:
                result.namespace_deleted = _until(lambda: _namespace_gone(kube, config), config.deploy_timeout_s)
            # what the namespace took beyond the claims (its deletion started with them)
            result.phases["namespace_s"] = phase.seconds
            result.namespace_deletion_s = namespace_clock.stop()
        if config.remove_images:
            result.images_removed = _remove_images(target, config, images or [], result)
        if config.stop_cluster:
            result.cluster_stopped = _stop_cluster(target, config, result)
        result.seconds = timer.stop()
        if not result.cluster_stopped:
            # Volume provisioners delete released volumes asynchronously: give them a minute.
            deadline = time.monotonic() + 60
            result.leftovers = leftovers(kube, target, config)
            while result.leftovers and time.monotonic() < deadline:
                time.sleep(2)
                result.leftovers = leftovers(kube, target, config)
            result.retained_volumes = retained_volumes(kube, config)
        result.nothing_left = not result.leftovers
    finally:
        kube.close()
    return result


def _uninstall(kube: Kube, target: ClusterTarget, config: RunbookConfig, result: TeardownResult) -> bool:
    """helm uninstall without --wait. With a teardown grace period, the workloads go first and their pods stay
    (--cascade orphan) so that they can be stopped with the short grace period: pods the controllers delete start
    their own shutdown (preStop sleep included) before any shorter grace period can reach them."""
    argv = target.helm("uninstall", config.release, "-n", config.namespace, "--timeout", f"{config.deploy_timeout_s}s")
    orphan = config.teardown_grace_s >= 0
    res = shell.run([*argv, "--cascade", "orphan"] if orphan else argv, timeout=config.deploy_timeout_s + 60,
                    check=False)
    if orphan and not res.ok and "unknown flag" in res.stderr:  # Helm before 3.12
        orphan = False
        res = shell.run(argv, timeout=config.deploy_timeout_s + 60, check=False)
    result.commands.append(shell.recorded(res.command, "remove the release"))
    if orphan and res.ok:
        # The Deployments' ReplicaSets were orphaned with the pods: remove them, still leaving the pods.
        selector = f"{INSTANCE_LABEL}={config.release}"
        kube.apps.delete_collection_namespaced_replica_set(config.namespace, label_selector=selector,
                                                          propagation_policy="Orphan")
        result.commands.append(shell.recorded(shell.command_line(target.kubectl(
            "delete", "replicasets", "-n", config.namespace, "-l", selector, "--cascade=orphan")),
            "remove the release's ReplicaSets, leaving their pods to stop with the short grace period"))
    return res.ok or "not found" in res.stderr


def _until(done: Callable[[], bool], timeout_s: float) -> bool:
    """Poll `done` every 0.25 s until it is true (True) or `timeout_s` has passed (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.25)
    return False


def _wait_gone(lister: Any, config: RunbookConfig) -> None:
    """Until the release has no object of this kind in its namespace (or the deploy timeout has passed)."""
    selector = f"{INSTANCE_LABEL}={config.release}"
    _until(lambda: not lister(config.namespace, label_selector=selector).items, config.deploy_timeout_s)


def _delete_claims(kube: Kube, target: ClusterTarget, config: RunbookConfig, result: TeardownResult) -> None:
    from kubernetes.client.exceptions import ApiException

    selector = f"{INSTANCE_LABEL}={config.release}"
    try:
        kube.core.delete_collection_namespaced_persistent_volume_claim(config.namespace, label_selector=selector)
    except ApiException as exc:
        if exc.status != 404:  # no namespace: no claims
            raise
    result.commands.append(shell.recorded(shell.command_line(target.kubectl(
        "delete", "pvc", "-n", config.namespace, "-l", selector, "--wait")),
        "remove the database's volume claims (the namespace would remove them too, 15 s later)"))
    _wait_gone(kube.core.list_namespaced_persistent_volume_claim, config)


def _request_namespace_deletion(kube: Kube, config: RunbookConfig) -> None:
    from kubernetes.client.exceptions import ApiException

    try:
        kube.core.delete_namespace(config.namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise


def _namespace_gone(kube: Kube, config: RunbookConfig) -> bool:
    from kubernetes.client.exceptions import ApiException

    try:
        kube.core.read_namespace(config.namespace)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def _wait_stopped(kube: Kube, config: RunbookConfig) -> None:
    """Until every pod of the release has stopped (phase Succeeded or Failed) or is gone."""
    selector = f"{INSTANCE_LABEL}={config.release}"

    def stopped() -> bool:
        pods = kube.core.list_namespaced_pod(config.namespace, label_selector=selector).items
        return all(p.status and p.status.phase in ("Succeeded", "Failed") for p in pods)

    _until(stopped, config.deploy_timeout_s)


def _shorten_pod_shutdown(kube: Kube, target: ClusterTarget, config: RunbookConfig, result: TeardownResult) -> None:
    """Give the release's pods `teardown_grace_s` instead of their own grace period: the kubelet cuts the preStop
    hook at it, sends SIGTERM, and SIGKILL when it runs out."""
    from kubernetes.client.exceptions import ApiException

    selector = f"{INSTANCE_LABEL}={config.release}"
    try:
        kube.core.delete_collection_namespaced_pod(config.namespace, label_selector=selector,
                                                   grace_period_seconds=config.teardown_grace_s)
    except ApiException as exc:
        if exc.status != 404:  # no namespace: nothing to stop
            raise
    result.commands.append(shell.recorded(shell.command_line(target.kubectl(
        "delete", "pods", "-n", config.namespace, "-l", selector, f"--grace-period={config.teardown_grace_s}")),
        "stop the release's pods now (their grace period serves rolling updates, not a teardown)"))


def _remove_images(target: ClusterTarget, config: RunbookConfig, images: list[str],
                   result: TeardownResult) -> list[str]:
    removed = []
    for image in images:
        for res in providers.of_target(target).remove_image(target, image, config):
            result.commands.append(shell.recorded(res.command, f"remove the image from {target.provider}"))
        res = shell.run(["docker", "rmi", image], timeout=120, check=False)
        result.commands.append(shell.recorded(res.command, "remove the image from the engine"))
        if res.ok:
            removed.append(image)
    return removed


def _stop_cluster(target: ClusterTarget, config: RunbookConfig, result: TeardownResult) -> bool:
    argv = providers.of_target(target).stop_argv(target, config)
    if argv is None:
        return False  # kind clusters and foreign contexts are not ours to stop
    res = shell.run(argv, timeout=600, check=False)
    result.commands.append(shell.recorded(res.command, "stop the cluster"))
    return res.ok
