"""The SBOM part on a machine without syft and without a vulnerability database: it says so, with the
command to run, and its criteria are "not applicable", never passed."""

from __future__ import annotations

import pytest

from todo_runbook import sbom
from todo_runbook.build import BuildResult
from todo_runbook.config import RunbookConfig
from todo_runbook.criteria import NOT_APPLICABLE, NOT_MEASURED, PASS, evaluate
from todo_runbook.evidence import EvidenceStore
from todo_runbook.tables import sboms


@pytest.fixture
def no_syft(tmp_path, monkeypatch):
    """An empty cache root and a PATH without syft (only the system folders this machine has)."""
    monkeypatch.setenv("TODO_RUNBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    assert sbom.find_syft() is None
    return tmp_path


def _criteria(tmp_path, result: sbom.SbomResult | None) -> dict:
    store = EvidenceStore(tmp_path / "outputs" / "run").ensure()
    store.record("build", BuildResult(sbom=result))
    return {c.key: c for c in evaluate(RunbookConfig(), store.all(), ["build"])}


def test_without_syft_the_sbom_is_not_generated_and_says_how_to_install(no_syft, capsys):
    out_dir = no_syft / "run" / "sbom"
    result = sbom.generate([("backend", "todo-backend:abc")], out_dir, RunbookConfig())
    assert not result.attempted and result.reason == sbom.NOT_INSTALLED and not result.images
    # The command builds the pinned version into the folder find_syft looks in.
    assert result.install_command == (f"GOBIN={no_syft / 'cache' / 'clis' / f'syft-{sbom.SYFT_VERSION}'} go install "
                                      f"-trimpath '-ldflags=-s -w' {sbom.SYFT_PACKAGE}@{sbom.SYFT_VERSION}")
    assert not out_dir.exists()
    table = _criteria(no_syft, result)
    assert table["sbom_generated"].status == NOT_APPLICABLE and not table["sbom_generated"].failed
    assert table["sbom_generated"].reason == f"{sbom.NOT_INSTALLED}; install: {result.install_command}"
    assert table["critical_vulnerabilities"].status == NOT_APPLICABLE
    assert table["critical_vulnerabilities"].reason.startswith(sbom.NO_DATABASE)
    frame = sboms(BuildResult(sbom=result))
    assert frame.empty and f"{sbom.NOT_INSTALLED} — install: {result.install_command}" in capsys.readouterr().out


def test_sbom_false_is_not_applicable_and_never_passes(no_syft):
    result = sbom.generate([("backend", "todo-backend:abc")], no_syft / "sbom", RunbookConfig(sbom=False))
    assert result.reason == "not generated: sbom=false"
    assert _criteria(no_syft, result)["sbom_generated"].status == NOT_APPLICABLE


def test_a_build_without_sbom_evidence_is_not_measured(tmp_path):
    table = _criteria(tmp_path, None)
    assert table["sbom_generated"].failed and table["sbom_generated"].status != PASS


def test_a_database_without_an_sbom_to_scan_is_not_measured(no_syft):
    (no_syft / "grype" / "6").mkdir(parents=True)
    (no_syft / "grype" / "6" / "vulnerability.db").touch()
    result = sbom.generate([("backend", "todo-backend:abc")], no_syft / "sbom",
                           RunbookConfig(vuln_db=str(no_syft / "grype")))
    assert result.scan.applicable and not result.scan.scanned
    assert _criteria(no_syft, result)["critical_vulnerabilities"].status == NOT_MEASURED


def test_no_database_says_not_scanned_with_the_command_to_run(tmp_path):
    scan = sbom.scan([], tmp_path / "sbom", "")
    assert scan.reason == "not scanned: no vulnerability database" and not scan.applicable
    assert "-p vuln_db=<folder>" in scan.command and "grype sbom:sbom/<image>.spdx.json" in scan.command


def test_a_database_folder_names_its_scanner_and_a_missing_scanner_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    grype_cache, trivy_cache = tmp_path / "grype", tmp_path / "trivy"
    (grype_cache / "6").mkdir(parents=True)
    (grype_cache / "6" / "vulnerability.db").touch()
    (trivy_cache / "db").mkdir(parents=True)
    (trivy_cache / "db" / "trivy.db").touch()
    assert sbom.locate_database(str(grype_cache)) == ("grype", grype_cache)
    assert sbom.locate_database(str(grype_cache / "6")) == ("grype", grype_cache)
    assert sbom.locate_database(str(trivy_cache)) == ("trivy", trivy_cache)
    assert sbom.locate_database(str(tmp_path / "nothing")) is None
    for cache, scanner in ((grype_cache, "grype"), (trivy_cache, "trivy")):
        if sbom.shell.which(scanner):
            continue  # only the missing-scanner path is checked here
        scan = sbom.scan([], tmp_path / "sbom", str(cache))
        assert scan.applicable and not scan.scanned and scan.reason.startswith(f"not scanned: {scanner} not installed")
