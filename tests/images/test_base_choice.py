"""Official bases when a registry answers, the offline ones when the pull fails or when asked, and why.

No registry answers on the test machine, so the pull fails here for real: the tests assert the fallback
and that its recorded reason is the engine's pull error. A machine that can pull gets "local"/"pulled".
"""

from __future__ import annotations

from typing import Any

import pytest

from dockerfiles import base_choice

pytestmark = pytest.mark.docker


class CountingPulls:
    """The real client, with its pull calls counted (to prove bases=offline never tries one)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.pulls: list[str] = []
        outer = self

        class Api:
            def __getattr__(self, name: str) -> Any:
                return getattr(client.api, name)

            def pull(self, repository: str, *args: Any, **kwargs: Any) -> Any:
                outer.pulls.append(repository)
                return client.api.pull(repository, *args, **kwargs)

        self.api = Api()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _registry_answers(client: Any) -> bool:
    return base_choice.image_present(client, base_choice.OFFICIAL_PYTHON)


@pytest.mark.parametrize("name", ["python", "node", "postgres"])
def test_auto_tries_the_official_image_and_falls_back_with_the_pull_error(
    docker_client: Any, offline_bases: dict[str, str], name: str
) -> None:
    official, offline, _step = base_choice.BASES[name]
    counting = CountingPulls(docker_client)
    choice = base_choice.choose_base(counting, name, "auto", pull_timeout_s=30)
    if choice.source in ("local", "pulled"):  # a machine with a registry (or the image already there)
        assert choice.image == official
        return
    assert counting.pulls == [official.split(":")[0]], counting.pulls
    assert (choice.image, choice.source) == (offline, "offline-local")
    assert choice.reason.startswith(f"pulling {official} failed after "), choice.reason
    assert len(choice.reason) > len(f"pulling {official} failed after 0.0 s: "), "the engine's error is missing"
    assert choice.pull_seconds is not None and choice.pull_seconds <= 31, "the pull attempt is bounded"


def test_offline_skips_the_pull(docker_client: Any, offline_bases: dict[str, str]) -> None:
    counting = CountingPulls(docker_client)
    choice = base_choice.choose_base(counting, "python", "offline")
    assert counting.pulls == []
    assert (choice.image, choice.source, choice.pull_seconds) == (base_choice.OFFLINE_PYTHON, "offline-local", None)
    assert "bases=offline" in choice.reason


def test_official_without_a_registry_is_an_error_naming_the_fix(docker_client: Any) -> None:
    if _registry_answers(docker_client):
        pytest.skip("the official image is local: nothing to refuse")
    with pytest.raises(base_choice.BaseChoiceError, match=r"pulling python:3\.11-slim failed .*bases=offline"):
        base_choice.choose_base(docker_client, "python", "official", pull_timeout_s=30)


def test_runbook_build_plan_records_the_choice(docker_client: Any, offline_bases: dict[str, str]) -> None:
    from todo_runbook.build import build_plan
    from todo_runbook.config import RunbookConfig

    notes: list[str] = []
    choices: list[base_choice.BaseChoice] = []
    config = RunbookConfig.from_mapping({"bases": "offline"})
    plan = build_plan(docker_client, "frontend", config, lambda _line: None, notes, choices)
    assert plan.buildargs["NODE_IMAGE"] == base_choice.OFFLINE_NODE
    assert plan.base_source == "offline-local" and notes == []
    assert [c.name for c in choices] == ["node"] and "no pull attempted" in choices[0].reason


def test_unknown_mode_is_refused(docker_client: Any) -> None:
    with pytest.raises(base_choice.BaseChoiceError, match="bases=auto, bases=official or bases=offline"):
        base_choice.choose_base(docker_client, "python", "newest")
