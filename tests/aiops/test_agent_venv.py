"""kagent's agent runtime venv is cached by version: its folder name, and reuse without a rebuild.

A real build installs kagent-adk's whole tree (about a minute with uv); the session fixture `agent_venv`
covers that. Here a temporary cache root holds a venv folder with the stamp a finished build writes,
and ensure_agent_venv must take it as built: no build folder, no build log, the stamp untouched.
"""

from __future__ import annotations

import json
import re

from todo_runbook import agent_venv
from todo_runbook.agent_venv import KAGENT_ADK_VERSION, KAGENT_PINS, ensure_agent_venv, venv_dir


def test_the_folder_names_the_version_and_changes_with_the_pins(tmp_path, monkeypatch):
    path = venv_dir(tmp_path)
    assert path.parent == tmp_path / "venvs"
    assert KAGENT_ADK_VERSION == "0.10.4"
    assert re.fullmatch(r"kagent-adk-0\.10\.4-[0-9a-f]{10}", path.name)
    assert venv_dir(tmp_path) == path  # the same pins always name the same folder
    monkeypatch.setattr(agent_venv, "KAGENT_PINS", (*KAGENT_PINS[:-1], "a2a-sdk[http-server]>=0.3.27,<1"))
    changed = venv_dir(tmp_path)
    assert changed.name.startswith("kagent-adk-0.10.4-") and changed != path  # a new pin set is a new venv


def test_a_built_venv_is_reused_by_every_later_call_without_rebuilding(tmp_path):
    target = venv_dir(tmp_path)
    (target / "bin").mkdir(parents=True)
    stamp = target / "todo-runbook-venv.json"
    stamp.write_text(json.dumps({"pins": list(KAGENT_PINS), "build_seconds": 51.0, "installer": "uv",
                                 "versions": {"kagent-adk": "0.10.4", "a2a-sdk": "0.3.26"}}))
    before = (stamp.read_text(), stamp.stat().st_mtime_ns)

    first, second = ensure_agent_venv(tmp_path), ensure_agent_venv(tmp_path)

    for venv in (first, second):
        assert venv.reused and venv.path == target and venv.python == target / "bin" / "python"
        assert venv.build_seconds == 51.0  # the recorded cold build time, not a new one
        assert venv.versions == {"kagent-adk": "0.10.4", "a2a-sdk": "0.3.26"}
    assert (stamp.read_text(), stamp.stat().st_mtime_ns) == before
    siblings = sorted(p.name for p in target.parent.iterdir())
    assert siblings == [target.name, f"{target.name}.lock"]  # no .building folder, no .build.log
