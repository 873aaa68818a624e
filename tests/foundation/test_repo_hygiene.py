"""Repository rules that keep the two-command start honest."""

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> dict[str, str]:
    """The README marks its two commands as `<!-- cmd:runbook -->` / `<!-- cmd:test -->` before a code block."""
    text = (ROOT / "README.md").read_text()
    found = dict(re.findall(r"<!-- cmd:(\w+) -->\s*```(?:bash|sh)?\n(.+?)\n```", text))
    assert set(found) >= {"runbook", "test"}, "README.md must mark its runbook and test commands"
    return found


def test_ci_runs_exactly_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    commands = [
        line.strip().removeprefix("exec ").strip()
        for line in script.splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "set ", "cd "))
    ]
    assert commands == [readme_commands()["test"]], f".ci/run runs {commands}, README says {readme_commands()['test']}"


def test_readme_commands_are_make_targets() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for name, command in readme_commands().items():
        target = command.removeprefix("make ").split()[0]
        has_target = re.search(rf"^{re.escape(target)}:", makefile, re.M)
        assert has_target, f"README's {name} command {command!r} names no Makefile target"


def test_notebooks_are_committed_without_outputs() -> None:
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in notebooks:
        nb = json.loads(path.read_text())
        for index, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "code":
                continue
            assert not cell.get("outputs"), f"{path.name} cell {index} has outputs: clear them before committing"
            assert cell.get("execution_count") is None, f"{path.name} cell {index} has an execution count"


@pytest.mark.parametrize("path", ["outputs/some-run/report.html", ".venv/bin/python", "apps/frontend/node_modules/x",
                                  "apps/frontend/.next/BUILD_ID", "apps/backend/.env", "x/__pycache__/a.pyc"])
def test_gitignore_keeps_products_out(path: str) -> None:
    result = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
    assert result.returncode == 0, f"{path} is not ignored by .gitignore"


def test_outputs_readme_is_tracked_by_gitignore_rules() -> None:
    result = subprocess.run(["git", "check-ignore", "-q", "outputs/README.md"], cwd=ROOT)
    assert result.returncode == 1, "outputs/README.md must not be ignored"


def test_ruff_is_clean() -> None:
    ruff = ROOT / ".venv" / "bin" / "ruff"
    result = subprocess.run([str(ruff), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]


def test_mypy_is_clean() -> None:
    """The type checker, strict on todo_runbook/ and the paired notebooks (config in pyproject.toml)."""
    mypy = ROOT / ".venv" / "bin" / "mypy"
    result = subprocess.run([str(mypy)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Success: no issues found" in result.stdout
