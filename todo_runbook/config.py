"""RunbookConfig: every parameter of the runbook, validated once.

Sources, later ones win: defaults < environment (TODO_RUNBOOK_<NAME>) < the run's saved config
< papermill parameters / widgets. An unknown or mistyped parameter fails at once with a message
that names it, the closest valid name and the valid choices.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from testcluster.paths import REPO_ROOT, cache_root

from .errors import ConfigError

__all__ = ["REPO_ROOT", "RunbookConfig", "cache_root"]

ENV_PREFIX = "TODO_RUNBOOK_"
# TODO_RUNBOOK_* variables that belong to other parts of the project, not to RunbookConfig.
# The registry's credentials are read only from these (never a parameter: parameters end up in the evidence).
ENV_NOT_PARAMETERS = {"CACHE", "REGISTRY_USERNAME", "REGISTRY_PASSWORD"}

# The cluster providers, one module each in todo_runbook/providers/, which builds its registry from this tuple
# (this module cannot import that package: the providers import this one). The order is the order of the choices.
PROVIDER_NAMES = ("minikube", "kind", "context", "testbed")
PROVIDERS = ("auto", *PROVIDER_NAMES)
PROFILES = ("dev", "prod")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_URL_PATH = re.compile(r"^/[A-Za-z0-9._~/-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _param(default: Any, help: str, choices: tuple[str, ...] = ()) -> Any:
    kwargs: dict[str, Any] = {"metadata": {"help": help, "choices": choices}}
    if isinstance(default, list):
        kwargs["default_factory"] = lambda: list(default)
    else:
        kwargs["default"] = default
    return field(**kwargs)


@dataclass
class RunbookConfig:
    # where things are
    backend_src: str = _param("apps/backend", "backend source folder (build context), relative to the repo")
    frontend_src: str = _param("apps/frontend", "frontend source folder (build context)")
    backend_dockerfile: str = _param("dockerfiles/backend.Dockerfile", "Dockerfile for the backend")
    frontend_dockerfile: str = _param("dockerfiles/frontend.Dockerfile", "Dockerfile for the frontend")
    chart: str = _param("helm/todo-app", "Helm chart folder")
    outputs_dir: str = _param("outputs", "where run folders and history.csv go")
    # images
    backend_image: str = _param("todo-backend", "backend image repository")
    frontend_image: str = _param("todo-frontend", "frontend image repository")
    image_tag: str = _param("", "image tag; empty: derived from the built image's id (content-addressed)")
    base_python: str = _param("", "base image for the backend; empty: chosen by `bases` (python:3.11-slim, "
                                  "or the offline todo-runbook/base-python:3.11-bookworm)")
    base_node: str = _param("", "base image for the frontend; empty: chosen by `bases` (node:22-bookworm-slim, "
                                "or the offline todo-runbook/base-node:22-bookworm)")
    bases: str = _param("auto", "base images: auto (official, pulled when missing; offline bases when the pull "
                                "fails), official (pull or fail), offline (the Debian-bootstrapped ones, no pull)",
                        ("auto", "official", "offline"))
    backend_module: str = _param("app.main:app", "the backend's ASGI app for uvicorn, module:attribute "
                                                 "(a Phase III app with main.py at the top: main:app)")
    backend_port: int = _param(8000, "port the backend listens on in its container")
    backend_health_path: str = _param("/health", "the backend's liveness path (answers 200 without a database); "
                                                 "the chart's probes use it; the ingress routes it to the backend")
    backend_ready_path: str = _param("/ready", "the backend's readiness path (probes; the ingress routes it to "
                                                   "the backend)")
    backend_database_url_env: str = _param("DATABASE_URL", "environment variable the backend reads the database "
                                                            "URL from")
    backend_jwt_secret_env: str = _param("JWT_SECRET", "environment variable the backend reads the JWT secret from "
                                                       "(Better Auth apps: BETTER_AUTH_SECRET)")
    wait_for_database: str = _param("auto", "hold the backend until the in-cluster database answers (an init "
                                            "container); auto: no for this repository's backend, which waits "
                                            "itself (readiness false meanwhile), yes for any other",
                                     ("auto", "true", "false"))
    build_in_minikube: bool = _param(False, "build straight into minikube's Docker daemon (no load step needed)")
    smoke_run: bool = _param(True, "start each built container once and probe it")
    sbom: bool = _param(True, "write an SPDX JSON SBOM of each built image with syft (PATH, or the pinned build in "
                              "$TODO_RUNBOOK_CACHE/clis, compiled once while the images build when Go is here) "
                              "into <run>/sbom/")
    vuln_db: str = _param("", "vulnerability database folder for scanning the SBOMs: a Grype database cache "
                              "(<folder>/6/vulnerability.db) or a Trivy cache (<folder>/db/trivy.db), the scanner "
                              "on PATH; empty: no scan (criterion not applicable)")
    registry: str = _param("", "HOST[:PORT]/PREFIX the nodes pull from (TLS): the build tags the images under it, "
                               "load pushes them instead of loading them into the nodes; empty: load into the "
                               "nodes. Credentials only from TODO_RUNBOOK_REGISTRY_USERNAME/_PASSWORD or "
                               "`docker login`")
    # cluster
    provider: str = _param("auto", "how to reach a cluster", PROVIDERS)
    kube_context: str = _param("", "kube context; empty: the provider's (or the current one)")
    kubeconfig: str = _param("", "kubeconfig file; empty: $KUBECONFIG or ~/.kube/config (test bed: its own)")
    minikube_profile: str = _param("minikube", "minikube profile name")
    minikube_driver: str = _param("", "driver for a profile the runbook creates (docker, kvm2, hyperkit...); "
                                      "empty: minikube's choice. An existing profile keeps its own")
    kind_cluster: str = _param("", "kind cluster name; empty: NAME from kube_context kind-NAME, else 'kind'")
    start_cluster: bool = _param(True, "start the cluster when it is stopped (minikube, sized for the release; "
                                       "the offline test bed, built on first use)")
    # release
    release: str = _param("todo", "Helm release name")
    namespace: str = _param("todo", "namespace for the release (created and, at teardown, deleted)")
    profile: str = _param("dev", "values profile: helm/todo-app/values-<profile>.yaml", PROFILES)
    values_files: list[str] = _param([], "extra values files, applied after the profile's")  # noqa: RUF009
    backend_replicas: int = _param(2, "backend replicas (2+ keeps the API up during a rolling update)")
    frontend_replicas: int = _param(2, "frontend replicas")
    ingress_host: str = _param("todo.local", "Host header / ingress host")
    ingress_url: str = _param("", "base URL where the ingress answers; empty: from the provider")
    ingress_https_url: str = _param("", "base URL where the ingress answers HTTPS; empty: the provider's, else "
                                        "https://<ingress_url host> on port 443")
    deploy_timeout_s: int = _param(300, "helm --timeout, seconds")
    build_timeout_s: int = _param(1800, "per image build, seconds")
    # verify
    health_requests: int = _param(300, "number of /health requests for the latency percentiles")
    rolling_update: bool = _param(True, "run the rolling-update check (helm upgrade while a client loops)")
    kill_pod: bool = _param(True, "delete a backend pod and measure recovery")
    metrics_interval_s: float = _param(5.0, "seconds between CPU/memory samples from metrics.k8s.io")
    # aiops
    aiops_tools: list[str] = _param(["kubectl-ai", "kagent", "docker-ai"], "AI tools to try")  # noqa: RUF009
    aiops_allow_mutating: bool = _param(False, "let AI tools run prompts that change the cluster (scale, deploy)")
    aiops_timeout_s: int = _param(180, "per AI prompt, seconds")
    kagent_agent: str = _param("k8s-agent", "kagent agent to invoke")
    aiops_llm_provider: str = _param("offline", "model for the AI agents: offline (built-in rules, not an LLM), "
                                                "openai, anthropic, gemini, ollama; keys only from the environment")
    aiops_model: str = _param("", "model name for a real provider (e.g. gpt-4o-mini, llama3.1)")
    aiops_llm_base_url: str = _param("", "OpenAI-compatible base URL (Ollama, vLLM, ...); empty: the provider's")
    # teardown
    remove_images: bool = _param(False, "teardown also removes the loaded/built images")
    stop_cluster: bool = _param(False, "teardown also stops the cluster (minikube stop / test bed down)")
    teardown_grace_s: int = _param(2, "seconds the release's pods get to stop at teardown (their own grace period "
                                      "and preStop sleep serve rolling updates; the data goes with the namespace); "
                                      "-1 keeps their own")
    teardown_on_failure: bool = _param(True, "run the teardown step (when asked for) even after a step failed, "
                                             "so a failed run leaves no release behind; false keeps it for debugging")
    # success criteria (the plan's, or stricter)
    max_frontend_image_mb: float = _param(500.0, "frontend image size budget, MB")
    max_backend_image_mb: float = _param(300.0, "backend image size budget, MB")
    max_pod_start_s: float = _param(30.0, "pod start budget (created -> Ready), seconds")
    max_deploy_s: float = _param(120.0, "deployment budget (helm upgrade --install --wait), seconds")
    max_health_p95_ms: float = _param(500.0, "health latency budget, p95 milliseconds")
    max_failed_requests_rolling: int = _param(0, "failed requests allowed during a rolling update")
    max_recovery_s: float = _param(60.0, "killed pod -> replacement Ready budget, seconds")
    max_demo_video_s: float = _param(90.0, "demo video length budget (demo.mp4 made after teardown), seconds")
    max_critical_vulnerabilities: int = _param(0, "critical vulnerabilities with a fix available allowed in the "
                                                  "built images (scan with vuln_db)")

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def describe(cls) -> dict[str, dict[str, Any]]:
        """name -> default, type, help, choices: used for the CLI help and the widgets."""
        hints = get_type_hints(cls)
        out = {}
        for f in fields(cls):
            default = f.default_factory() if f.default_factory is not MISSING else f.default
            out[f.name] = {"default": default, "type": _type_name(hints[f.name]), **f.metadata}
        return out

    @classmethod
    def from_sources(
        cls,
        params: Mapping[str, Any] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        saved: Mapping[str, Any] | None = None,
    ) -> RunbookConfig:
        merged: dict[str, Any] = {}
        merged.update(_from_env(os.environ if env is None else env))
        merged.update(saved or {})
        merged.update(params or {})
        return cls.from_mapping(merged)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> RunbookConfig:
        hints = get_type_hints(cls)
        known = set(cls.names())
        converted: dict[str, Any] = {}
        for name, raw in values.items():
            if name not in known:
                raise unknown_parameter(name, known)
            converted[name] = _coerce(name, raw, hints[name])
        config = cls(**converted)
        config.validate()
        return config

    # -- validation ---------------------------------------------------------------------------
    def validate(self) -> None:
        meta = {f.name: f.metadata for f in fields(self)}
        for name, info in meta.items():
            if info.get("choices") and getattr(self, name) not in info["choices"]:
                value = getattr(self, name)
                close = difflib.get_close_matches(str(value), info["choices"], n=1)
                guess = f" Did you mean '{close[0]}'?" if close else ""
                raise ConfigError(f"parameter '{name}' is '{value}', which is not a valid choice.{guess}",
                                  f"use one of: {', '.join(info['choices'])}")
        for name in ("namespace", "release"):
            value = getattr(self, name)
            if not _DNS_LABEL.match(value) or len(value) > 53:
                raise ConfigError(f"parameter '{name}' is '{value}', not a valid Kubernetes name",
                                  "use lower-case letters, digits and '-', starting and ending with a letter "
                                  "or digit, at most 53 characters")
        for name in ("backend_replicas", "frontend_replicas"):
            if getattr(self, name) < 1:
                raise ConfigError(f"parameter '{name}' is {getattr(self, name)}; at least 1 is needed",
                                  f"set {name} to 1 or more (2+ for the backend keeps it up during updates)")
        for name in self.names():
            if name.startswith("max_") and getattr(self, name) < 0:
                raise ConfigError(f"threshold '{name}' is negative ({getattr(self, name)})",
                                  "use a positive budget, e.g. the plan's default")
        for name in ("health_requests", "deploy_timeout_s", "build_timeout_s", "aiops_timeout_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"parameter '{name}' must be positive, got {getattr(self, name)}",
                                  f"set {name} to a positive number")
        for name in ("backend_health_path", "backend_ready_path"):
            if not _URL_PATH.match(getattr(self, name)):
                raise ConfigError(f"parameter '{name}' is '{getattr(self, name)}', not a URL path",
                                  f"set {name} to the path the backend serves, starting with '/', e.g. /health")
        for name in ("backend_database_url_env", "backend_jwt_secret_env"):
            if not _ENV_NAME.match(getattr(self, name)):
                raise ConfigError(f"parameter '{name}' is '{getattr(self, name)}', not an environment variable name",
                                  f"set {name} to the variable your backend reads, e.g. DATABASE_URL")
        if not 1 <= self.backend_port <= 65535:
            raise ConfigError(f"parameter 'backend_port' is {self.backend_port}, not a TCP port",
                              "set backend_port to the port your backend listens on (1-65535), e.g. 8000")
        if self.registry:
            from .registry import parse

            parse(self.registry)
        unknown_tools = set(self.aiops_tools) - {"kubectl-ai", "kagent", "docker-ai"}
        if unknown_tools:
            raise ConfigError(f"parameter 'aiops_tools' names unknown tools: {sorted(unknown_tools)}",
                              "choose from: kubectl-ai, kagent, docker-ai")

    # -- derived values -----------------------------------------------------------------------
    def path(self, relative: str) -> Path:
        """A configured path, relative to the repository unless absolute."""
        p = Path(os.path.expanduser(relative))
        return p if p.is_absolute() else REPO_ROOT / p

    def profile_values_files(self) -> list[Path]:
        """values.yaml is Helm's default; then the profile's file, then any extras."""
        chart = self.path(self.chart)
        files = [chart / f"values-{self.profile}.yaml"]
        files += [self.path(v) for v in self.values_files]
        return files

    def backend_waits_for_database(self) -> bool:
        """Whether the chart's init container holds the backend until the database answers (wait_for_database)."""
        if self.wait_for_database != "auto":
            return self.wait_for_database == "true"
        return self.path(self.backend_src).resolve() != (REPO_ROOT / "apps" / "backend").resolve()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def changed(self) -> dict[str, Any]:
        """Parameters that differ from the defaults (what a person passed)."""
        defaults = RunbookConfig()
        return {k: v for k, v in self.to_dict().items() if getattr(defaults, k) != v}

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def unknown_parameter(name: str, known: set[str]) -> ConfigError:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    guess = f" Did you mean '{close[0]}'?" if close else ""
    return ConfigError(
        f"unknown parameter '{name}'.{guess}",
        f"use one of the valid parameters: {', '.join(sorted(known))} (see `todo-runbook params`)",
    )


