"""The SBOM part on a machine without syft and without a vulnerability database: it says so, with the
command to run, and its criteria are "not applicable", never passed. And the vulnerability scan itself, from
the JSON Grype and Trivy write (tests/fixtures/vulnerability-scans/): severity counts, fixable criticals, the
criterion, and the exact command line and environment each scanner is given."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from testcluster.build import find_go
from todo_runbook import sbom, syft_tool
from todo_runbook.build import BuildResult
from todo_runbook.config import RunbookConfig
from todo_runbook.criteria import FAIL, NOT_APPLICABLE, NOT_MEASURED, PASS, evaluate
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
    folder = no_syft / "cache" / "clis" / f"syft-{syft_tool.SYFT_VERSION}"
    assert result.install_command == (f"GOBIN={folder} go install "
                                      f"-trimpath '-ldflags=-s -w' {syft_tool.SYFT_PACKAGE}@{syft_tool.SYFT_VERSION}")
    assert not out_dir.exists()
    table = _criteria(no_syft, result)
    assert table["sbom_generated"].status == NOT_APPLICABLE and not table["sbom_generated"].failed
    assert table["sbom_generated"].reason == f"{sbom.NOT_INSTALLED}; install: {result.install_command}"
    assert table["critical_vulnerabilities"].status == NOT_APPLICABLE
    assert table["critical_vulnerabilities"].reason.startswith(sbom.NO_DATABASE)
    frame = sboms(BuildResult(sbom=result))
    assert frame.empty and f"{sbom.NOT_INSTALLED} — install: {result.install_command}" in capsys.readouterr().out


def test_go_that_cannot_build_syft_leaves_the_sbom_not_applicable_with_the_reason(no_syft, monkeypatch):
    """The real Go toolchain, offline with an empty module cache: the build fails at once, the SBOM says why."""
    go = find_go()  # the Go that builds the test bed (no_syft took it off PATH)
    monkeypatch.setenv("PATH", f"{Path(go).parent}:/usr/sbin:/usr/bin:/sbin:/bin")
    monkeypatch.setenv("GOPROXY", "off")
    monkeypatch.setenv("GOMODCACHE", str(no_syft / "empty-modcache"))
    monkeypatch.setenv("GOFLAGS", "-mod=mod")
    assert syft_tool.find_syft() is None and syft_tool.can_build()
    out_dir = no_syft / "run" / "sbom"
    result = sbom.generate([("backend", "todo-backend:abc")], out_dir, RunbookConfig())
    assert not result.attempted and result.reason.startswith(f"{sbom.NOT_BUILT}: ")
    assert "go" in result.reason and result.install_command == syft_tool.install_command()
    assert not (syft_tool.syft_dir() / "syft").exists() and not out_dir.exists()
    table = _criteria(no_syft, result)
    assert table["sbom_generated"].status == NOT_APPLICABLE and result.reason in table["sbom_generated"].reason


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


# -- the scan, from the scanners' JSON -----------------------------------------------------------------
# Hand-written in the shape grype (`-o json`, 0.87) and trivy (`sbom --format json`, schema 2) write, trimmed to
# the fields a reader of the real output would look at; the advisory IDs are made up (CVE-2099-...).
SCANS = Path(__file__).resolve().parents[1] / "fixtures" / "vulnerability-scans"
RECORDED = {"grype": SCANS / "grype-backend.json", "trivy": SCANS / "trivy-frontend.json"}


def recorded(scanner: str) -> dict:
    return json.loads(RECORDED[scanner].read_text())


def test_grype_matches_are_counted_by_severity_with_the_fixable_criticals():
    counts = sbom.count_vulnerabilities("backend", "grype", recorded("grype"))
    assert counts.component == "backend" and counts.total == 7
    assert counts.by_severity == {"critical": 2, "high": 1, "medium": 2, "low": 1, "negligible": 1}
    assert list(counts.by_severity) == ["critical", "high", "medium", "low", "negligible"]  # worst first
    # one critical has a fixed Debian package; the other is "wont-fix" and does not count as fixable
    assert counts.fixable_critical == 1
    assert counts.worst[:3] == [
        {"id": "CVE-2099-1001", "severity": "critical", "package": "libssl3 3.0.14-1~deb12u2", "fixable": "true"},
        {"id": "CVE-2099-1002", "severity": "critical", "package": "zlib1g 1:1.2.13.dfsg-1", "fixable": "false"},
        {"id": "GHSA-2099-abcd-ef01", "severity": "high", "package": "setuptools 68.2.2", "fixable": "true"}]
    assert [w["severity"] for w in counts.worst] == ["critical", "critical", "high", "medium", "medium", "low",
                                                     "negligible"]


def test_trivy_results_are_counted_across_targets_and_a_critical_without_a_fix_is_not_fixable():
    counts = sbom.count_vulnerabilities("frontend", "trivy", recorded("trivy"))
    # the OS packages and the Node.js packages; the Python target has no findings (no "Vulnerabilities" key)
    assert counts.total == 5
    assert counts.by_severity == {"critical": 1, "high": 1, "medium": 1, "low": 1, "unknown": 1}
    assert counts.fixable_critical == 0
    assert counts.worst[0] == {"id": "CVE-2099-2001", "severity": "critical", "package": "libexpat1 2.5.0-1",
                               "fixable": "false"}
    assert {"id": "CVE-2099-2003", "severity": "medium", "package": "cross-spawn 7.0.3",
            "fixable": "true"} in counts.worst


def test_an_empty_report_counts_nothing():
    for scanner in ("grype", "trivy"):
        counts = sbom.count_vulnerabilities("backend", scanner, {})
        assert counts.total == 0 and counts.by_severity == {} and counts.fixable_critical == 0


def database(tmp_path: Path, scanner: str) -> Path:
    """A database folder laid out as each scanner keeps it (the files' content is the stand-in's business)."""
    root = tmp_path / f"{scanner}-db"
    db_file = root / "6" / "vulnerability.db" if scanner == "grype" else root / "db" / "trivy.db"
    db_file.parent.mkdir(parents=True)
    db_file.write_bytes(b"")
    return root


@pytest.fixture
def scanner_stand_in(tmp_path, monkeypatch):
    """Stand-in for grype / trivy, which need their real vulnerability database to mean anything and cannot
    get one offline: it records the argv and environment it was started with and prints the recorded report
    (exit code `fail` when told to), so what is tested is the exact command the runbook gives the scanner
    and what it makes of the scanner's JSON."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    calls.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin")

    def make(scanner: str, fail: bool = False) -> Path:
        script = bin_dir / scanner
        script.write_text("#!/bin/sh\n"
                          f"printf '%s\\n' \"$@\" > {calls}/argv\n"
                          f"env > {calls}/env\n"
                          + ("echo 'failed to load vulnerability db: unexpected EOF' >&2\nexit 1\n" if fail
                             else f"cat {RECORDED[scanner]}\n"))
        script.chmod(0o755)
        return calls

    return make


