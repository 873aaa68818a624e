"""The build step alone through the real runner: a real engine, real images, no cluster needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .conftest import REPO, with_syft_on_path

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_build_only_run_measures_both_images(docker_client, syft_cli, tmp_path):
    outputs = tmp_path / "outputs"
    proc = subprocess.run([sys.executable, "-m", "todo_runbook", "run", "--steps", "build", "--run-id", "b1",
                           "-p", f"outputs_dir={outputs}"], capture_output=True, text=True, cwd=REPO, timeout=3600,
                          env=with_syft_on_path(dict(os.environ)))
    run_dir = outputs / "b1"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    assert [s["status"] for s in summary["steps"]] == ["ok", "ok"], summary["steps"]
    criteria = {c["key"]: c for c in summary["criteria"]}
    for key in ("frontend_image_mb", "backend_image_mb", "containers_smoke_run", "sbom_generated"):
        assert criteria[key]["status"] in ("pass", "fail") and criteria[key]["measured"] is not None
    assert all(c["status"] == "not in this run" for c in criteria.values() if c["step"] != "build")
    # "not applicable" (no vulnerability database here) is no failure; a miss or "not measured" is.
    assert proc.returncode == (0 if all(criteria[k]["status"] in ("pass", "not applicable") for k in criteria
                                        if criteria[k]["step"] == "build") else 1)
    client = docker_client
    build = json.loads((run_dir / "evidence" / "build.json").read_text())["result"]
    for image in build["images"]:
        attrs = client.images.get(image["ref"]).attrs  # the tag the evidence names really exists
        assert round(attrs["Size"] / 1e6, 1) == image["size_mb"]
        assert image["user"].startswith("10001")
        assert_base_choice_recorded(image)
    # An SPDX document per image, listing what each image really holds (the backend's Python packages,
    # the frontend's npm ones), and the report shows the summary.
    sboms = {i["component"]: i for i in build["sbom"]["images"]}
    for component, ecosystem in (("backend", "python"), ("frontend", "npm")):
        document = json.loads((run_dir / sboms[component]["path"]).read_text())
        assert document["spdxVersion"].startswith("SPDX-2.") and len(document["packages"]) > 1
        assert sboms[component]["by_type"].get(ecosystem, 0) > 0, sboms[component]["by_type"]
    assert criteria["sbom_generated"]["status"] == "pass"
    assert criteria["critical_vulnerabilities"]["status"] == "not applicable"
    assert "Software bill of materials" in (run_dir / "report.html").read_text()
    assert (run_dir / "01-build.ipynb").exists() and (run_dir / "01-build.html").exists()
    assert str(run_dir / "report.html") in proc.stdout


def assert_base_choice_recorded(image: dict) -> None:
    """The evidence names the base each image was built on, where it came from, and why (bases=auto)."""
    choice = image["base_choice"]
    expected = {"backend": ("python", "python:3.11-slim"), "frontend": ("node", "node:22-bookworm-slim")}
    assert (choice["name"], choice["official"]) == expected[image["component"]], choice
    assert choice["source"] in ("local", "pulled", "offline-local", "offline-built"), choice
    assert choice["image"] in image["base_images"].values() and image["base_source"] == choice["source"], image
    assert choice["reason"].strip(), choice
    if choice["source"] in ("local", "pulled"):
        assert choice["image"] == choice["official"], choice
        assert (choice["pull_seconds"] is not None) == (choice["source"] == "pulled"), choice
    else:  # the official base could not be pulled: the pull error is the reason
        assert choice["image"].startswith("todo-runbook/base-"), choice
        assert choice["reason"].startswith(f"pulling {choice['official']} failed after "), choice
