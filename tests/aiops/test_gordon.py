"""Gordon (`docker ai`) and what stands beside it: the recorded command runs from the repository root, so
the Dockerfiles its prompts name are real files; hadolint's findings and the image layer table reach the
cheatsheet's docker group.

Docker Desktop's `ai` plugin cannot be installed here, and the Docker engine belongs to the CI run, so
the detection and `docker ai` calls go to a STAND-IN script named `docker` first on PATH
(tests/aiops/standin.py) that records its argv and working folder and prints a canned reply. The layer
table is read from a real image in the docker-marked test.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from todo_runbook import aiops, cheatsheet, gordon
from todo_runbook.config import REPO_ROOT, RunbookConfig
from todo_runbook.evidence import to_jsonable

from .standin import StandIn, put_first_on_path

DOCKERFILES = ("dockerfiles/backend.Dockerfile", "dockerfiles/frontend.Dockerfile")
# lines in the form `docker history --no-trunc --format '{{json .}}' IMAGE` prints, newest layer first
# (layers pulled rather than built show ID <missing>); a CLI warning line is not a layer
HISTORY = "\n".join([
    json.dumps({"Comment": "buildkit.dockerfile.v0", "CreatedAt": "2026-03-02T10:15:04Z",
                "CreatedBy": 'CMD ["uvicorn" "app.main:app" "--host" "0.0.0.0" "--port" "8000"]',
                "CreatedSince": "2 days ago", "ID": "sha256:4f1c2a", "Size": "0B"}),
    json.dumps({"Comment": "buildkit.dockerfile.v0", "CreatedAt": "2026-03-02T10:15:03Z",
                "CreatedBy": "RUN |1 PIP_INDEX=x /bin/sh -c pip install --no-cache-dir -r requirements.txt\n"
                             "    && rm -rf /root/.cache # buildkit",
                "CreatedSince": "2 days ago", "ID": "<missing>", "Size": "48.2MB"}),
    "WARNING: the image's platform (linux/arm64) does not match the host's",
    json.dumps({"Comment": "debuerreotype 0.15", "CreatedAt": "2026-02-20T00:00:00Z",
                "CreatedBy": "# debian.sh --arch 'amd64' out/ 'bookworm' '@1740355200'",
                "CreatedSince": "2 weeks ago", "ID": "<missing>", "Size": "74.8MB"}),
])


def test_each_gordon_prompt_is_recorded_to_run_from_the_repository_root(tmp_path):
    config = RunbookConfig.from_sources({"aiops_tools": "kagent,kubectl-ai"}, env={})  # docker-ai not asked for
    result = aiops.AiopsResult()
    aiops.run_gordon(result, config, {}, tmp_path)
    rows = [r for r in result.runs if r.tool == "docker-ai"]
    assert [r.prompt for r in rows] == list(gordon.GORDON_PROMPTS)
    named = []
    for row in rows:
        cd, root, joined, *command = shlex.split(row.command)
        assert (cd, joined) == ("cd", "&&") and Path(root) == REPO_ROOT
        assert command == ["docker", "ai", row.prompt]
        for relative in re.findall(r"dockerfiles/\S+\.Dockerfile", row.prompt):
            assert (Path(root) / relative).is_file(), relative
            named.append(relative)
        assert row.outcome == "skipped: not in aiops_tools" and row.group == "docker"
    assert sorted(named) == list(DOCKERFILES)
    assert [r.dockerfile for r in result.gordon] == [config.backend_dockerfile, config.frontend_dockerfile]


def test_docker_ai_is_run_in_the_repository_root(tmp_path, monkeypatch):
    docker = StandIn(tmp_path, "docker").write(stdout="Use a slimmer base.\n", sees=DOCKERFILES)
    put_first_on_path(monkeypatch, docker)
    outcome, output = gordon.ask(gordon.GORDON_PROMPTS[1], REPO_ROOT, 30)
    (call,) = docker.calls()
    assert call["argv"] == ["ai", gordon.GORDON_PROMPTS[1]]
    assert Path(call["cwd"]) == REPO_ROOT and all(call["sees"].values())  # the named paths resolve there
    assert (outcome, output) == ("ok", "Use a slimmer base.")


def test_gordon_is_found_only_among_the_docker_cli_plugins(tmp_path, monkeypatch):
    docker = StandIn(tmp_path, "docker")
    put_first_on_path(monkeypatch, docker)
    plugins = [{"Name": "buildx", "Version": "v0.20.0"}, {"Name": "compose", "Version": "v2.33.0"}]
    docker.write(stdout=json.dumps([*plugins, {"Name": "ai", "Version": "v1.4.0"}]))
    assert gordon.detect() == (True, "docker CLI plugin `ai` present")
    docker.write(stdout=json.dumps(plugins))
    present, reason = gordon.detect()
    assert not present and reason.startswith("docker CLI plugins here: buildx, compose;")
    assert "Docker Desktop" in reason
    assert {tuple(c["argv"]) for c in docker.calls()} == {("info", "--format", "{{json .ClientInfo.Plugins}}")}


def test_the_layer_table_is_read_from_docker_history_lines():
    rows = gordon.history_rows(HISTORY)
    assert [r["size"] for r in rows] == ["0B", "48.2MB", "74.8MB"]
    assert rows[1]["created_by"].startswith("RUN |1 PIP_INDEX=x /bin/sh -c pip install --no-cache-dir")
    assert "\n" not in rows[1]["created_by"] and rows[1]["created_by"].endswith("&& rm -rf /root/.cache # buildkit")
    assert gordon.history_rows("") == []


@pytest.mark.docker
def test_the_layer_table_of_a_real_image(docker_client, offline_bases):
    image = offline_bases["python"]
    rows, note = gordon.layers(image)
    assert note == "" and rows
    assert len(rows) == len(docker_client.images.get(image).history())  # one row per layer the engine lists
    assert all(r["size"] for r in rows) and any(r["created_by"] for r in rows)
    missing_rows, missing_note = gordon.layers("todo-runbook/no-such-image:never")
    assert missing_rows == [] and missing_note.startswith("docker history todo-runbook/no-such-image:never failed")


def test_the_cheatsheet_docker_group_shows_hadolint_findings_and_the_layer_table(tmp_path):
    # a Dockerfile with findings hadolint always reports (an untagged base, unpinned apt packages)
    (tmp_path / "demo.Dockerfile").write_text("FROM debian\nRUN apt-get update && apt-get install -y curl\n")
    reviews = gordon.review(tmp_path, {"demo": "demo.Dockerfile", "plain": "demo.Dockerfile"}, {})
    reviews[0].image, reviews[0].layers = "todo-demo:abc", gordon.history_rows(HISTORY)
    runs = [{"tool": "docker-ai", "group": "docker", "prompt": gordon.GORDON_PROMPTS[0], "ran_at": "t",
             "outcome": "skipped: no `ai` plugin", "command": "cd /repo && docker ai 'What can you do?'"}]
    text = cheatsheet.render({"runs": runs, "gordon": to_jsonable(reviews)}, "run-9")

    docker = text[text.index("## docker"):]
    assert docker.index("What can you do?") < docker.index("#### demo.Dockerfile")
    codes = {f["code"] for f in reviews[0].hadolint}
    assert {"DL3006", "DL3008"} <= codes  # hadolint really ran on the file
    assert "| line | code | level | message |" in docker
    assert re.search(r"\| 1 \| DL3006 \| warning \| .+ \|", docker)
    assert "$ docker history" not in docker and "docker history --no-trunc todo-demo:abc" in docker
    assert "| 48.2MB | `RUN \\|1 PIP_INDEX=x /bin/sh -c pip install" in docker  # a pipe in a cell is escaped
    assert "Image layers: no image of this Dockerfile is known in this run." in docker  # the second review
