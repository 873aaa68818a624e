"""Deploy with `helm upgrade --install --wait`: duration, revision, rendered values (secrets masked)."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import registry, registry_push, shell
from .config import RunbookConfig
from .errors import CommandFailedError, ConfigError, StepFailedError
from .providers import ClusterTarget
from .tls import TlsSetup, prepare_release


@dataclass
class DeployResult:
    release: str
    namespace: str
    chart: str
    revision: int
    status: str
    seconds: float
    images: dict[str, str]
    values: dict[str, Any]
    values_files: list[str]
    command: str
    commands: list[dict[str, str]] = field(default_factory=list)
    tls: TlsSetup | None = None


def split_ref(ref: str) -> tuple[str, str]:
    repository, _, tag = ref.rpartition(":")
    return (repository, tag) if repository and "/" not in tag else (ref, "latest")


def release_args(config: RunbookConfig, images: Mapping[str, str]) -> list[str]:
    """The values the runbook sets on top of the chart's files: images (ours and the database's the build step
    chose), replicas, ingress host."""
    for f in config.profile_values_files():
        if not f.exists():
            raise ConfigError(f"values file {f} does not exist",
                              f"check -p profile (dev|prod) and -p values_files; the chart folder is {config.chart}")
    args: list[str] = []
    for f in config.profile_values_files():
        args += ["-f", str(f)]
    for component in ("backend", "frontend", "postgresql"):
        if component in images:
            repository, tag = split_ref(images[component])
            args += ["--set", f"{component}.image.repository={repository}",
                     "--set-string", f"{component}.image.tag={tag}"]
    args += registry_args(config, images)
    args += ["--set", f"backend.service.port={config.backend_port}",
             "--set-string", f"backend.app.healthPath={config.backend_health_path}",
             "--set-string", f"backend.app.readyPath={config.backend_ready_path}",
             "--set-string", f"backend.app.envNames.database={config.backend_database_url_env}",
             "--set-string", f"backend.app.envNames.jwt={config.backend_jwt_secret_env}",
             "--set", f"backend.app.waitForDatabase={str(config.backend_waits_for_database()).lower()}"]
    args += ["--set", f"backend.replicaCount={config.backend_replicas}",
             "--set", f"frontend.replicaCount={config.frontend_replicas}",
             "--set", f"ingress.host={config.ingress_host}"]
    return args


def registry_args(config: RunbookConfig, images: Mapping[str, str]) -> list[str]:
    """The registry path: every image the release runs under the registry (ours already are, by their
    references; the in-cluster PostgreSQL's is mapped the same way), and the pull secret with credentials."""
    if not config.registry:
        return []
    pushing = registry.parse(config.registry)
    args: list[str] = []
    for component in ("backend", "frontend", "postgresql"):
        if component in images and not pushing.owns(images[component]):
            repository, tag = split_ref(pushing.reference(images[component]))
            args += ["--set", f"{component}.image.repository={repository}",
                     "--set-string", f"{component}.image.tag={tag}"]
    if registry.credentials(pushing):
        args += ["--set", f"imagePullSecrets[0].name={registry_push.pull_secret_name(config.release)}"]
    return args


def _secret_values_file() -> tuple[Path | None, list[str]]:
    """OPENAI_API_KEY (optional) goes through a private temp values file, never the command line."""
    key = os.environ.get("OPENAI_API_KEY", "").strip()
    if not key:
        return None, []
    shell.register_secret(key)
    handle, name = tempfile.mkstemp(prefix="todo-secrets-", suffix=".yaml")
    with os.fdopen(handle, "w") as fh:
        yaml.safe_dump({"secrets": {"openaiApiKey": key}}, fh)
    return Path(name), ["-f", name]


def render(config: RunbookConfig, images: Mapping[str, str]) -> str:
    """The chart as `helm upgrade --install` will apply it (no cluster needed). Unmasked, so it stays YAML
    (masking turns a value that happens to match a secret into `****`, an alias YAML cannot parse); callers
    parse it and keep no text of it."""
    argv = ["helm", "template", config.release, str(config.path(config.chart)), "-n", config.namespace,
            *release_args(config, images)]
    return shell.run(argv, timeout=120, mask_output=False).stdout


def chart_images(target: ClusterTarget, config: RunbookConfig, images: Mapping[str, str]) -> list[str]:
    """Every image the rendered chart runs (e.g. the in-cluster PostgreSQL), for the load step."""
    rendered = render(config, images)
    found = re.findall(r"(?m)^\s*(?:-\s*)?image:\s*[\"']?([^\s\"']+)", rendered)
    return sorted(set(found))


def helm_status(target: ClusterTarget, config: RunbookConfig) -> dict[str, Any] | None:
    res = shell.run(target.helm("status", config.release, "-n", config.namespace, "-o", "json"), timeout=60,
                    check=False, mask_output=False)
    return json.loads(res.stdout) if res.ok else None


def _diagnosed_remedy(target: ClusterTarget, config: RunbookConfig) -> str:
    """When helm gives up, say why the pods are not Ready (the built-in diagnosis), if the cluster answers."""
    from .diagnosis import ERROR, WARNING, diagnose
    from .kube import Kube
    from .providers import api_client

    try:
        kube = Kube(api_client(target))
        try:
            diag = diagnose(config.namespace, kube.pods(config.namespace), kube.events(config.namespace))
        finally:
            kube.close()
    except Exception:  # the cluster itself is gone: the plain remedy is all we have
        return ""
    # Errors explain a stuck rollout; warnings (a probe that failed once while starting) only when nothing else does.
    errors = [f for f in diag.findings if f.severity == ERROR]
    findings = errors or [f for f in diag.findings if f.severity == WARNING and f.rule != "missing_limits"]
    return "; ".join(f"{f.object}: {f.detail} -> {f.remedy}" for f in findings[:3])


def _pull_secret(target: ClusterTarget, config: RunbookConfig) -> list[dict[str, str]]:
    """With registry credentials: the Secret the pods pull with, made through the API (never a command line)."""
    pushing = registry.parse(config.registry) if config.registry else None
    creds = registry.credentials(pushing) if pushing else None
    if not pushing or not creds:
        return []
    from .providers import api_client

    api = api_client(target)
    name = registry_push.pull_secret_name(config.release)
    try:
        registry_push.ensure_pull_secret(api, config.namespace, name, pushing, creds)
    finally:
        api.close()
    return [shell.recorded(f"kubectl -n {config.namespace} create secret docker-registry {name} "
                           f"--docker-server={pushing.host} --docker-username=<from the {creds.source}> "
                           "--docker-password=<...>", "the pods' pull secret (made through the API)")]


def install(target: ClusterTarget, config: RunbookConfig, images: Mapping[str, str]) -> DeployResult:
    from .providers import api_client

    # The Ingress's TLS Secret must exist before Helm waits on the release (tls.py: CA, certificate, Secret).
    kube_api = api_client(target)
    try:
        tls_setup = prepare_release(kube_api, config, render(config, images))
    finally:
        kube_api.close()
    pull_commands = _pull_secret(target, config)
    secret_file, secret_args = _secret_values_file()
    argv = target.helm("upgrade", "--install", config.release, str(config.path(config.chart)),
                       "-n", config.namespace, "--create-namespace", *release_args(config, images), *secret_args,
                       "--wait", "--timeout", f"{config.deploy_timeout_s}s")
    try:
        res = shell.run(argv, timeout=config.deploy_timeout_s + 60,
                        hint=f"see `kubectl -n {config.namespace} get pods` and `kubectl -n {config.namespace} "
                             "get events --sort-by=.lastTimestamp`; the verify step's diagnosis explains common causes")
    except CommandFailedError as exc:
        why = exc.problem.rsplit(": ", 1)[-1].strip()
        timed_out = "deadline exceeded" in why or "timed out" in why
        problem = (f"helm upgrade --install {config.release} did not finish: {why}"
                   + (f" (not every pod was Ready within --timeout {config.deploy_timeout_s}s)" if timed_out else ""))
        raise StepFailedError(problem, _diagnosed_remedy(target, config) or exc.remedy) from exc
    finally:
        if secret_file:
            secret_file.unlink(missing_ok=True)
    status = helm_status(target, config) or {}
    values = shell.run(target.helm("get", "values", config.release, "-n", config.namespace, "--all", "-o", "json"),
                       timeout=60, mask_output=False).stdout
    command = res.command.replace(str(secret_file), "<secrets.yaml>") if secret_file else res.command
    return DeployResult(
        release=config.release, namespace=config.namespace, chart=config.chart,
        revision=int(status.get("version", 0)), status=status.get("info", {}).get("status", "unknown"),
        seconds=res.seconds, images=dict(images), values=shell.mask_tree(json.loads(values or "{}")),
        values_files=[str(f) for f in config.profile_values_files()], command=command,
        commands=[*pull_commands, shell.recorded(command, "install or upgrade the release and wait for it")],
        tls=tls_setup,
    )
