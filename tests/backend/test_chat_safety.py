"""The chat changes, completes or deletes a task only when the message names exactly one: by id, by
its whole title, or by words that are whole words of that title and of no other. Anything else is
answered with the candidates and a question, and the database stays as it was."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from .conftest import User
from .test_agent_local import rows, say

pytestmark = pytest.mark.postgres


def tasks(url: str, user: User) -> list[tuple[Any, ...]]:
    return [row[:3] for row in rows(url, user)]  # id, title, completed


def add(client: TestClient, user: User, title: str) -> int:
    return int(client.post("/api/tasks", json={"title": title}, headers=user.headers).json()["id"])


def test_call_mom_tomorrow_renames_nothing(client: TestClient, user: User, postgres_url: str) -> None:
    add(client, user, "mom birthday gift")
    before = tasks(postgres_url, user)
    reply = say(client, user, "call mom tomorrow")
    assert tasks(postgres_url, user) == before
    assert not [c for c in reply["tool_calls"] if c["name"] in ("update_task", "delete_task", "complete_task")]


@pytest.mark.parametrize("message", ["delete a", "delete the a task", "complete a", "rename a to b", "delete s"])
def test_a_letter_or_filler_word_names_no_task(client: TestClient, user: User, postgres_url: str, message: str) -> None:
    add(client, user, "pay bills and taxes")
    before = tasks(postgres_url, user)
    reply = say(client, user, message)
    assert tasks(postgres_url, user) == before, reply["reply"]
    assert "couldn't find" in reply["reply"] and "#" in reply["reply"]  # it shows what contains the letter


def test_part_of_a_word_is_not_a_match(client: TestClient, user: User, postgres_url: str) -> None:
    add(client, user, "buy milkshake powder")
    before = tasks(postgres_url, user)
    reply = say(client, user, "delete the milk task")
    assert tasks(postgres_url, user) == before
    assert "couldn't find" in reply["reply"] and "buy milkshake powder" in reply["reply"]


def test_several_whole_word_matches_are_listed_and_asked_about(
    client: TestClient, user: User, postgres_url: str
) -> None:
    first = add(client, user, "call mom")
    second = add(client, user, "mom birthday gift")
    before = tasks(postgres_url, user)
    for message in ("delete mom", "rename mom to dad", "mark the mom task done"):
        reply = say(client, user, message)["reply"]
        assert "Several tasks match" in reply and f"#{first}" in reply and f"#{second}" in reply, reply
        assert "Which one?" in reply
    assert tasks(postgres_url, user) == before


def test_exact_titles_whole_words_and_ids_still_act(client: TestClient, user: User, postgres_url: str) -> None:
    call = add(client, user, "call mom")
    gift = add(client, user, "mom birthday gift")
    rent = add(client, user, "pay rent")
    say(client, user, "complete call mom")  # the whole title wins over the other task containing "mom"
    say(client, user, "rename the birthday task to buy flowers")  # "birthday" is a whole word of one title
    say(client, user, f"delete task {rent}")
    assert tasks(postgres_url, user) == [(call, "call mom", True), (gift, "buy flowers", False)]
