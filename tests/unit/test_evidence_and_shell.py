import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from todo_runbook import shell
from todo_runbook.errors import CommandFailedError, CommandTimeoutError, EvidenceMissingError, ToolMissingError
from todo_runbook.evidence import EvidenceStore, open_run, to_jsonable


@dataclass
class Inner:
    path: Path
    when: datetime


@dataclass
class Outer:
    name: str
    items: list[Inner] = field(default_factory=list)
    _private: str = "hidden"


def test_dataclasses_become_json():
    value = Outer("x", [Inner(Path("/a/b"), datetime(2026, 1, 2, tzinfo=UTC))])
    assert to_jsonable(value) == {"name": "x", "items": [{"path": "/a/b", "when": "2026-01-02T00:00:00+00:00"}]}


def test_record_and_read_back(tmp_path):
    store = EvidenceStore(tmp_path / "run")
    store.record("build", Outer("x"))
    assert store.read("build")["status"] == "ok" and store.result("build") == {"name": "x", "items": []}
    with pytest.raises(EvidenceMissingError, match="run the 'deploy' step"):
        store.read("deploy")


def test_open_run_continues_the_latest(tmp_path):
    first = open_run("", outputs_dir=tmp_path, create=True)
    assert open_run("", outputs_dir=tmp_path).run_dir == first.run_dir
    second = open_run("", outputs_dir=tmp_path, create=True)
    assert second.run_dir != first.run_dir and open_run("", outputs_dir=tmp_path).run_dir == second.run_dir


@pytest.mark.parametrize(("text", "hidden"), [
    ("DATABASE_URL=postgresql://todo:hunter22@db:5432/todo", "hunter22"),
    ("--set secrets.jwtSecret=abcdef123456", "abcdef123456"),
    ('{"openaiApiKey": "sk-live-123456"}', "sk-live-123456"),
    ("JWT_SECRET: zyxwvu987654", "zyxwvu987654"),
])
def test_secret_shapes_are_masked(text, hidden):
    masked = shell.mask(text)
    assert hidden not in masked and shell.MASK in masked


def test_registered_secrets_are_masked_in_output_and_command(tmp_path):
    shell.register_secret("token-abc-123-xyz")
    res = shell.run([sys.executable, "-c", "print('token-abc-123-xyz')"], timeout=30)
    assert "token-abc-123-xyz" not in res.stdout and shell.MASK in res.stdout
    assert res.command.startswith(sys.executable) and res.seconds >= 0


def test_failures_say_what_and_what_to_do(tmp_path):
    with pytest.raises(ToolMissingError, match="not installed or not on PATH"):
        shell.run(["definitely-not-a-tool-xyz", "--version"])
    with pytest.raises(CommandFailedError) as err:
        shell.run([sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"], hint="try again")
    assert "exited with 3: boom" in err.value.problem and err.value.remedy == "try again"
    with pytest.raises(CommandTimeoutError, match="did not finish within 1 s"):
        shell.run([sys.executable, "-c", "import time; time.sleep(5)"], timeout=1)


def test_evidence_on_disk_is_masked(tmp_path):
    store = EvidenceStore(tmp_path / "run")
    store.record("deploy", {"command": "helm --set secrets.databaseUrl=postgresql://u:pw123456@h/db"})
    text = store.path("deploy").read_text()
    assert "pw123456" not in text and json.loads(text)["status"] == "ok"
