"""The benchmark's raw side replays exactly the work commands a runbook run recorded, and refuses what it cannot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from todo_runbook.bench import BenchError, BenchResult, Round, raw_commands


def write_evidence(run_dir: Path, commands: dict[str, list[tuple[str, str]]]) -> None:
    (run_dir / "evidence").mkdir(parents=True)
    for step, entries in commands.items():
        payload = {"result": {"commands": [{"purpose": p, "command": c} for p, c in entries]}}
        (run_dir / "evidence" / f"{step}.json").write_text(json.dumps(payload))


RECORDED = {
    "build": [("build the offline base images", "python dockerfiles/bases/build_bases.py python"),
              ("build the backend image", "docker build -t todo-backend:abc apps/backend"),
              ("build the frontend image", "docker build -t todo-frontend:def apps/frontend")],
    "load": [("start the offline test bed", "python -m testcluster up"),
             ("make todo-backend:abc available to the nodes", "python -m testcluster load todo-backend:abc")],
    "deploy": [("install or upgrade the release", "helm upgrade --install todo helm/todo-app --wait")],
    "teardown": [("remove the release", "helm uninstall todo -n todo"),
                 ("remove the namespace", "kubectl delete namespace todo --wait")],
}


def test_only_the_work_commands_are_replayed_in_step_order(tmp_path: Path) -> None:
    write_evidence(tmp_path, RECORDED)
    assert raw_commands(tmp_path) == [
        "docker build -t todo-backend:abc apps/backend", "docker build -t todo-frontend:def apps/frontend",
        "python -m testcluster load todo-backend:abc", "helm upgrade --install todo helm/todo-app --wait",
        "helm uninstall todo -n todo", "kubectl delete namespace todo --wait"]


def test_a_masked_secret_or_a_missing_step_is_refused_with_the_fix(tmp_path: Path) -> None:
    masked = {**RECORDED, "deploy": [("install or upgrade the release", "helm upgrade --set key=*** --wait")]}
    write_evidence(tmp_path / "masked", masked)
    with pytest.raises(BenchError) as caught:
        raw_commands(tmp_path / "masked")
    assert "masked secret" in caught.value.problem and "OPENAI_API_KEY" in caught.value.remedy
    write_evidence(tmp_path / "noload", {**RECORDED, "load": RECORDED["load"][:1]})
    with pytest.raises(BenchError, match="no load command"):
        raw_commands(tmp_path / "noload")


def test_the_ratio_is_the_median_runbook_time_over_the_median_raw_time() -> None:
    result = BenchResult(started="now", rounds=[Round("runbook", 1, 10.0), Round("raw", 1, 9.0),
                                                Round("raw", 2, 11.0), Round("runbook", 2, 30.0),
                                                Round("runbook", 3, 12.0), Round("raw", 3, 10.0)])
    assert result.median("runbook") == 12.0 and result.median("raw") == 10.0
    assert result.ratio == pytest.approx(1.2)
    assert "**1.20x**" in result.markdown() and result.as_dict()["ratio"] == 1.2
