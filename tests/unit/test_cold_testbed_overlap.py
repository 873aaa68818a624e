"""A cold test bed compiles while the images build: what preflight decides, and where the run finds its cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from testcluster.paths import Paths
from todo_runbook.config import RunbookConfig
from todo_runbook.evidence import cluster_of_run
from todo_runbook.providers import chosen, testbed


def test_an_empty_cache_must_compile_every_runbook_tool_but_traefik(tmp_path: Path) -> None:
    missing = testbed.tools_to_compile(Paths(tmp_path))
    if not missing:
        pytest.skip("no Go toolchain here: nothing can be compiled")
    assert missing == ["kubernetes", "etcd", "crictl", "coredns", "metrics-server", "helm"]  # traefik is a wheel


def test_nothing_is_started_when_there_is_nothing_to_overlap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TODO_RUNBOOK_CACHE", str(tmp_path))  # an empty cache: every tool would have to compile
    said: list[str] = []
    config = RunbookConfig.from_mapping({"provider": "testbed"})
    # no image is built in this run, or the run may not start the test bed: nothing would run meanwhile
    assert testbed.compile_while_images_build(config, ["load", "deploy"], said.append) is None
    no_start = RunbookConfig.from_mapping({"provider": "testbed", "start_cluster": "false"})
    assert testbed.compile_while_images_build(no_start, ["build", "load"], said.append) is None
    assert said == []
    assert not (tmp_path / "build" / "runbook-tools.log").exists()


def test_an_explicit_provider_is_chosen_as_asked() -> None:
    assert chosen(RunbookConfig.from_mapping({"provider": "kind"})) == "kind"
    assert chosen(RunbookConfig.from_mapping({"provider": "testbed"})) == "testbed"


def test_the_run_finds_its_cluster_in_preflight_else_where_the_load_step_resolved_it() -> None:
    resolved = {"provider": "testbed", "context": "todo-testbed"}
    assert cluster_of_run({"preflight": {"result": {"cluster": resolved}}}) == resolved
    deferred = {"preflight": {"result": {"cluster": None, "cluster_deferred": "compiling"}},
                "cluster": {"result": resolved}}
    assert cluster_of_run(deferred) == resolved
    assert cluster_of_run({"preflight": {"result": {"cluster": None}}}) == {}
