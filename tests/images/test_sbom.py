"""SBOMs with the real syft on a real image built here (FROM scratch, no pull): a Python package installed
in this repository's virtualenv (its dist-info and files) and one Debian package from this machine's dpkg
database. What syft must find is read from those sources at test time, never typed in."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import uuid
from collections import Counter
from pathlib import Path

import pytest

from todo_runbook import sbom
from todo_runbook.build import BuildResult
from todo_runbook.config import RunbookConfig
from todo_runbook.criteria import NOT_APPLICABLE, NOT_MEASURED, PASS, evaluate
from todo_runbook.evidence import EvidenceStore
from todo_runbook.report import StepOutcome, build_report

pytestmark = [pytest.mark.docker]

PY_PACKAGE = "colorama"  # pure Python, a test dependency of the repository's virtualenv
DEB_PACKAGE = "base-files"  # essential: every Debian machine has it
SITE = "opt/venv/lib/python3.11/site-packages"
PURL_TYPES = {"pypi": "python", "deb": "deb"}


def _dpkg_paragraph(package: str) -> tuple[str, str, int]:
    """(the package's dpkg status paragraph, its version, its Installed-Size in KiB) from this machine."""
    text = subprocess.run(["dpkg-query", "-s", package], capture_output=True, text=True, check=True).stdout
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line and not line.startswith(" "))
    return text, fields["Version"], int(fields["Installed-Size"])


