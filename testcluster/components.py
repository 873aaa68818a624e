"""Version catalog of the control plane and tools the test bed builds (see build.GoComponent).

One Kubernetes minor for the whole test bed: 1.34 still runs a kubelet on cgroup v1 hierarchies
(1.35 and later refuse cgroup v1 by default), which is what this class of CI machine has.
kubelet and kube-proxy are built here too because they share the Kubernetes compilation; the node
part (testcluster.node_components) uses them from $CACHE/bin.
"""

from __future__ import annotations

from pathlib import Path

from testcluster.build import GoComponent, ScriptComponent
from testcluster.paths import MissingBinaryError, Paths

KUBERNETES_VERSION = "v1.34.4"
STAGING_VERSION = "v0.34.4"  # k8s.io/* staging modules published alongside v1.34.4
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"
KWOK_STAGES = (
    "node/fast/node-initialize",
    "node/heartbeat-with-lease/node-heartbeat-with-lease",
    "pod/fast/pod-ready",
    "pod/fast/pod-complete",
    "pod/fast/pod-delete",
)


def _kubernetes_version_ldflags(version: str) -> tuple[str, ...]:
    major, minor = version.lstrip("v").split(".")[:2]
    flags: list[str] = []
    # Both packages carry version variables: the first is what servers report on /version,
    # the second what kubectl prints for its client side.
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
            f"-X {package}.buildDate=1970-01-01T00:00:00Z",
        ]
    return tuple(flags)


KUBERNETES = GoComponent(
    name="kubernetes",
    module="k8s.io/kubernetes",
    version=KUBERNETES_VERSION,
    packages={
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
        "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
        "kubectl": "k8s.io/kubernetes/cmd/kubectl",
        "kubelet": "k8s.io/kubernetes/cmd/kubelet",
        "kube-proxy": "k8s.io/kubernetes/cmd/kube-proxy",
    },
    ldflags=_kubernetes_version_ldflags(KUBERNETES_VERSION),
    local_replace_version=STAGING_VERSION,
    description="Kubernetes control plane, kubectl, kubelet and kube-proxy",
)

ETCD = GoComponent(
    name="etcd",
    module="go.etcd.io/etcd/server/v3",
    version=ETCD_VERSION,
    packages={
        "etcd": "go.etcd.io/etcd/server/v3",
        "etcdctl": "go.etcd.io/etcd/etcdctl/v3",
    },
    require=(f"go.etcd.io/etcd/etcdctl/v3 {ETCD_VERSION}",),
    description="etcd server and etcdctl",
)

KWOK = GoComponent(
    name="kwok",
    module="sigs.k8s.io/kwok",
    version=KWOK_VERSION,
    packages={
        "kwok": "sigs.k8s.io/kwok/cmd/kwok",
        "kwokctl": "sigs.k8s.io/kwok/cmd/kwokctl",
    },
    # kwokctl's default Kubernetes version follows the test bed's, so `kwokctl --runtime binary`
    # picks the binaries we built.
    ldflags=(f"-X sigs.k8s.io/kwok/pkg/consts.KubeVersion={KUBERNETES_VERSION.lstrip('v')}",),
    # kwok needs Stage definitions (how simulated nodes and pods move through their lifecycle); the
    # module ships the upstream defaults, which `up` passes to kwok with --config.
    assets=tuple(f"kustomize/stage/{stage}.yaml" for stage in KWOK_STAGES),
    description="kwok (simulated nodes) and kwokctl",
)

COMPONENTS: list[GoComponent] = [KUBERNETES, ETCD, KWOK]

# Built by other areas' scripts; `python -m testcluster build` runs them so one command builds everything.
SCRIPT_COMPONENTS: list[ScriptComponent] = [
    ScriptComponent(name="helm", script="helm/build-helm.sh", binaries=("helm",), args=("v3",),
                    description="Helm 3 CLI (the runbook's)"),
    ScriptComponent(name="helm4", script="helm/build-helm.sh", binaries=("helm4",), args=("v4",),
                    description="Helm 4 CLI (the chart tests run both)"),
]


def kwok_stage_files(paths: Paths) -> list[Path]:
    """The Stage files `build` copied from the kwok module (missing ones raise with the fix)."""
    share = KWOK.directory(paths) / "share"
    files = [share / pattern for pattern in KWOK.assets]
    missing = [f for f in files if not f.exists()]
    if missing:
        raise MissingBinaryError(
            f"kwok stage definitions are missing ({missing[0]}); rebuild kwok with "
            "`python -m testcluster build kwok --force`."
        )
    return files
