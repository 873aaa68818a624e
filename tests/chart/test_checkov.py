"""A static security and policy scan of the rendered chart with checkov: zero findings, and every accepted finding
skipped in the chart itself (checkov.io/skipN annotations) with a written reason."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.chart.chart_tools import PROFILES, Helm

EVERYTHING_ON = {
    "backend.autoscaling.enabled": True,
    "frontend.autoscaling.enabled": True,
    "backend.podDisruptionBudget.enabled": True,
    "frontend.podDisruptionBudget.enabled": True,
    "networkPolicy.enabled": True,
}


def checkov_binary() -> str:
    beside_python = Path(sys.executable).parent / "checkov"
    found = str(beside_python) if beside_python.exists() else shutil.which("checkov")
    if not found:
        pytest.fail("checkov is missing: it is part of the test extras (pip install -e '.[test]')")
    return found


@pytest.fixture(scope="module")
def checkov_report(helm3: Helm, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("rendered")
    for profile in PROFILES:
        for variant, sets in (("shipped", {}), ("everything-on", EVERYTHING_ON)):
            manifests = helm3.template(values_files=PROFILES[profile][0], sets={**PROFILES[profile][1], **sets})
            (folder / f"{profile}-{variant}.yaml").write_text(manifests.stdout)
    result = subprocess.run(
        [
            checkov_binary(),
            "--directory",
            str(folder),
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.stdout.strip(), f"checkov produced no report: {result.stderr[-3000:]}"
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def test_checkov_scanned_the_chart(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] > 40 and summary["passed"] > 500, summary


def test_checkov_finds_nothing(checkov_report: dict[str, Any]) -> None:
    failed = [
        f"{check['check_id']} {check['check_name']}: {check['resource']} ({check['file_path']})"
        for check in checkov_report["results"]["failed_checks"]
    ]
    assert failed == [], "\n".join(failed)


def test_every_skipped_check_has_a_reason(checkov_report: dict[str, Any]) -> None:
    skipped = checkov_report["results"]["skipped_checks"]
    assert skipped, "the chart documents its accepted findings; none were reported as skipped"
    without_reason = [
        f"{check['check_id']} {check['resource']}"
        for check in skipped
        if len((check["check_result"].get("suppress_comment") or "").strip()) < 20
    ]
    assert without_reason == []
