"""Cluster providers: which cluster to use, how to talk to it, how images reach its nodes.

auto: the current kube context if it answers, else minikube if installed, else the offline
test bed. The choice and the reason are recorded, so the report says why a cluster was used.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import shell
from .config import REPO_ROOT, RunbookConfig, cache_root
from .errors import INSTALL_HINTS, ClusterUnreachableError, ConfigError, RunbookError, ToolMissingError
from .progress import Progress

TESTBED_CONTEXT = "todo-testbed"
Say = Progress  # a line for the person running the runbook


def _quiet(line: str) -> None:
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
    load_method: str = ""
    nodes: list[str] = field(default_factory=list)
    containerd_address: str = ""
    commands: list[dict[str, str]] = field(default_factory=list)

    def kubectl(self, *args: str) -> list[str]:
        return ["kubectl", "--kubeconfig", self.kubeconfig, "--context", self.context, *args]

    def helm(self, *args: str) -> list[str]:
        return ["helm", *args, "--kubeconfig", self.kubeconfig, "--kube-context", self.context]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClusterTarget:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def testbed_facts() -> dict[str, Any]:
    path = cache_root() / "testcluster" / "run" / "cluster.json"
    return json.loads(path.read_text()) if path.exists() else {}


def default_kubeconfig() -> str:
    env = os.environ.get("KUBECONFIG", "")
    return env.split(os.pathsep)[0] if env else str(Path.home() / ".kube" / "config")


def _current_context(kubeconfig: str) -> str:
    try:
        from kubernetes import config as kconfig

        _, active = kconfig.list_kube_config_contexts(config_file=kubeconfig)
        return active["name"] if active else ""
    except Exception:  # no file, unreadable file, no current-context: all mean "none"
        return ""


def probe(kubeconfig: str, context: str, timeout: float = 5) -> tuple[bool, str, str]:
    """(answers, server URL, version or the error) for one kube context."""
    try:
        from kubernetes import client
        from kubernetes import config as kconfig

        api_client = kconfig.new_client_from_config(config_file=kubeconfig, context=context or None)
    except Exception as exc:
        return False, "", f"cannot read kubeconfig {kubeconfig} (context {context or 'current'}): {exc}"
    server = api_client.configuration.host
    try:
        info = client.VersionApi(api_client).get_code(_request_timeout=timeout)
        return True, server, info.git_version
    except Exception as exc:
        # urllib3 wraps the socket error twice; its innermost reason is the readable part.
        reason = getattr(exc, "reason", None) or exc
        reason = getattr(reason, "reason", None) or reason
        return False, server, f"{type(reason).__name__}: {str(reason).splitlines()[0][:200]}"
    finally:
        api_client.close()


def api_client(target: ClusterTarget) -> Any:  # kubernetes.client.ApiClient
    from kubernetes import config as kconfig

    return kconfig.new_client_from_config(config_file=target.kubeconfig, context=target.context)


def _unreachable(kubeconfig: str, context: str, server: str, detail: str) -> ClusterUnreachableError:
    return ClusterUnreachableError(
        f"the cluster of context '{context}' ({server or 'no server'}) in {kubeconfig} does not answer: {detail}",
        f"start it (minikube start / kind create cluster / `make cluster-up` for the test bed), check "
        f"`kubectl --kubeconfig {kubeconfig} --context {context} cluster-info`, or choose another with "
        f"-p provider=minikube|kind|context|testbed -p kube_context=NAME",
    )


# -- providers ---------------------------------------------------------------------------------
def _minikube(config: RunbookConfig, reason: str) -> ClusterTarget:
    profile = config.minikube_profile
    kubeconfig = config.kubeconfig or default_kubeconfig()
    commands = []
    status = shell.run(["minikube", "-p", profile, "status", "-o", "json"], timeout=60, check=False)
    running = status.ok and '"Running"' in status.stdout
    if not running:
        if not config.start_cluster:
            raise ClusterUnreachableError(f"minikube profile '{profile}' is not running",
                                          f"run `minikube start -p {profile}` or pass -p start_cluster=true")
        started = shell.run(["minikube", "start", "-p", profile, "--driver=docker"], timeout=900,
                            hint="see `minikube logs`; minikube needs Docker and 2 CPUs / 2 GB free")
        commands.append(shell.recorded(started.command, "start minikube"))
        reason += "; it was stopped, so the runbook started it"
    for addon in ("ingress", "metrics-server"):
        enabled = shell.run(["minikube", "-p", profile, "addons", "enable", addon], timeout=300)
        commands.append(shell.recorded(enabled.command, f"enable the {addon} addon"))
    ip = shell.run(["minikube", "-p", profile, "ip"], timeout=30).stdout.strip()
    commands.append(shell.recorded(f"minikube -p {profile} ip", "the address the ingress answers on"))
    return ClusterTarget("minikube", reason, config.kube_context or profile, kubeconfig,
                         ingress_url=config.ingress_url or f"http://{ip}",
                         load_method="minikube image load" if not config.build_in_minikube else "built in minikube",
                         commands=commands)


def _kind(config: RunbookConfig, reason: str) -> ClusterTarget:
    clusters = shell.run(["kind", "get", "clusters"], timeout=30).stdout.split()
    if config.kind_cluster not in clusters:
        found = ", ".join(clusters) or "none"
        raise ClusterUnreachableError(f"kind cluster '{config.kind_cluster}' does not exist (found: {found})",
                                      f"create it: `kind create cluster --name {config.kind_cluster}` with port 80 "
                                      "mapped and ingress-nginx installed, or pass -p kind_cluster=NAME")
    # kind's ingress guide maps the node's port 80 to the host: try it (verify falls back to a port-forward).
    return ClusterTarget("kind", reason, config.kube_context or f"kind-{config.kind_cluster}",
                         config.kubeconfig or default_kubeconfig(), ingress_url=config.ingress_url or "http://127.0.0.1",
                         load_method="kind load docker-image")


def _testbed(config: RunbookConfig, reason: str, prepare: bool = True, say: Say = _quiet) -> ClusterTarget:
    facts = testbed_facts()
    if not facts:
        if not config.start_cluster or not prepare:
            raise ClusterUnreachableError("the offline test bed is not running (no cluster.json)",
                                          "start it with `make cluster-up` (python -m testcluster up); "
                                          "`todo-runbook run` starts it itself unless -p start_cluster=false")
        repo = str(REPO_ROOT)
        # build and up are idempotent (build is seconds once cached); announce them, as a cold build is long.
        say("cluster: the offline test bed is not running; building its pinned tools, then starting it. Cached "
            "builds take seconds; the first one compiles Kubernetes, its add-ons and Helm from Go source (about "
            f"40 min on 2 cores; progress in {cache_root() / 'build'}/<component>/build.log)")
        built = shell.run([sys.executable, "-m", "testcluster", "build"], timeout=3 * 3600, cwd=repo,
                          hint="see $TODO_RUNBOOK_CACHE/build/*/build.log; it needs a Go toolchain")
        up = shell.run([sys.executable, "-m", "testcluster", "up"],
                       timeout=3600, cwd=repo,
                       hint="see $TODO_RUNBOOK_CACHE/testcluster/logs/; `python -m testcluster status`")
        reason += "; it was not running, so the runbook started it"
        facts = testbed_facts()
        if not facts:
            raise ClusterUnreachableError("`python -m testcluster up` finished but wrote no cluster.json",
                                          "see $TODO_RUNBOOK_CACHE/testcluster/logs/ and "
                                          "`python -m testcluster status`")
        commands = [shell.recorded(built.command, "build the test bed's pinned tools (cached by version)"),
                    shell.recorded(up.command, "start the offline test bed")]
    else:
        commands = []
    return ClusterTarget("testbed", reason, facts.get("context", TESTBED_CONTEXT),
                         facts.get("kubeconfig", str(cache_root() / "testcluster" / "kubeconfig")),
                         ingress_url=config.ingress_url or facts.get("ingress_url", ""),
                         load_method="containerd import (testcluster.images)", nodes=list(facts.get("nodes", [])),
                         containerd_address=facts.get("containerd_address", ""), commands=commands)


def _context(config: RunbookConfig, reason: str, kubeconfig: str, context: str) -> ClusterTarget:
    load = "none needed (Docker Desktop shares the engine's images)" if context == "docker-desktop" else \
        "none: the nodes must be able to pull the images (push them to a registry they reach)"
    return ClusterTarget("context", reason, context, kubeconfig, ingress_url=config.ingress_url, load_method=load)


def _provider_of_context(context: str, config: RunbookConfig) -> str:
    if context == TESTBED_CONTEXT:
        return "testbed"
    if context == config.minikube_profile:
        return "minikube"
    if context.startswith("kind-"):
        return "kind"
    return "context"


def resolve(config: RunbookConfig, *, prepare: bool = True, say: Say = _quiet) -> ClusterTarget:
    """Pick the cluster and make sure it answers. `prepare` lets minikube start and enable addons, and
    the test bed build and start; `say` hears about waits that take long."""
    provider = config.provider
    kubeconfig = config.kubeconfig or default_kubeconfig()
    if provider == "auto":
        context = config.kube_context or _current_context(kubeconfig)
        answers, _, detail = probe(kubeconfig, context) if context else (False, "", "no current context")
        if answers:
            provider = _provider_of_context(context, config)
            reason = f"auto: the current kube context '{context}' answers"
            config = _with(config, kube_context=context, kubeconfig=kubeconfig)
        elif shell.which("minikube"):
            provider, reason = "minikube", f"auto: no kube context answers ({detail}); minikube is installed"
        else:
            provider = "testbed"
            reason = f"auto: no kube context answers ({detail}) and minikube is not installed: the offline test bed"
    else:
        reason = f"provider={provider} was asked for"
    if provider in ("minikube", "kind") and not shell.which(provider):
        raise ToolMissingError(f"provider '{provider}' needs the {provider} CLI, which is not on PATH",
                               INSTALL_HINTS[provider])
    if provider == "minikube":
        target = _minikube(config, reason) if prepare else ClusterTarget(
            "minikube", reason, config.kube_context or config.minikube_profile, kubeconfig)
    elif provider == "kind":
        target = _kind(config, reason)
    elif provider == "testbed":
        target = _testbed(config, reason, prepare, say)
    elif provider == "context":
        context = config.kube_context or _current_context(kubeconfig)
        if not context:
            raise ConfigError("provider=context needs a kube context, and the kubeconfig has no current one",
                              f"pass -p kube_context=NAME (see `kubectl config get-contexts`; kubeconfig {kubeconfig})")
        target = _context(config, reason, kubeconfig, context)
    else:  # config validation already rejects this; kept for callers that bypass it
        raise ConfigError(f"unknown provider '{provider}'", "use auto, minikube, kind, context or testbed")
    answers, server, detail = probe(target.kubeconfig, target.context)
    if not answers:
        raise _unreachable(target.kubeconfig, target.context, server, detail)
    target.server, target.server_version = server, detail
    target.commands.insert(0, shell.recorded(shell.command_line(target.kubectl("cluster-info")),
                                             "check the cluster answers"))
    return target


def _with(config: RunbookConfig, **changes: Any) -> RunbookConfig:
    from dataclasses import replace

    return replace(config, **changes)


# -- images onto the nodes ---------------------------------------------------------------------
def load_image(target: ClusterTarget, image: str, config: RunbookConfig) -> dict[str, Any]:
    """Make `image` available to the cluster's nodes; returns method, seconds and the command."""
    if target.provider == "minikube":
        if config.build_in_minikube:
            return {"image": image, "method": "built in minikube's Docker daemon", "seconds": 0.0, "command": ""}
        res = shell.run(["minikube", "-p", config.minikube_profile, "image", "load", image], timeout=900)
        return {"image": image, "method": "minikube image load", "seconds": res.seconds, "command": res.command}
    if target.provider == "kind":
        res = shell.run(["kind", "load", "docker-image", image, "--name", config.kind_cluster], timeout=900)
        return {"image": image, "method": "kind load docker-image", "seconds": res.seconds, "command": res.command}
    if target.provider == "testbed":
        return _testbed_load(image, target.containerd_address)
    return {"image": image, "method": target.load_method, "seconds": 0.0, "command": "", "skipped": True}


def _testbed_load(image: str, address: str) -> dict[str, Any]:
    """The test bed's own loader: docker save | ctr images import into the node's containerd."""
    from testcluster import images as tc_images

    if not address:
        raise ClusterUnreachableError("the test bed has no containerd_address in cluster.json (no real node?)",
                                      "start the test bed with its node: `python -m testcluster up`")
    try:
        outcome = tc_images.load_image(image, address=address, ctr=shell.which("ctr") or "ctr")
    except tc_images.ImageLoadError as exc:
        raise RunbookError(f"loading {image} into the test bed failed: {exc}",
                           "check the node (`python -m testcluster status`); rebuild the image if it is missing",
                           ) from exc
    method = "already on the node (same Docker image ID): not copied" if outcome.reused else "containerd import"
    return {"image": image, "method": method, "seconds": round(outcome.seconds, 3), "reused": outcome.reused,
            "command": outcome.command, "reference": outcome.reference, "bytes": outcome.bytes}
