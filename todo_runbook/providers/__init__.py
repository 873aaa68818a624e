"""Cluster providers: which cluster to use, how to talk to it, how images reach its nodes.

Each provider is one module here implementing the `Provider` protocol (base.py); `REGISTRY` is built from
`config.PROVIDER_NAMES` (the parameter's choices, in the order people see them). Adding one (k3d, Docker
Desktop) is one new module and its name in that tuple: preflight, the build, load, teardown and the runner ask
the provider's members, and nothing outside this package compares provider names
(tests/providers/test_no_provider_names.py checks that).

auto: the current kube context if it answers (its provider is whichever claims the context), else
minikube if installed, else the offline test bed. The choice and the reason are recorded.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from importlib import import_module
from typing import cast

from .. import shell
from ..config import PROVIDER_NAMES, RunbookConfig
from ..errors import ConfigError, RunbookError, ToolMissingError
from .base import (
    BuildEngine,
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

# One module per provider, named as the parameter's choice (config.py cannot import this package: the
# providers import it).
REGISTRY: dict[str, Provider] = {
    name: cast(Provider, import_module(f"{__name__}.{name}")) for name in PROVIDER_NAMES
}
# The local clusters auto-detection falls back to, in order, when no kube context answers.
AUTO_FALLBACKS = ("minikube", "testbed")

__all__ = ["REGISTRY", "BuildEngine", "ClusterTarget", "LoadOutcome", "Provider", "Say", "api_client",
           "build_engine", "default_kubeconfig", "get", "load_image", "prepare_while_building", "probe", "resolve",
           "tools_built_by"]


def get(name: str) -> Provider:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown provider '{name}'", f"use auto or one of: {', '.join(REGISTRY)}") from None


def of_target(target: ClusterTarget) -> Provider:
    return get(target.provider)


def provider_of_context(ctx: str, config: RunbookConfig) -> str:
    """The provider that claims a kube context: the ones that know their own contexts first, then the fallback."""
    in_turn = sorted(REGISTRY.values(), key=lambda p: p.claims_any_context)
    return next(p.name for p in in_turn if p.owns_context(ctx, config))


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


def build_engine(config: RunbookConfig) -> BuildEngine | None:
    """The cluster's own Docker engine when the build goes straight into it (build_in_minikube), else None.
    The build runs before the cluster is resolved: with auto, or the provider that takes any context (which may
    be a minikube profile), any provider whose build option is on answers."""
    asked = None if config.provider == "auto" else get(config.provider)
    candidates = list(REGISTRY.values()) if asked is None or asked.claims_any_context else [asked]
    return next((engine for p in candidates if (engine := p.build_engine(config))), None)


def tools_built_by(config: RunbookConfig) -> frozenset[str]:
    """The runbook's tools (helm, kubectl) the provider builds itself while preparing its cluster (with auto: any
    provider auto-detection may pick), so preflight lets them be missing until the cluster is resolved."""
    asked = list(REGISTRY.values()) if config.provider == "auto" else [get(config.provider)]
    return frozenset().union(*(p.builds_own_tools for p in asked))


def prepare_while_building(config: RunbookConfig, steps: Sequence[str], say: Say) -> str | None:
    """Let the provider a run would use start slow preparation while the images build (the test bed compiles its
    tools); the note preflight records, or None when the cluster is to be resolved now."""
    name = chosen(config)
    return get(name).prepare_while_building(config, steps, say) if name else None


def missing_addons(provider: Provider, has_ingress_class: bool, api_groups: Collection[str]) -> tuple[str, list[str]]:
    """(the ingress note, other notes) for what the cluster lacks, each with the provider's install hint."""
    ingress_note = "" if has_ingress_class else "no IngressClass in the cluster: " + provider.ingress_hint
    notes = [] if "metrics.k8s.io" in api_groups else ["no metrics API (metrics.k8s.io): " + provider.metrics_hint]
    return ingress_note, notes


def _note_missing_addons(target: ClusterTarget, provider: Provider) -> None:
    """No IngressClass or no metrics API: say so up front, with the provider's install hint."""
    from kubernetes import client

    api = api_client(target)
    try:
        classes = client.NetworkingV1Api(api).list_ingress_class(_request_timeout=15).items
        groups = client.ApisApi(api).get_api_versions(_request_timeout=15).groups or []
        ingress_note, notes = missing_addons(provider, bool(classes), {g.name for g in groups})
        target.ingress_note = target.ingress_note or ingress_note
        target.notes += notes
    except Exception as exc:  # a cluster that answered a moment ago: keep going, but say what was not checked
        target.notes.append(f"could not check for an ingress controller and metrics-server: {exc}"[:300])
    finally:
        api.close()
