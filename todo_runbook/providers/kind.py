"""kind: the cluster named by the context (`kind-X` -> X, `kind_cluster` overrides), `kind load docker-image`.

kind ships no ingress controller and no metrics-server: when they are missing the target says so, with the
install commands, and verify reaches the app through a port-forward that the evidence labels as such.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import shell
from ..config import RunbookConfig
from ..errors import ClusterUnreachableError
from .base import BuildEngine, ClusterTarget, LoadOutcome, Need, Say, default_kubeconfig

name = "kind"
tools = ("kind",)
install_hint = "`go install sigs.k8s.io/kind@v0.33.0` or https://kind.sigs.k8s.io/docs/user/quick-start/"
builds_own_tools: frozenset[str] = frozenset()
claims_any_context = False
CONTEXT_PREFIX = "kind-"
INGRESS_HINT = ("kind has no ingress controller by default: create the cluster with port 80 mapped "
                "(https://kind.sigs.k8s.io/docs/user/ingress/) and install ingress-nginx's kind manifest "
                "(`kubectl apply -f` the deploy-ingress-nginx.yaml that page names)")
METRICS_HINT = ("kind has no metrics-server: install it (`kubectl apply -f` metrics-server's components.yaml, "
                "with --kubelet-insecure-tls) for the CPU and memory plots")
ingress_hint, metrics_hint = INGRESS_HINT, METRICS_HINT


def parse_clusters(stdout: str) -> list[str]:
    """`kind get clusters` prints one name per line (and "No kind clusters found." on stderr when none)."""
    return [line.strip() for line in stdout.splitlines() if line.strip() and " " not in line.strip()]


def cluster_name(config: RunbookConfig) -> str:
    """kind_cluster when given, else the context's `kind-X`, else kind's own default `kind`."""
    if config.kind_cluster:
        return config.kind_cluster
    if config.kube_context.startswith(CONTEXT_PREFIX):
        return config.kube_context[len(CONTEXT_PREFIX):]
    return "kind"


# -- the command lines this provider emits (tests run each through the real kind's flag parser) -----------
def get_clusters_argv() -> list[str]:
    return ["kind", "get", "clusters"]


def load_argv(cluster: str, image: str) -> list[str]:
    return ["kind", "load", "docker-image", image, "--name", cluster]


def create_argv(cluster: str) -> list[str]:
    return ["kind", "create", "cluster", "--name", cluster]


def version_argv() -> list[str]:
    return ["kind", "version"]


tool_versions = {"kind": version_argv()}


def command_lines(cluster: str = "todo-runbook-check") -> list[list[str]]:
    """Every command line this module can produce (run, or shown in a remedy), for the flag-parser tests."""
    return [get_clusters_argv(), load_argv(cluster, "todo-backend:abc"), create_argv(cluster), version_argv()]


# -- the provider ------------------------------------------------------------------------------------------
def available(config: RunbookConfig) -> tuple[bool, str]:
    return (True, "kind is installed") if shell.which("kind") else (False, "kind is not installed")


def owns_context(context: str, config: RunbookConfig) -> bool:
    return context.startswith(CONTEXT_PREFIX)


def resolve(config: RunbookConfig, reason: str, *, prepare: bool, say: Say, need: Need) -> ClusterTarget:
    cluster = cluster_name(config)
    clusters = parse_clusters(shell.run(get_clusters_argv(), timeout=30).stdout)
    if cluster not in clusters:
        found = ", ".join(clusters) or "none"
        raise ClusterUnreachableError(f"kind cluster '{cluster}' does not exist (found: {found})",
                                      f"create it: `{shell.command_line(create_argv(cluster))}` ({INGRESS_HINT}), "
                                      "or pass kind_cluster=NAME / kube_context=kind-NAME")
    return ClusterTarget(name, reason, config.kube_context or f"{CONTEXT_PREFIX}{cluster}",
                         config.kubeconfig or default_kubeconfig(), cluster_name=cluster,
                         # kind's ingress guide maps the node's port 80 to the host's
                         ingress_url=config.ingress_url or "http://127.0.0.1", load_method="kind load docker-image")


def grow_hint(config: RunbookConfig, cpu_m: int, mem_bytes: int) -> str:
    return "give Docker (Desktop) more CPUs and memory, or add worker nodes to the kind cluster's config"


def load_image(target: ClusterTarget, image: str, config: RunbookConfig) -> LoadOutcome:
    res = shell.run(load_argv(target.cluster_name or cluster_name(config), image), timeout=900)
    return {"image": image, "method": "kind load docker-image", "seconds": res.seconds, "command": res.command}


def remove_image(target: ClusterTarget, image: str, config: RunbookConfig) -> list[shell.CommandResult]:
    return []  # kind has no image rm; the node's copy goes with the cluster


def stop_argv(target: ClusterTarget, config: RunbookConfig) -> list[str] | None:
    return None  # a kind cluster is the user's: `kind delete cluster` is theirs to run


def build_engine(config: RunbookConfig) -> BuildEngine | None:
    return None  # kind's nodes run containerd only: images are built locally and loaded


def prepare_while_building(config: RunbookConfig, steps: Sequence[str], say: Say) -> str | None:
    return None  # the cluster is the user's, already running
