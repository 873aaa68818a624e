"""What every provider shares: the Provider protocol, the ClusterTarget it resolves, kube helpers.

Like kind's `Provider` interface: one small protocol, one module per provider. Nothing outside this
package branches on a provider's name; it asks the provider.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .. import shell
from ..config import PROVIDER_NAMES, RunbookConfig
from ..errors import ClusterUnreachableError
from ..progress import Progress

Say = Progress  # a line for the person running the runbook
# The release's peak request (CPU millicores, memory bytes), computed only when a provider must size a cluster.
Need = Callable[[], tuple[int, int]]


def quiet(line: str) -> None:
    """The default listener: library callers (notebooks, tests) do not need progress lines."""


@dataclass
class ClusterTarget:
    provider: str
    reason: str
    context: str
    kubeconfig: str
    server: str = ""
    server_version: str = ""
    ingress_url: str = ""
    # where the same ingress answers HTTPS (empty: https://<ingress_url host> when that uses the default port)
    ingress_https_url: str = ""
    load_method: str = ""
    nodes: list[str] = field(default_factory=list)
    containerd_address: str = ""
    # every real node's containerd when there are several (the test bed's second node): the load path fills each
    containerd_addresses: list[str] = field(default_factory=list)
    commands: list[dict[str, str]] = field(default_factory=list)
    # kind cluster / minikube profile / test bed name: what the provider's own CLI calls this cluster
    cluster_name: str = ""
    # why the ingress cannot be used (no controller, node IP not reachable...): verify then uses a labelled
    # port-forward, and the "through the ingress" criterion cannot pass
    ingress_note: str = ""
    notes: list[str] = field(default_factory=list)

    def kubectl(self, *args: str) -> list[str]:
        return ["kubectl", "--kubeconfig", self.kubeconfig, "--context", self.context, *args]

    def helm(self, *args: str) -> list[str]:
        return ["helm", *args, "--kubeconfig", self.kubeconfig, "--kube-context", self.context]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClusterTarget:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


LoadOutcome = dict[str, Any]


@dataclass(frozen=True)
class BuildEngine:
    """A Docker engine inside the cluster: images built there are on the node already (no load step)."""

    env: dict[str, str]  # DOCKER_HOST and the rest, for the Docker SDK and syft
    label: str  # how the evidence names the engine, e.g. "minikube's daemon"
    command: str  # the shell line that points `docker` at it, for the recorded commands
    purpose: str  # why the run does that, for the recorded commands


GENERIC_INGRESS_HINT = ("install an ingress controller (ingress-nginx or Traefik) and give it an IngressClass; "
                        "until then verify uses a port-forward, labelled as such")
GENERIC_METRICS_HINT = "install metrics-server for the CPU and memory plots"


class Provider(Protocol):
    """One way of reaching a cluster and getting images onto its nodes. Callers outside this package ask these
    members and never compare provider names."""

    name: str
    tools: tuple[str, ...]  # CLIs it needs on PATH (preflight checks them)
    # for each of `tools`, the command preflight reads its version with
    tool_versions: Mapping[str, list[str]]
    install_hint: str  # how to get those CLIs
    # the runbook's own tools (helm, kubectl) this provider builds while preparing its cluster: preflight lets
    # them be missing until then
    builds_own_tools: frozenset[str]
    # True for the fallback that takes any kube context no other provider claims
    claims_any_context: bool
    ingress_hint: str  # what to install when the cluster has no IngressClass
    metrics_hint: str  # what to install when the cluster has no metrics API

    def available(self, config: RunbookConfig) -> tuple[bool, str]:
        """Can this provider be used on this machine at all (its CLI installed...), and why (not)."""
        ...

    def owns_context(self, context: str, config: RunbookConfig) -> bool:
        """True when a kube context belongs to a cluster this provider manages."""
        ...

    def resolve(self, config: RunbookConfig, reason: str, *, prepare: bool, say: Say, need: Need) -> ClusterTarget:
        """The target, started/prepared when `prepare` (and allowed by config.start_cluster); a cluster the
        provider creates is sized for `need()`."""
        ...

    def load_image(self, target: ClusterTarget, image: str, config: RunbookConfig) -> LoadOutcome:
        """Make a local image available to the nodes: method, seconds, command."""
        ...

    def remove_image(self, target: ClusterTarget, image: str, config: RunbookConfig) -> list[shell.CommandResult]:
        """Remove a loaded image from the nodes (the engine's copy is removed by the caller)."""
        ...

    def stop_argv(self, target: ClusterTarget, config: RunbookConfig) -> list[str] | None:
        """The command that stops the cluster, or None when it is not ours to stop."""
        ...

    def build_engine(self, config: RunbookConfig) -> BuildEngine | None:
        """The cluster's own Docker engine when the config asks to build straight into it, else None."""
        ...

    def prepare_while_building(self, config: RunbookConfig, steps: Sequence[str], say: Say) -> str | None:
        """Start slow cluster preparation in the background while the images build (the test bed's compile);
        returns the note preflight records, or None when the cluster is to be resolved now."""
        ...

    def grow_hint(self, config: RunbookConfig, cpu_m: int, mem_bytes: int) -> str:
        """How to give the cluster the CPU (millicores) and memory (bytes) the release needs."""
        ...


def default_kubeconfig() -> str:
    env = os.environ.get("KUBECONFIG", "")
    return env.split(os.pathsep)[0] if env else str(Path.home() / ".kube" / "config")


def current_context(kubeconfig: str) -> str:
    try:
        from kubernetes import config as kconfig

        _, active = kconfig.list_kube_config_contexts(config_file=kubeconfig)
        return str(active["name"]) if active else ""
    except Exception:  # no file, unreadable file, no current-context: all mean "none"
        return ""


def context_names(kubeconfig: str) -> list[str]:
    try:
        from kubernetes import config as kconfig

        contexts, _ = kconfig.list_kube_config_contexts(config_file=kubeconfig)
        return [str(c["name"]) for c in contexts or []]
    except Exception:
        return []


def probe(kubeconfig: str, context: str, timeout: float = 5) -> tuple[bool, str, str]:
    """(answers, server URL, version or the error) for one kube context."""
    try:
        from kubernetes import client
        from kubernetes import config as kconfig

        api = kconfig.new_client_from_config(
            config_file=kubeconfig, context=context or None)
    except Exception as exc:
        return False, "", f"cannot read kubeconfig {kubeconfig} (context {context or 'current'}): {exc}"
    server = api.configuration.host
    try:
        info = client.VersionApi(api).get_code(_request_timeout=timeout)
        return True, server, info.git_version
    except Exception as exc:
        # urllib3 wraps the socket error twice; its innermost reason is the readable part.
        reason = getattr(exc, "reason", None) or exc
        reason = getattr(reason, "reason", None) or reason
        return False, server, f"{type(reason).__name__}: {str(reason).splitlines()[0][:200]}"
    finally:
        api.close()


def api_client(target: ClusterTarget) -> Any:  # kubernetes.client.ApiClient
    from kubernetes import config as kconfig

    return kconfig.new_client_from_config(
        config_file=target.kubeconfig, context=target.context)


def unreachable(kubeconfig: str, context: str, server: str, detail: str) -> ClusterUnreachableError:
    return ClusterUnreachableError(
        f"the cluster of context '{context}' ({server or 'no server'}) in {kubeconfig} does not answer: {detail}",
        f"start it (minikube start / kind create cluster / `make cluster-up` for the test bed), check "
        f"`kubectl --kubeconfig {kubeconfig} --context {context} cluster-info`, or choose another with "
        f"-p provider={'|'.join(PROVIDER_NAMES)} -p kube_context=NAME",
    )


def no_need() -> tuple[int, int]:
    """Without a chart to render: the plan's default release (2+2 pods at 250m/256Mi, surge, PostgreSQL)."""
    return 1600, 2 * 2**30
