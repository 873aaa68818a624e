"""The chart against a real Kubernetes API server (the offline test bed's control plane): generated secrets survive
upgrades (lookup), the API server accepts every profile (server-side dry run), NOTES render with both Helm majors.
Pods need not run for these checks, so no real node is required."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.chart.chart_tools import CHART, PROFILES, Helm

pytestmark = pytest.mark.cluster


class Release:
    """One release of the chart in its own namespace, removed afterwards."""

    def __init__(self, helm: Helm, testbed: Any, name: str = "todo") -> None:
        self.helm, self.testbed, self.name = helm, testbed, name
        self.namespace = f"chart-{helm.name}-{uuid.uuid4().hex[:6]}"
        self.cluster_args = ["--kubeconfig", testbed.kubeconfig, "--kube-context", testbed.context]

    def helm_run(self, *args: str, check: bool = True) -> str:
        return self.helm.run(*args, "-n", self.namespace, *self.cluster_args, check=check).stdout

    def install(self, *values: str, sets: dict[str, str] | None = None, command: str = "install") -> str:
        args = [command, self.name, str(CHART)]
        for values_file in values:
            args += ["-f", str(CHART / values_file)]
        for key, value in (sets or {}).items():
            args += ["--set-string", f"{key}={value}"]
        return self.helm_run(*args)

    def kubectl_json(self, *args: str) -> dict[str, Any]:
        output = self.testbed.run("kubectl", ["-n", self.namespace, *args, "-o", "json"]).stdout
        return json.loads(output)

    def secret(self, name: str, key: str) -> str:
        return base64.b64decode(self.kubectl_json("get", "secret", name)["data"][key]).decode()

    def pod_annotations(self, deployment: str) -> dict[str, str]:
        return self.kubectl_json("get", "deployment", deployment)["spec"]["template"]["metadata"]["annotations"]

    def remove(self) -> None:
        self.helm_run("uninstall", self.name, "--ignore-not-found", check=False)
        self.testbed.run(
            "kubectl", ["delete", "namespace", self.namespace, "--wait=false", "--ignore-not-found"], check=False
        )


@pytest.fixture
def release(helm: Helm, testbed: Any) -> Iterator[Release]:
    created = Release(helm, testbed)
    # Server-side dry runs need the namespace to exist (a dry run creates nothing).
    testbed.run("kubectl", ["create", "namespace", created.namespace])
    yield created
    created.remove()


def test_generated_secrets_are_kept_across_upgrades(release: Release) -> None:
    release.install("values-dev.yaml")
    backend, database = "todo-todo-app-backend", "todo-todo-app-postgresql"
    jwt, password = release.secret(backend, "JWT_SECRET"), release.secret(database, "POSTGRES_PASSWORD")
    assert len(jwt) >= 32 and len(password) >= 16
    before = release.pod_annotations(backend)

    release.install("values-dev.yaml", sets={"backend.config.logLevel": "warning"}, command="upgrade")
    assert release.secret(backend, "JWT_SECRET") == jwt, "helm upgrade replaced the generated JWT secret"
    assert release.secret(database, "POSTGRES_PASSWORD") == password, "helm upgrade replaced the database password"
    after = release.pod_annotations(backend)
    assert after["checksum/secret"] == before["checksum/secret"], "an unchanged Secret must not roll the pods"
    assert after["checksum/config"] != before["checksum/config"]

    given = "given-" + "z" * 40
    release.install("values-dev.yaml", sets={"secrets.jwtSecret": given}, command="upgrade")
    assert release.secret(backend, "JWT_SECRET") == given
    assert release.pod_annotations(backend)["checksum/secret"] != before["checksum/secret"]


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_api_server_accepts_every_profile(release: Release, profile: str) -> None:
    files, sets = PROFILES[profile]
    args = ["install", release.name, str(CHART), "--dry-run=server"]
    for values_file in files:
        args += ["-f", str(CHART / values_file)]
    for key, value in sets.items():
        args += ["--set-string", f"{key}={value}"]
    output = release.helm_run(*args)
    assert "NOTES:" in output and "helm test todo" in output
    assert "ServiceMonitor" not in output.split("NOTES:")[0], "no ServiceMonitor without its API"


def test_notes_render_against_a_cluster_without_printing_secrets(release: Release) -> None:
    secret_values = {
        "secrets.databaseUrl": "postgresql://todo:Db-Pass-9q8w7e@db.example:5432/todo",
        "secrets.jwtSecret": "jwt-" + "q" * 40,
    }
    args = ["install", release.name, str(CHART), "--dry-run=server"]
    for key, value in secret_values.items():
        args += ["--set-string", f"{key}={value}"]
    notes = release.helm_run(*args).split("NOTES:", 1)[1]
    assert "http://todo.local/" in notes
    for value in secret_values.values():
        assert value not in notes
