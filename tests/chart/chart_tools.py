"""Helpers for the chart tests: run a real Helm binary, parse its output, validate objects against the
Kubernetes OpenAPI schema of the pinned Kubernetes version (read from the k8s.io/kubernetes Go module)."""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from testcluster.components import KUBERNETES_VERSION  # the test bed's Kubernetes: one constant
from testcluster.paths import cache_root as cache_dir  # one home for the cache root; the chart tests' name for it

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "todo-app"
BUILD_SCRIPT = ROOT / "helm" / "build-helm.sh"
HELM_VERSIONS = {"helm3": "v3.22.0", "helm4": "v4.3.1"}

# Values that every render needs when the in-cluster database is off (the chart refuses to guess them).
EXTERNAL_DB = {"secrets.databaseUrl": "postgresql://todo:s3cret-pass@db.example.internal:5432/todo"}
SetValue = str | bool | int
PROD_TAGS = {"backend.image.tag": "0a1b2c3d4e5f", "frontend.image.tag": "0a1b2c3d4e5f"}
PROFILES: dict[str, tuple[list[str], dict[str, SetValue]]] = {
    "default": ([], EXTERNAL_DB),
    "dev": (["values-dev.yaml"], {}),
    "prod": (["values-prod.yaml"], {**PROD_TAGS, "secrets.existingSecret": "todo-app-credentials"}),
}


def go_binary() -> str | None:
    found = shutil.which("go")
    if found:
        return found
    for candidate in ("/usr/local/go/bin/go", "/usr/lib/go/bin/go"):
        if Path(candidate).is_file():
            return candidate
    return None


class HelmError(AssertionError):
    """helm exited non-zero; the message carries its stderr."""


@dataclass(frozen=True)
class Helm:
    name: str  # helm3 | helm4
    binary: Path

    def run(self, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "HELM_CACHE_HOME": str(cache_dir() / "helm-home" / "cache"),
            "HELM_CONFIG_HOME": str(cache_dir() / "helm-home" / "config"),
            "HELM_DATA_HOME": str(cache_dir() / "helm-home" / "data"),
        }
        result = subprocess.run([str(self.binary), *args], capture_output=True, text=True, timeout=timeout, env=env)
        if check and result.returncode != 0:
            raise HelmError(f"{self.name} {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
        return result

    def template(
        self,
        *,
        values_files: Iterable[str] = (),
        sets: dict[str, SetValue] | None = None,
        namespace: str = "todo-app",
        release: str = "todo",
        extra: Iterable[str] = (),
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        args = ["template", release, str(CHART), "--namespace", namespace, "--kube-version", KUBERNETES_VERSION]
        for values_file in values_files:
            path = Path(values_file)
            args += ["-f", str(path if path.is_absolute() else CHART / path)]
        for key, value in (sets or {}).items():
            # Strings stay strings (a SHA such as 1234567 must not become a number); the rest is typed YAML.
            if isinstance(value, str):
                args += ["--set-string", f"{key}={value}"]
            else:
                args += ["--set", f"{key}={json.dumps(value)}"]
        return self.run(*args, *extra, check=check)

    def render(self, **kwargs: Any) -> Manifests:
        result = self.template(**kwargs)
        return Manifests.parse(result.stdout)

    def render_profile(self, profile: str, *, sets: dict[str, SetValue] | None = None, **kwargs: Any) -> Manifests:
        files, profile_sets = PROFILES[profile]
        return self.render(values_files=files, sets={**profile_sets, **(sets or {})}, **kwargs)


@dataclass
class Manifests:
    objects: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> Manifests:
        objects = [doc for doc in yaml.safe_load_all(text) if doc]
        return cls(objects=objects, text=text)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.objects)

    def kinds(self) -> list[str]:
        return sorted(obj["kind"] for obj in self.objects)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def one(self, kind: str, component: str | None = None) -> dict[str, Any]:
        found = [
            obj
            for obj in self.of_kind(kind)
            if component is None or obj["metadata"]["labels"].get("app.kubernetes.io/component") == component
        ]
        assert len(found) == 1, (
            f"expected one {kind} for component {component}, found {[o['metadata']['name'] for o in found]}"
        )
        return found[0]


def pod_specs(manifests: Manifests) -> Iterator[tuple[str, dict[str, Any]]]:
    """(object name, pod spec) for every workload and bare pod."""
    for obj in manifests:
        if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]
        elif obj["kind"] == "Pod":
            yield obj["metadata"]["name"], obj["spec"]


def containers(manifests: Manifests) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, spec in pod_specs(manifests):
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            yield f"{name}/{container['name']}", container


# --- Kubernetes OpenAPI validation -----------------------------------------------------------------------------


def kubernetes_module_dir(version: str = KUBERNETES_VERSION) -> Path:
    """The k8s.io/kubernetes module from the Go module cache (downloaded through the Go module proxy if needed)."""
    go = go_binary()
    if go is None:
        raise RuntimeError("Go is not installed: it is needed to fetch the Kubernetes OpenAPI spec (k8s.io/kubernetes)")
    result = subprocess.run(
        [go, "mod", "download", "-json", f"k8s.io/kubernetes@{version}"],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd="/",
    )
    info = json.loads(result.stdout or "{}")
    if result.returncode != 0 or "Dir" not in info:
        raise RuntimeError(f"go mod download k8s.io/kubernetes@{version} failed: {info.get('Error') or result.stderr}")
    return Path(info["Dir"])


def _strict(schema: Any) -> Any:
    """Like kubeconform's strict mode: objects with declared properties reject unknown fields (typos)."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if schema.get("type") == "object" and "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@dataclass
class OpenAPIValidator:
    """Validates objects against the swagger definitions of one Kubernetes release."""

    definitions: dict[str, Any]
    by_gvk: dict[tuple[str, str, str], str]

    @classmethod
    def load(cls, swagger: Path) -> OpenAPIValidator:
        definitions = copy.deepcopy(json.loads(swagger.read_text())["definitions"])
        # Formats the swagger types as plain strings but the API server accepts in both JSON types.
        definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["integer", "string"]}
        definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {"type": ["string", "number"]}
        by_gvk: dict[tuple[str, str, str], str] = {}
        for name, definition in definitions.items():
            for gvk in definition.get("x-kubernetes-group-version-kind", []):
                by_gvk[(gvk["group"], gvk["version"], gvk["kind"])] = name
        return cls(definitions=_strict(definitions), by_gvk=by_gvk)

    def definition_for(self, obj: dict[str, Any]) -> str | None:
        api_version = obj.get("apiVersion", "")
        group, _, version = api_version.rpartition("/")
        return self.by_gvk.get((group, version, obj.get("kind", "")))

    def errors(self, obj: dict[str, Any]) -> list[str]:
        name = self.definition_for(obj)
        if name is None:
            return [f"{obj.get('apiVersion')}/{obj.get('kind')} is not served by Kubernetes {KUBERNETES_VERSION}"]
        schema = {"$ref": f"#/definitions/{name}", "definitions": self.definitions}
        validator = jsonschema.Draft4Validator(schema)
        return [
            f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
            for error in validator.iter_errors(obj)
        ]


@functools.cache
def openapi_validator() -> OpenAPIValidator:
    return OpenAPIValidator.load(kubernetes_module_dir() / "api" / "openapi-spec" / "swagger.json")
