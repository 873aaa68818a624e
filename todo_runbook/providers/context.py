"""Any cluster in the kubeconfig: reached by its context; its nodes pull the images themselves."""

from __future__ import annotations

from collections.abc import Sequence

from .. import shell
from ..config import RunbookConfig
from ..errors import ConfigError
from .base import (
    GENERIC_INGRESS_HINT,
    GENERIC_METRICS_HINT,
    BuildEngine,
    ClusterTarget,
    LoadOutcome,
    Need,
    Say,
    context_names,
    current_context,
    default_kubeconfig,
)

name = "context"
tools: tuple[str, ...] = ()
tool_versions: dict[str, list[str]] = {}
install_hint = ""
builds_own_tools: frozenset[str] = frozenset()
claims_any_context = True
ingress_hint, metrics_hint = GENERIC_INGRESS_HINT, GENERIC_METRICS_HINT
DOCKER_DESKTOP = "docker-desktop"


def available(config: RunbookConfig) -> tuple[bool, str]:
    kubeconfig = config.kubeconfig or default_kubeconfig()
    names = context_names(kubeconfig)
    return (True, f"{len(names)} context(s) in {kubeconfig}") if names else (False, f"no contexts in {kubeconfig}")


def owns_context(context: str, config: RunbookConfig) -> bool:
    return True  # the fallback (claims_any_context): asked only after every other provider declined


def resolve(config: RunbookConfig, reason: str, *, prepare: bool, say: Say, need: Need) -> ClusterTarget:
    kubeconfig = config.kubeconfig or default_kubeconfig()
    context = config.kube_context or current_context(kubeconfig)
    if not context:
        raise ConfigError("provider=context needs a kube context, and the kubeconfig has no current one",
                          f"pass kube_context=NAME (see `kubectl config get-contexts`; kubeconfig {kubeconfig})")
    names = context_names(kubeconfig)
    if context not in names:
        raise ConfigError(f"kube context '{context}' is not in {kubeconfig} (it has: {', '.join(names) or 'none'})",
                          "pass kube_context=NAME with one of those, or kubeconfig=PATH for another file")
    load = ("none needed (Docker Desktop shares the engine's images)" if context == DOCKER_DESKTOP else
            "none: the nodes must be able to pull the images (push them to a registry they reach)")
    return ClusterTarget(name, reason, context, kubeconfig, ingress_url=config.ingress_url, load_method=load,
                         cluster_name=context)


def grow_hint(config: RunbookConfig, cpu_m: int, mem_bytes: int) -> str:
    return "add nodes or free capacity in the cluster"


def load_image(target: ClusterTarget, image: str, config: RunbookConfig) -> LoadOutcome:
    # The nodes pull: nothing is copied, and the evidence says so.
    return {"image": image, "method": target.load_method, "seconds": 0.0, "command": "", "skipped": True}


def remove_image(target: ClusterTarget, image: str, config: RunbookConfig) -> list[shell.CommandResult]:
    return []


def stop_argv(target: ClusterTarget, config: RunbookConfig) -> list[str] | None:
    return None  # not ours to stop


def build_engine(config: RunbookConfig) -> BuildEngine | None:
    return None  # the nodes pull from a registry: images are built locally


def prepare_while_building(config: RunbookConfig, steps: Sequence[str], say: Say) -> str | None:
    return None
