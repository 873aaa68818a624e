"""helm lint --strict and helm template for every values file, with Helm 3 and Helm 4; every rendered object
validates against the OpenAPI schema of the pinned Kubernetes version."""

from __future__ import annotations

import json

import pytest

from tests.chart.chart_tools import (
    CHART,
    EXTERNAL_DB,
    KUBERNETES_VERSION,
    PROFILES,
    Helm,
    Manifests,
    OpenAPIValidator,
    SetValue,
)
from todo_runbook.errors import ConfigError

# Everything that is off by default, switched on, so the validation sees every template.
ALL_FEATURES: dict[str, SetValue] = {
    "backend.autoscaling.enabled": True,
    "frontend.autoscaling.enabled": True,
    "backend.podDisruptionBudget.enabled": True,
    "frontend.podDisruptionBudget.enabled": True,
    "networkPolicy.enabled": True,
    "ingress.tls.enabled": True,
    "ingress.tls.secretName": "todo-tls",
    "secrets.openaiApiKey": "sk-test-not-a-real-key",
}

EXPECTED_KINDS = {
    "default": [
        "ConfigMap",
        "ConfigMap",
        "Deployment",
        "Deployment",
        "Ingress",
        "Ingress",
        "Pod",
        "Secret",
        "Service",
        "Service",
        "ServiceAccount",
    ],
    "dev": [
        "ConfigMap",
        "ConfigMap",
        "Deployment",
        "Deployment",
        "Ingress",
        "Ingress",
        "PodDisruptionBudget",
        "PodDisruptionBudget",
        "Pod",
        "Secret",
        "Secret",
        "Service",
        "Service",
        "Service",
        "Service",
        "ServiceAccount",
        "StatefulSet",
    ],
    # prod: credentials from an existing Secret, so the chart creates none.
    "prod": [
        "ConfigMap",
        "ConfigMap",
        "Deployment",
        "Deployment",
        "HorizontalPodAutoscaler",
        "HorizontalPodAutoscaler",
        "Ingress",
        "Ingress",
        "NetworkPolicy",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "PodDisruptionBudget",
        "Pod",
        "Service",
        "Service",
        "ServiceAccount",
    ],
}


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_lint_strict(helm: Helm, profile: str) -> None:
    files, sets = PROFILES[profile]
    args = ["lint", "--strict", str(CHART), "--kube-version", KUBERNETES_VERSION]
    for values_file in files:
        args += ["-f", str(CHART / values_file)]
    for key, value in sets.items():
        args += ["--set-string", f"{key}={value}"]
    result = helm.run(*args)
    assert "0 chart(s) failed" in result.stdout, result.stdout


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_template_renders_the_expected_objects(helm: Helm, profile: str) -> None:
    manifests = helm.render_profile(profile)
    assert manifests.kinds() == sorted(EXPECTED_KINDS[profile])


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("features", ["as-shipped", "everything-on"])
def test_every_object_validates_against_the_kubernetes_openapi_schema(
    helm: Helm, openapi: OpenAPIValidator, profile: str, features: str
) -> None:
    sets = ALL_FEATURES if features == "everything-on" else {}
    manifests = helm.render_profile(profile, sets=sets)
    validator = openapi
    problems = {
        f"{obj['kind']}/{obj['metadata']['name']}": errors for obj in manifests if (errors := validator.errors(obj))
    }
    assert problems == {}, f"objects invalid for Kubernetes {KUBERNETES_VERSION}: {problems}"


def test_the_validator_catches_invalid_objects(openapi: OpenAPIValidator) -> None:
    """Guards the guard: a typo and a wrong type must both be reported."""
    validator = openapi
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "replicas": "two",
            "selector": {},
            "template": {"spec": {"containers": [{"name": "x", "image": "x", "imagePullPolcy": "IfNotPresent"}]}},
        },
    }
    errors = " | ".join(validator.errors(deployment))
    assert "spec/replicas" in errors and "imagePullPolcy" in errors, errors
    assert validator.errors({"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": {"name": "x"}})


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_helm3_and_helm4_render_the_same_objects(helm_binaries: dict[str, Helm], profile: str) -> None:
    # Fixed secrets: generated ones differ on every render by design.
    fixed = {"secrets.jwtSecret": "j" * 48, "postgresql.auth.password": "fixed-password-for-comparison"}
    renders: dict[str, Manifests] = {
        name: helm.render_profile(profile, sets={**fixed, **ALL_FEATURES}) for name, helm in helm_binaries.items()
    }
    assert renders["helm3"].objects == renders["helm4"].objects


def test_everything_on_renders_hpa_pdb_and_network_policies(helm: Helm) -> None:
    manifests = helm.render(sets={**EXTERNAL_DB, **ALL_FEATURES})
    assert len(manifests.of_kind("HorizontalPodAutoscaler")) == 2
    assert len(manifests.of_kind("PodDisruptionBudget")) == 2
    assert len(manifests.of_kind("NetworkPolicy")) == 2


def test_the_database_image_is_the_official_one_unless_the_runbook_sets_another(helm3: Helm) -> None:
    from todo_runbook.config import RunbookConfig
    from todo_runbook.deploy import release_args

    def database_image(manifests: Manifests) -> str:
        return str(manifests.one("StatefulSet", "postgresql")["spec"]["template"]["spec"]["containers"][0]["image"])

    assert database_image(helm3.render_profile("dev")) == "postgres:15-bookworm"
    args = release_args(RunbookConfig(profile="dev"), {"postgresql": "todo-runbook/postgres:15-bookworm"})
    sets = dict(a.split("=", 1) for a in args if a.startswith("postgresql.image."))
    assert sets == {"postgresql.image.repository": "todo-runbook/postgres", "postgresql.image.tag": "15-bookworm"}
    assert database_image(helm3.render_profile("dev", sets=sets)) == "todo-runbook/postgres:15-bookworm"