@pytest.fixture(scope="module")
def known_image(docker_client, tmp_path_factory):
    """A FROM-scratch image holding one installed Python package and one dpkg status entry."""
    context = tmp_path_factory.mktemp("sbom-image")
    dist = importlib.metadata.distribution(PY_PACKAGE)
    for file in dist.files or []:
        source = Path(str(dist.locate_file(file)))
        if not source.is_file() or "__pycache__" in file.parts:
            continue
        target = context / SITE / str(file)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    status, deb_version, deb_kib = _dpkg_paragraph(DEB_PACKAGE)
    (context / "var/lib/dpkg").mkdir(parents=True)
    (context / "var/lib/dpkg/status").write_text(status.rstrip("\n") + "\n\n")
    (context / "etc").mkdir()
    shutil.copyfile("/etc/os-release", context / "etc/os-release")
    # On disk, every file of the package except RECORD itself (which cannot list its own size).
    py_bytes = sum((context / SITE / str(f)).stat().st_size for f in dist.files or []
                   if (context / SITE / str(f)).is_file() and f.name != "RECORD")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    tag = f"todo-runbook-test/sbom-known:{uuid.uuid4().hex[:8]}"
    docker_client.images.build(path=str(context), tag=tag, rm=True, pull=False)
    yield {"ref": tag, "py": (PY_PACKAGE, dist.version, py_bytes), "deb": (DEB_PACKAGE, deb_version, deb_kib)}
    docker_client.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def generated(known_image, syft_cli, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("PATH", f"{syft_cli.path.parent}:{os.environ['PATH']}")
    run_dir = tmp_path_factory.mktemp("run")
    result = sbom.generate([("backend", known_image["ref"])], run_dir / "sbom", RunbookConfig())
    return run_dir, result


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_the_spdx_document_lists_the_known_packages(generated, known_image):
    run_dir, result = generated
    assert result.attempted and result.complete, result
    image = result.images[0]
    document_path = run_dir / image.path
    assert document_path == run_dir / "sbom" / "todo-runbook-test_sbom-known.spdx.json"
    document = json.loads(document_path.read_text())
    assert document["spdxVersion"].startswith("SPDX-2.") and document["dataLicense"] == "CC0-1.0"
    assert image.format == f"{document['spdxVersion']} JSON"
    versions = {(p["name"], p.get("versionInfo")) for p in document["packages"]}
    py_name, py_version, _ = known_image["py"]
    deb_name, deb_version, _ = known_image["deb"]
    assert (py_name, py_version) in versions and (deb_name, deb_version) in versions, versions
    # The summary counts what the document lists: each package with a purl (but the image itself), by type.
    purls = [ref["referenceLocator"] for p in document["packages"] for ref in p.get("externalRefs") or []
             if ref.get("referenceType") == "purl" and not ref["referenceLocator"].startswith("pkg:oci/")]
    from_document = Counter(PURL_TYPES.get(p.split(":", 1)[1].split("/", 1)[0], "other") for p in purls)
    assert image.package_count == len(purls)
    assert image.by_type == dict(from_document)
    assert image.by_type["python"] == 1 and image.by_type["deb"] == 1 and image.unsized == 0


def test_the_largest_packages_carry_their_measured_sizes(generated, known_image):
    _, result = generated
    sizes = {p.name: p for p in result.images[0].largest}
    py_name, _, py_bytes = known_image["py"]
    deb_name, _, deb_kib = known_image["deb"]
    assert sizes[py_name].bytes == py_bytes and sizes[py_name].type == "python"
    assert sizes[deb_name].bytes == deb_kib * 1024 and sizes[deb_name].type == "deb"
    assert [p.bytes for p in result.images[0].largest] == sorted((p.bytes for p in result.images[0].largest),
                                                                 reverse=True)


def test_without_a_database_the_scan_says_not_scanned_and_its_criterion_does_not_apply(generated, tmp_path):
    _, result = generated
    assert not result.scan.scanned and not result.scan.applicable
    assert result.scan.reason == sbom.NO_DATABASE
    assert "grype db update" in result.scan.command and "sbom/todo-runbook-test_sbom-known.spdx.json" in \
        result.scan.command
    store = EvidenceStore(tmp_path / "outputs" / "r1").ensure()
    store.record("build", BuildResult(sbom=result))
    table = {c.key: c for c in evaluate(RunbookConfig(), store.all(), ["build"])}
    assert table["sbom_generated"].status == PASS and table["sbom_generated"].measured is True
    assert table["critical_vulnerabilities"].status == NOT_APPLICABLE
    assert table["critical_vulnerabilities"].reason.startswith(sbom.NO_DATABASE)
    report = build_report(store, RunbookConfig(outputs_dir=str(tmp_path / "outputs")), [StepOutcome("build", "ok")])
    html = report.report_html.read_text()
    assert "Software bill of materials" in html and sbom.NO_DATABASE in html
    assert f"python {result.images[0].by_type['python']}" in html
    assert "sbom/todo-runbook-test_sbom-known.spdx.json" in html


def test_a_database_folder_without_a_database_is_not_measured(generated, tmp_path):
    run_dir, result = generated
    scan = sbom.scan(result.images, run_dir / "sbom", str(tmp_path))
    assert scan.applicable and not scan.scanned
    assert str(tmp_path) in scan.reason and "vulnerability.db" in scan.reason
    store = EvidenceStore(tmp_path / "outputs" / "r2").ensure()
    store.record("build", BuildResult(sbom=sbom.SbomResult(True, images=result.images, scan=scan)))
    table = {c.key: c for c in evaluate(RunbookConfig(), store.all(), ["build"])}
    assert table["critical_vulnerabilities"].status == NOT_MEASURED and table["critical_vulnerabilities"].failed


def test_an_image_described_before_reuses_its_sbom(known_image, syft_cli, docker_client, tmp_path, monkeypatch):
    """Same image ID, same syft: the second run copies the SBOM and says so; another image ID is scanned again."""
    monkeypatch.setenv("PATH", f"{syft_cli.path.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("TODO_RUNBOOK_CACHE", str(tmp_path / "cache"))
    ref = known_image["ref"]
    image_id = docker_client.images.get(ref).id
    first = sbom.generate([("backend", ref)], tmp_path / "run1" / "sbom", RunbookConfig(), image_ids={ref: image_id})
    second = sbom.generate([("backend", ref)], tmp_path / "run2" / "sbom", RunbookConfig(), image_ids={ref: image_id})
    made, reused = first.images[0], second.images[0]
    assert made.generated and not made.detail.startswith("reused"), made
    assert reused.generated and reused.detail.startswith("reused") and image_id[:19] in reused.detail, reused
    assert (reused.package_count, reused.by_type, reused.largest) == (made.package_count, made.by_type, made.largest)
    assert (tmp_path / "run2" / reused.path).read_bytes() == (tmp_path / "run1" / made.path).read_bytes()
    other = sbom.generate([("backend", ref)], tmp_path / "run3" / "sbom", RunbookConfig(),
                          image_ids={ref: "sha256:" + "0" * 64})
    assert other.images[0].generated and not other.images[0].detail.startswith("reused"), other.images[0]