def _from_env(env: Mapping[str, str]) -> dict[str, str]:
    known = set(RunbookConfig.names())
    out = {}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX):
            continue
        suffix = key[len(ENV_PREFIX):]
        if suffix in ENV_NOT_PARAMETERS:
            continue
        name = suffix.lower()
        if name in known:
            out[name] = value
        elif difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8):
            # A near miss is almost surely a typo of a parameter; anything else belongs to someone else.
            raise unknown_parameter(name, known)
    return out


def _type_name(tp: Any) -> str:
    return {str: "str", int: "int", float: "float", bool: "bool"}.get(tp, "list[str]")


def _coerce(name: str, raw: Any, tp: Any) -> Any:
    kind = _type_name(tp)
    try:
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(raw)
        if kind == "int":
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(raw)
            return int(str(raw).strip()) if isinstance(raw, str) else int(raw)
        if kind == "float":
            if isinstance(raw, bool):
                raise ValueError(raw)
            return float(raw)
        if kind == "list[str]":
            if isinstance(raw, str):
                return [part.strip() for part in raw.split(",") if part.strip()]
            if isinstance(raw, list | tuple) and all(isinstance(x, str) for x in raw):
                return list(raw)
            raise ValueError(raw)
        if not isinstance(raw, str):
            raise ValueError(raw)
        return raw
    except (TypeError, ValueError):
        raise ConfigError(f"parameter '{name}' should be {kind}, got {raw!r}",
                          f"pass {name} as a {kind}" + (" (true/false)" if kind == "bool" else "")) from None