def test_the_init_container_waits_for_the_database_unless_the_app_waits_itself(helm3: Helm, tmp_path) -> None:
    """This repository's backend starts beside its database (no init container); any other backend, whose
    behaviour without a database is unknown, is held by the init container; the parameter decides either way."""
    from todo_runbook.config import RunbookConfig
    from todo_runbook.deploy import release_args

    def init_containers(config: RunbookConfig) -> list[str]:
        args = release_args(config, {})
        (value,) = [a.split("=", 1)[1] for a in args if a.startswith("backend.app.waitForDatabase=")]
        assert value in ("true", "false")  # given with --set: YAML's booleans, as the schema requires
        backend = helm3.render_profile("dev", sets={"backend.app.waitForDatabase": value == "true"}).one(
            "Deployment", "backend")
        return [c["name"] for c in backend["spec"]["template"]["spec"].get("initContainers", [])]

    assert helm3.render_profile("dev").one("Deployment", "backend")["spec"]["template"]["spec"]["initContainers"]
    assert init_containers(RunbookConfig()) == []
    assert init_containers(RunbookConfig(backend_src=str(tmp_path))) == ["wait-for-database"]
    assert init_containers(RunbookConfig(wait_for_database="true")) == ["wait-for-database"]
    assert init_containers(RunbookConfig(backend_src=str(tmp_path), wait_for_database="false")) == []
    with pytest.raises(ConfigError, match="wait_for_database"):
        RunbookConfig(wait_for_database="yes").validate()


def test_the_ingress_serves_tls_from_the_secret_and_says_what_plain_http_does(helm: Helm) -> None:
    """The dev profile serves todo.local over HTTPS from the runbook's Secret and redirects plain HTTP there, as
    every profile with TLS does (ingress-nginx's default, stated so every controller does the same)."""
    dev = helm.render_profile("dev").one("Ingress", "ingress")
    assert dev["spec"]["tls"] == [{"hosts": ["todo.local"], "secretName": "todo-app-ingress-tls"}]
    assert dev["metadata"]["annotations"]["nginx.ingress.kubernetes.io/ssl-redirect"] == "true"
    served = helm.render_profile("dev", sets={"ingress.tls.redirectHttp": False}).one("Ingress", "ingress")
    assert served["metadata"]["annotations"]["nginx.ingress.kubernetes.io/ssl-redirect"] == "false"
    on = helm.render(sets={**EXTERNAL_DB, "ingress.tls.enabled": True, "ingress.tls.secretName": "my-tls"})
    assert on.one("Ingress", "ingress")["metadata"]["annotations"]["nginx.ingress.kubernetes.io/ssl-redirect"] == "true"
    # a user's own annotation wins, and is not written twice
    own = helm.render(sets={**EXTERNAL_DB, "ingress.tls.enabled": True, "ingress.tls.secretName": "my-tls",
                            "ingress.annotations.nginx\\.ingress\\.kubernetes\\.io/ssl-redirect": "false"})
    assert own.text.count("ssl-redirect") == 2  # once per Ingress (the app's and the probe paths')
    own_annotations = own.one("Ingress", "ingress")["metadata"]["annotations"]
    assert own_annotations["nginx.ingress.kubernetes.io/ssl-redirect"] == "false"
    off = helm.render(sets=EXTERNAL_DB).one("Ingress", "ingress")
    assert "tls" not in off["spec"] and "ssl-redirect" not in str(off["metadata"].get("annotations"))
    # the probe paths' Ingress serves the same host with the same certificate and the same plain-HTTP rule
    probes = helm.render_profile("dev").one("Ingress", "ingress-probes")
    assert probes["spec"]["tls"] == dev["spec"]["tls"]
    assert probes["metadata"]["annotations"]["nginx.ingress.kubernetes.io/ssl-redirect"] == "true"


def test_replicas_spread_over_nodes_by_the_anti_affinity_preset(helm: Helm, tmp_path) -> None:
    """soft (the default, every profile) prefers one replica per node, hard requires it, "" sets none, and an
    explicit affinity replaces the preset; each term selects only its own component's pods."""

    def affinity(component: str, values_files: tuple[str, ...] = (), **sets: SetValue) -> dict:
        rendered = helm.render(values_files=values_files, sets={**EXTERNAL_DB, **sets})
        return dict(rendered.one("Deployment", component)["spec"]["template"]["spec"].get("affinity", {}))

    for profile in PROFILES:
        rendered = helm.render_profile(profile).one("Deployment", "backend")["spec"]["template"]["spec"]
        assert "preferredDuringSchedulingIgnoredDuringExecution" in rendered["affinity"]["podAntiAffinity"], profile
    soft = affinity("frontend")["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert soft["weight"] == 100 and soft["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert soft["podAffinityTerm"]["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "frontend"
    hard = affinity("backend", **{"backend.podAntiAffinityPreset": "hard"})["podAntiAffinity"]
    term = hard["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "backend"
    assert affinity("backend", **{"backend.podAntiAffinityPreset": ""}) == {}
    own = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 1, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}}
    values = tmp_path / "own-affinity.yaml"
    values.write_text(json.dumps({"backend": {"affinity": own}}))
    assert affinity("backend", (str(values),)) == own
