"""Fixtures for the chart tests: the pinned Helm 3 and Helm 4 CLIs, built from Go modules by helm/build-helm.sh."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.chart.chart_tools import (
    BUILD_SCRIPT,
    HELM_VERSIONS,
    Helm,
    OpenAPIValidator,
    cache_dir,
    go_binary,
    openapi_validator,
)


@pytest.fixture(scope="session")
def helm_binaries() -> dict[str, Helm]:
    """Runs helm/build-helm.sh (a no-op when both versions are built) and returns both CLIs."""
    go = go_binary()
    if go is None:
        pytest.skip("Go is not installed, so helm/build-helm.sh cannot build the pinned Helm CLIs; install Go 1.26+")
    env = {**os.environ, "PATH": f"{os.path.dirname(go)}:{os.environ.get('PATH', '')}"}
    result = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, env=env, timeout=3600)
    assert result.returncode == 0, f"helm/build-helm.sh failed:\n{result.stderr[-4000:]}"
    bin_dir = cache_dir() / "bin"
    return {"helm3": Helm("helm3", bin_dir / "helm"), "helm4": Helm("helm4", bin_dir / "helm4")}


@pytest.fixture(scope="session", params=sorted(HELM_VERSIONS))
def helm(request: pytest.FixtureRequest, helm_binaries: dict[str, Helm]) -> Helm:
    """Each test that takes `helm` runs once with Helm 3 and once with Helm 4."""
    return helm_binaries[request.param]


@pytest.fixture(scope="session")
def helm3(helm_binaries: dict[str, Helm]) -> Helm:
    return helm_binaries["helm3"]


@pytest.fixture(scope="session")
def openapi() -> OpenAPIValidator:
    """The Kubernetes OpenAPI schema of the pinned version, from the k8s.io/kubernetes Go module."""
    if go_binary() is None:
        pytest.skip("Go is not installed, so the k8s.io/kubernetes module (its OpenAPI spec) cannot be fetched")
    return openapi_validator()
