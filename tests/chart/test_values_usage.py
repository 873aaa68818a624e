"""Every key in values.yaml changes the rendered output when its value changes: no key that no template uses."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.chart_tools import CHART, Helm

SERVICE_MONITOR_API = ["--api-versions", "monitoring.coreos.com/v1/ServiceMonitor"]

# Contexts in which a key can matter: everything optional switched on, with the in-cluster database or an external
# one. Generated secrets are fixed so that the only difference between two renders is the mutated key.
CONTEXTS: dict[str, dict[str, Any]] = {
    "as-shipped": {
        "secrets": {"jwtSecret": "j" * 48, "databaseUrl": "postgresql://u:p@db.example:5432/todo"},
    },
    "in-cluster-db": {
        "postgresql": {"enabled": True, "auth": {"password": "fixed-password"}},
        "secrets": {"jwtSecret": "j" * 48, "openaiApiKey": "sk-test"},
    },
    # Credentials from an existing Secret: the one context where postgresql.enabled can flip either way.
    "existing-secret": {
        "postgresql": {"enabled": False},
        "secrets": {"existingSecret": "todo-credentials"},
    },
    "external-db": {
        "postgresql": {"enabled": False},
        "secrets": {"jwtSecret": "j" * 48, "databaseUrl": "postgresql://u:p@db.example:5432/todo"},
    },
}
EVERYTHING_ON: dict[str, Any] = {
    "backend": {"autoscaling": {"enabled": True}, "podDisruptionBudget": {"enabled": True}},
    "frontend": {"autoscaling": {"enabled": True}, "podDisruptionBudget": {"enabled": True}},
    "networkPolicy": {"enabled": True},
    "ingress": {"tls": {"enabled": True, "secretName": "todo-tls"}},
    "metrics": {"serviceMonitor": {"enabled": True}},
}
# A different, valid value for keys whose type alone does not give one.
MUTATIONS: dict[str, Any] = {
    "profile": "dev",
    "backend.config.forwardedAllowIps": "10.1.0.0/16",
    "backend.image.tag": "abc1234",
    "frontend.image.tag": "abc1234",
    "postgresql.image.tag": "16-bookworm",
    "backend.image.pullPolicy": "Never",
    "frontend.image.pullPolicy": "Never",
    "postgresql.image.pullPolicy": "Never",
    "backend.config.logLevel": "warning",
    "backend.config.corsOrigins": "https://chat.example.org",
    "ingress.host": "chat.example.org",
    "ingress.tls.secretName": "other-tls",
    "secrets.databaseUrl": "postgresql://u:p@other.example:5432/todo",
    "secrets.jwtSecret": "k" * 48,
    "secrets.openaiApiKey": "sk-other",
    "postgresql.auth.password": "other-password",
    "postgresql.auth.username": "otheruser",
    "postgresql.auth.database": "otherdb",
    "postgresql.persistence.size": "2Gi",
    "metrics.serviceMonitor.path": "/other-metrics",
    "metrics.serviceMonitor.interval": "15s",
    "imagePullSecrets": [{"name": "registry-credentials"}],
    "networkPolicy.ingressControllerPeers": [{"namespaceSelector": {"matchLabels": {"name": "ingress"}}}],
    "networkPolicy.backendEgressPorts": [5433],
    "backend.podAntiAffinityPreset": "hard",
    "frontend.podAntiAffinityPreset": "hard",
}
QUANTITY_MUTATION = {"m": "300m", "Mi": "300Mi"}


def leaves(values: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            found += leaves(value, f"{path}.")
        else:
            found.append((path, value))
    return found


def merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def mutated(path: str, value: Any) -> Any:
    if path in MUTATIONS:
        return MUTATIONS[path]
    leaf = path.rsplit(".", 1)[-1]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str) and value.endswith(("m", "Mi")) and value[:-1].rstrip("Mi").isdigit():
        return QUANTITY_MUTATION["Mi" if value.endswith("Mi") else "m"]
    if isinstance(value, list):
        return (
            [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}] if leaf == "tolerations" else [value]
        )
    if isinstance(value, dict):  # empty maps: podAnnotations, nodeSelector, affinity, annotations
        if leaf == "affinity":
            return {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 1, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname"}}
                    ]
                }
            }
        return {"example.org/key": "value"}
    if isinstance(value, str):
        return f"{value}x" if value else "other"
    raise AssertionError(f"no mutation for {path}={value!r}: add one to MUTATIONS")


def set_path(values: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    result = copy.deepcopy(values)
    node = result
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return result


def get_path(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for key in path.split("."):
        node = node[key]
    return node


def render(helm: Helm, values: dict[str, Any], tmp_path: Path, name: str) -> str | None:
    """The manifests plus NOTES.txt (a template too): Helm 4 renders NOTES in a client-side dry run."""
    values_file = tmp_path / f"{name}.yaml"
    values_file.write_text(yaml.safe_dump(values))
    if helm.name == "helm4":
        result = helm.run(
            "install", "todo", str(CHART), "-n", "todo-app", "--dry-run=client", "-f", str(values_file), check=False
        )
        # Drop the line that carries the time of the dry run.
        output = "\n".join(line for line in result.stdout.splitlines() if not line.startswith("LAST DEPLOYED"))
    else:
        result = helm.template(values_files=[str(values_file)], extra=SERVICE_MONITOR_API, check=False)
        output = result.stdout
    return output if result.returncode == 0 else None


def test_every_values_key_is_used_by_a_template(helm_binaries: dict[str, Helm], tmp_path: Path) -> None:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    contexts = {
        f"{helm}:{name}": (
            helm_binaries[helm],
            merge(defaults if name == "as-shipped" else merge(defaults, EVERYTHING_ON), overlay),
        )
        # Helm 3 with the ServiceMonitor API for manifests; Helm 4 for NOTES.txt (as shipped only).
        for helm in ("helm3", "helm4")
        for name, overlay in CONTEXTS.items()
        if helm == "helm3" or name == "as-shipped"
    }
    baselines = {name: render(helm, values, tmp_path, f"base-{name}") for name, (helm, values) in contexts.items()}
    assert all(baselines.values()), "the baseline contexts must render"
    unused, unrenderable = [], []
    for path, _ in leaves(defaults):
        changed = rendered_any = False
        for name, (helm, values) in contexts.items():
            new_value = mutated(path, get_path(values, path))
            output = render(helm, set_path(values, path, new_value), tmp_path, f"{name}-{path}")
            if output is None:
                continue
            rendered_any = True
            if output != baselines[name]:
                changed = True
                break
        if not rendered_any:
            unrenderable.append(path)
        elif not changed:
            unused.append(path)
    assert unrenderable == [], f"mutations that no context accepts (fix MUTATIONS): {unrenderable}"
    assert unused == [], f"values keys that no template uses: {unused}"


@pytest.mark.parametrize("path", ["backend.replicaCount", "frontend.image.repository", "ingress.host"])
def test_the_usage_check_detects_change(helm3: Helm, tmp_path: Path, path: str) -> None:
    """Guards the guard: a used key does change the output."""
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    values = merge(defaults, CONTEXTS["as-shipped"])
    value = get_path(values, path)
    assert render(helm3, values, tmp_path, "a") != render(
        helm3, set_path(values, path, mutated(path, value)), tmp_path, "b"
    )
