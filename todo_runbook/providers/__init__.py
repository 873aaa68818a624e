"""Cluster providers: which cluster to use, how to talk to it, how images reach its nodes.

Each provider is one module here implementing the `Provider` protocol (base.py), registered in
`REGISTRY` in the order auto-detection tries them. Adding one (k3d, Docker Desktop) is one new module
and one line below; nothing else in the package branches on a provider's name.

auto: the current kube context if it answers (its provider is whichever claims the context), else
minikube if installed, else the offline test bed. The choice and the reason are recorded.
"""

from __future__ import annotations

from dataclasses import replace
from typing import cast

from .. import shell
from ..config import RunbookConfig
from ..errors import ConfigError, RunbookError, ToolMissingError
from . import context, kind, minikube, testbed
from .base import (
    ClusterTarget,
    LoadOutcome,
    Need,
    Provider,
    Say,
    api_client,
    current_context,
    default_kubeconfig,
    no_need,
    probe,
    quiet,
    unreachable,
)

# Order matters twice: which provider claims a context (the generic `context` last), and which local
# cluster auto-detection falls back to when no context answers (minikube, then the test bed).
REGISTRY: dict[str, Provider] = {
    m.name: cast(Provider, m) for m in (testbed, minikube, kind, context)
}
AUTO_FALLBACKS = ("minikube", "testbed")

__all__ = ["REGISTRY", "ClusterTarget", "LoadOutcome", "Provider", "Say", "api_client", "default_kubeconfig",
           "get", "load_image", "probe", "resolve"]


def get(name: str) -> Provider:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown provider '{name}'", f"use auto or one of: {', '.join(REGISTRY)}") from None


def of_target(target: ClusterTarget) -> Provider:
    return get(target.provider)


def provider_of_context(ctx: str, config: RunbookConfig) -> str:
    return next(name for name, p in REGISTRY.items() if p.owns_context(ctx, config))


def _auto(config: RunbookConfig, kubeconfig: str) -> tuple[str, list[str], RunbookConfig]:
    """The provider auto-detection picks, the reasons for it (in order), and the config it implies."""
    ctx = config.kube_context or current_context(kubeconfig)
    answers, _, detail = probe(kubeconfig, ctx) if ctx else (False, "", "no current context")
    if answers:
        config = replace(config, kube_context=ctx, kubeconfig=kubeconfig)
        return provider_of_context(ctx, config), [f"the current kube context '{ctx}' answers"], config
    reasons = [f"no kube context answers ({detail})"]
    for name in AUTO_FALLBACKS:
        usable, why = REGISTRY[name].available(config)
        reasons.append(why)
        if usable:
            return name, reasons, config
    raise ConfigError("auto-detection found no cluster", "pass provider=NAME", reasons=reasons,
                      in_notebook=PICK_PROVIDER_IN_NOTEBOOK)


def chosen(config: RunbookConfig) -> str | None:
    """The provider a run would use (auto-detection included), without preparing anything; None when unsure."""
    if config.provider != "auto":
        return config.provider
    try:
        return _auto(config, config.kubeconfig or default_kubeconfig())[0]
    except RunbookError:
        return None


PICK_PROVIDER_IN_NOTEBOOK = ("choose a provider in this notebook's controls (minikube, kind, context: a running "
                             "cluster; testbed: the offline one) and run this cell again")


def resolve(config: RunbookConfig, *, prepare: bool = True, say: Say = quiet, need: Need = no_need) -> ClusterTarget:
    """Pick the cluster and make sure it answers. `prepare` lets a provider start its cluster and enable
    add-ons; `say` hears about waits that take long; `need` sizes a cluster the provider creates."""
    kubeconfig = config.kubeconfig or default_kubeconfig()
    if config.provider == "auto":
        name, reasons, config = _auto(config, kubeconfig)
        reason = "auto: " + "; ".join(reasons)
        chain = [f"auto-detection chose provider '{name}'", *reasons]
    else:
        name, reason = config.provider, f"provider={config.provider} was asked for"
        chain = [reason]
    provider = get(name)
    for tool in provider.tools:
        if not shell.which(tool):
            raise ToolMissingError(f"provider '{name}' needs the {tool} CLI, which is not on PATH",
                                   provider.install_hint, reasons=chain, in_notebook=PICK_PROVIDER_IN_NOTEBOOK)
    try:
        target = provider.resolve(config, reason, prepare=prepare, say=say, need=need)
    except RunbookError as error:  # say how this provider came to be chosen: the fix may be choosing another
        error.explained(chain)
        raise
    answers, server, detail = probe(target.kubeconfig, target.context)
    if not answers:
        raise unreachable(target.kubeconfig, target.context, server, detail)
    target.server, target.server_version = server, detail
    if prepare:
        _note_missing_addons(target, provider)
    target.commands.insert(0, shell.recorded(shell.command_line(target.kubectl("cluster-info")),
                                             "check the cluster answers"))
    return target


def load_image(target: ClusterTarget, image: str, config: RunbookConfig) -> LoadOutcome:
    """Make `image` available to the cluster's nodes; returns method, seconds and the command."""
    return of_target(target).load_image(target, image, config)


def docker_env(config: RunbookConfig) -> dict[str, str] | None:
    """Where the build's Docker engine is when a provider builds straight into its cluster."""
    if config.provider in ("auto", "context"):
        return REGISTRY["minikube"].docker_env(config) if config.build_in_minikube else None
    return get(config.provider).docker_env(config)


GENERIC_INGRESS_HINT = ("install an ingress controller (ingress-nginx or Traefik) and give it an IngressClass; "
                        "until then verify uses a port-forward, labelled as such")
GENERIC_METRICS_HINT = "install metrics-server for the CPU and memory plots"


def _note_missing_addons(target: ClusterTarget, provider: Provider) -> None:
    """No IngressClass or no metrics API: say so up front, with the provider's install hint."""
    from kubernetes import client

    api = api_client(target)
    try:
        classes = client.NetworkingV1Api(api).list_ingress_class(_request_timeout=15).items
        if not classes and not target.ingress_note:
            target.ingress_note = "no IngressClass in the cluster: " + getattr(provider, "ingress_hint",
                                                                                GENERIC_INGRESS_HINT)
        groups = client.ApisApi(api).get_api_versions(_request_timeout=15).groups or []
        if not any(g.name == "metrics.k8s.io" for g in groups):
            target.notes.append("no metrics API (metrics.k8s.io): " + getattr(provider, "metrics_hint",
                                                                               GENERIC_METRICS_HINT))
    except Exception as exc:  # a cluster that answered a moment ago: keep going, but say what was not checked
        target.notes.append(f"could not check for an ingress controller and metrics-server: {exc}"[:300])
    finally:
        api.close()
