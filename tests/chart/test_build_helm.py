"""helm/build-helm.sh: pinned Helm CLIs built from Go modules, cached by version, linked into the project's bin."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.chart.chart_tools import BUILD_SCRIPT, CHART, HELM_VERSIONS, ROOT, Helm, cache_dir, go_binary


@pytest.mark.parametrize("name", sorted(HELM_VERSIONS))
def test_helm_prints_its_pinned_version(helm_binaries: dict[str, Helm], name: str) -> None:
    output = helm_binaries[name].run("version", "--short").stdout.strip()
    assert output.startswith(HELM_VERSIONS[name]), f"{name} reports {output!r}, pinned {HELM_VERSIONS[name]}"


@pytest.mark.parametrize("name", sorted(HELM_VERSIONS))
def test_helm_is_linked_into_the_versioned_build_folder(helm_binaries: dict[str, Helm], name: str) -> None:
    link = helm_binaries[name].binary
    assert link.is_symlink(), f"{link} should be a symlink into the versioned build folder"
    target = link.resolve()
    assert target == (cache_dir() / "build" / f"helm-{HELM_VERSIONS[name]}" / "helm").resolve()


@pytest.mark.parametrize("name", sorted(HELM_VERSIONS))
def test_helm_was_built_from_the_pinned_module_with_trimpath(helm_binaries: dict[str, Helm], name: str) -> None:
    go = go_binary()
    assert go is not None
    info = subprocess.run(
        [go, "version", "-m", str(helm_binaries[name].binary.resolve())], capture_output=True, text=True, check=True
    ).stdout
    major = HELM_VERSIONS[name].split(".")[0]
    assert f"path\thelm.sh/helm/{major}/cmd/helm" in info
    # The main package's module is recorded as "mod" with its exact version (from the module proxy, not a checkout).
    assert re.search(rf"\t(mod|dep)\thelm\.sh/helm/{major}\t{re.escape(HELM_VERSIONS[name])}\t", info), info
    assert "-trimpath=true" in info


def test_second_run_skips_built_versions(helm_binaries: dict[str, Helm]) -> None:
    before = {name: helm.binary.resolve().stat().st_mtime_ns for name, helm in helm_binaries.items()}
    go = go_binary()
    assert go is not None
    env = {**os.environ, "PATH": f"{os.path.dirname(go)}:{os.environ.get('PATH', '')}"}
    result = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, env=env, timeout=600, check=True)
    assert result.stderr.count("already built") == 2, result.stderr
    after = {name: helm.binary.resolve().stat().st_mtime_ns for name, helm in helm_binaries.items()}
    assert before == after, "a second run rebuilt a binary that was already there"


def test_no_binaries_are_tracked_in_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "helm", "tests/chart"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    binaries = [path for path in tracked if (ROOT / path).is_file() and (ROOT / path).read_bytes()[:4] == b"\x7fELF"]
    assert binaries == []


@pytest.mark.parametrize("name", sorted(HELM_VERSIONS))
def test_default_kubernetes_version_satisfies_the_chart(helm_binaries: dict[str, Helm], name: str) -> None:
    """Without --kube-version Helm assumes its own default; Helm 3 gets it from ldflags (else 1.20, which the chart's
    kubeVersion >=1.30 refuses), as Helm's own Makefile sets it."""
    result = helm_binaries[name].run(
        "template", "todo", str(CHART), "--set-string", "secrets.databaseUrl=postgresql://u:p@db:5432/todo", check=False
    )
    assert result.returncode == 0, result.stderr
