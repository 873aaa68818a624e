"""The report says which path the load step took (issue 18): "push to the registry HOST/PREFIX" with each
image's digest, or "loaded into the nodes (<method>)". The load results are built with the load step's own
types (LoadResult, PushOutcome.as_load), so a renamed field breaks these tests, not only the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from todo_runbook import report
from todo_runbook.config import RunbookConfig
from todo_runbook.load import LoadResult
from todo_runbook.registry_push import PushOutcome

from .test_report import full, outcomes

REGISTRY = "127.0.0.1:5443/todo"
TAG = "0a1b2c3d4e5f"
DIGESTS = {"todo-backend": "sha256:" + "b4" * 32, "todo-frontend": "sha256:" + "f7" * 32}


def rendered(tmp_path: Path, load: LoadResult, **params: Any) -> str:
    config = RunbookConfig(outputs_dir=str(tmp_path / "outputs"), **params)
    return report.build_report(full(tmp_path, load=load), config, outcomes()).report_html.read_text()


def load_section(html: str) -> str:
    """From the Load heading to the next section's: what the template prints for the load step."""
    start = html.index("<h2>Load</h2>")
    end = html.find("<h2>", start + 1)
    return html[start:end if end > 0 else len(html)]


def pushed_result() -> LoadResult:
    """What load.push_images records after pushing both images (the registry path)."""
    result = LoadResult("context", "asked for", "prod-cluster", "none: the nodes pull")
    result.registry, result.credentials_from = REGISTRY, "environment"
    result.method = f"push to {REGISTRY}; the nodes pull"
    for name, digest in DIGESTS.items():
        outcome = PushOutcome(f"{REGISTRY}/{name}:{TAG}", f"{name}:{TAG}", digest, "pushed", 2.5,
                              layers_pushed=3, layers_existing=8)
        result.images.append(outcome.as_load())
    return result


def loaded_result() -> LoadResult:
    """What the test bed's loader records when there is no registry (the load path)."""
    method = "containerd import (testcluster.images)"
    result = LoadResult("testbed", "asked for", "todo-testbed", method)
    for name in DIGESTS:
        result.images.append({"image": f"{name}:{TAG}", "method": "containerd import into 2 nodes",
                              "seconds": 4.0, "reused": False, "command": "ctr images import ..."})
    return result


def test_a_registry_run_says_it_pushed_and_shows_each_digest(tmp_path: Path) -> None:
    section = load_section(rendered(tmp_path, pushed_result(), registry=REGISTRY))
    assert f"<p>path: push to the registry {REGISTRY}: the nodes pull</p>" in section
    assert "loaded into the nodes" not in section
    for name, digest in DIGESTS.items():  # each image's row: reference, method, digest, time
        row = f"<tr><td>{REGISTRY}/{name}:{TAG}</td><td>pushed</td><td>{digest}</td><td>2.5 s</td></tr>"
        assert row in section, section


def test_a_load_run_says_the_images_were_loaded_into_the_nodes(tmp_path: Path) -> None:
    section = load_section(rendered(tmp_path, loaded_result()))
    assert "<p>path: loaded into the nodes (containerd import (testcluster.images))</p>" in section
    assert "push to the registry" not in section and "sha256:" not in section
    for name in DIGESTS:  # no digest on this path: the cell is empty
        assert f"<tr><td>{name}:{TAG}</td><td>containerd import into 2 nodes</td><td></td><td>4.0 s</td></tr>" \
            in section, section