def sbom_documents(run_dir: Path) -> list[sbom.ImageSbom]:
    images = []
    for component in ("backend",):
        path = f"sbom/todo-{component}{sbom.SBOM_SUFFIX}"
        (run_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / path).write_text(json.dumps({"spdxVersion": "SPDX-2.3", "packages": []}))
        images.append(sbom.ImageSbom(component, f"todo-{component}:abc", True, path, "SPDX-2.3 JSON", 153))
    return images


def test_grype_gets_the_sbom_and_its_database_offline_and_a_fixable_critical_fails(tmp_path, scanner_stand_in):
    calls = scanner_stand_in("grype")
    run_dir, db = tmp_path / "outputs" / "run", database(tmp_path, "grype")
    images = sbom_documents(run_dir)
    scan = sbom.scan(images, run_dir / "sbom", str(db))
    assert scan.applicable and scan.scanned and scan.scanner == "grype" and scan.database == str(db)
    document = run_dir / images[0].path
    grype = str(tmp_path / "bin" / "grype")
    assert scan.command == shlex.join(sbom._scan_argv("grype", grype, db, document))
    # what grype was started with: the SBOM (not the image), JSON out, its database folder, nothing online
    assert (calls / "argv").read_text().splitlines() == [f"sbom:{document}", "-o", "json", "-q"]
    env = dict(line.split("=", 1) for line in (calls / "env").read_text().splitlines() if "=" in line)
    assert env["GRYPE_DB_CACHE_DIR"] == str(db)
    assert {k: env.get(k) for k in sbom.OFFLINE_ENV} == sbom.OFFLINE_ENV
    assert [(i.component, i.total, i.fixable_critical) for i in scan.images] == [("backend", 7, 1)]
    result = sbom.SbomResult(True, tool="syft", images=images, scan=scan)
    crit = _criteria(tmp_path, result)["critical_vulnerabilities"]
    assert crit.status == FAIL and crit.measured == 1.0 and crit.threshold == 0
    assert sbom.overview(BuildResult(sbom=result)).scan == (
        f"scanned with grype ({db}): backend: critical 2, high 1, medium 2, low 1, negligible 1 "
        "(1 critical fixable)")


def test_trivy_scans_offline_from_its_cache_and_criticals_without_a_fix_pass(tmp_path, scanner_stand_in):
    calls = scanner_stand_in("trivy")
    run_dir, db = tmp_path / "outputs" / "run", database(tmp_path, "trivy")
    images = sbom_documents(run_dir)
    scan = sbom.scan(images, run_dir / "sbom", str(db / "db"))  # the db folder itself names its cache too
    assert scan.scanned and scan.scanner == "trivy" and scan.database == str(db)
    document = run_dir / images[0].path
    assert (calls / "argv").read_text().splitlines() == [
        "sbom", "--cache-dir", str(db), "--skip-db-update", "--offline-scan", "--format", "json", "--quiet",
        str(document)]
    assert scan.command == shlex.join([str(tmp_path / "bin" / "trivy"),
                                       *(calls / "argv").read_text().splitlines()])
    result = sbom.SbomResult(True, tool="syft", images=images, scan=scan)
    crit = _criteria(tmp_path, result)["critical_vulnerabilities"]
    assert scan.images[0].by_severity["critical"] == 1 and scan.images[0].fixable_critical == 0
    assert crit.status == PASS and crit.measured == 0.0


def test_a_scanner_that_fails_is_not_scanned_with_its_words_and_the_command(tmp_path, scanner_stand_in):
    scanner_stand_in("grype", fail=True)
    run_dir, db = tmp_path / "outputs" / "run", database(tmp_path, "grype")
    scan = sbom.scan(sbom_documents(run_dir), run_dir / "sbom", str(db))
    assert scan.applicable and not scan.scanned and scan.images == []
    assert scan.reason.startswith("not scanned: grype failed:") and "unexpected EOF" in scan.reason
    assert scan.command.startswith("env GRYPE_DB_CACHE_DIR=")
    result = sbom.SbomResult(True, tool="syft", images=sbom_documents(run_dir), scan=scan)
    assert _criteria(tmp_path, result)["critical_vulnerabilities"].status == NOT_MEASURED
