"""The step registry (todo_runbook/steps.py) is the only list of steps; everything else reads it."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from todo_runbook import criteria, steps
from todo_runbook.preflight import required_tools
from todo_runbook.runner import CLUSTER_STEPS, NOTEBOOKS, NOTEBOOKS_DIR, parse_steps

ROOT = Path(__file__).resolve().parents[2]
NAMES = set(steps.names())


def test_registry_names_notebooks_and_modules_line_up():
    assert steps.names() == ["build", "load", "deploy", "verify", "aiops", "teardown"]
    for index, step in enumerate(steps.STEPS, start=1):
        assert step.notebook == f"{index:02d}-{step.name}.ipynb"
        assert (NOTEBOOKS_DIR / step.notebook).is_file()
        # Each step's code lives in the module named after the step.
        assert step.module == f"todo_runbook.{step.name}"
        assert step.evidence == f"evidence/{step.name}.json"


def test_each_notebook_runs_its_registered_function():
    for step in steps.STEPS:
        source = (NOTEBOOKS_DIR / step.notebook).with_suffix(".py").read_text()
        assert f"from todo_runbook import {step.name}\n" in source
        assert f'run_step(s.store, "{step.name}", {step.name}.{step.function.__name__},' in source


def test_everything_reads_the_registry():
    assert {s.name: s.notebook for s in steps.STEPS} == NOTEBOOKS
    assert {s.name for s in steps.STEPS if not s.needs_cluster} == {"build"}
    assert NAMES - {"build"} == CLUSTER_STEPS
    assert parse_steps(None) == steps.names()
    assert parse_steps("teardown,build") == ["build", "teardown"]
    assert required_tools(["verify"], "kind") == {"helm", "kubectl"}  # verify needs no provider CLI


def test_every_criterion_belongs_to_a_step():
    assert {spec.step for spec in criteria.SPECS} <= NAMES
    measured = [key for step in steps.STEPS for key in step.criteria]
    assert sorted(measured) == sorted(spec.key for spec in criteria.SPECS)
    assert steps.BY_NAME["load"].criteria == () and "deploy_s" in steps.BY_NAME["deploy"].criteria


def _step_name_lists(tree: ast.AST) -> list[int]:
    """Lines of literals (list, tuple, set, dict keys, "a,b,c" strings) naming three or more steps."""
    found = []
    for node in ast.walk(tree):
        items: list[ast.expr | None] = []
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            items = list(node.elts)
        elif isinstance(node, ast.Dict):
            items = list(node.keys)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            parts = node.value.split(",")
            if re.fullmatch(r"[\w-]+(,[\w-]+){2,}", node.value) and sum(p in NAMES for p in parts) >= 3:
                found.append(node.lineno)
            continue
        named = {i.value for i in items if isinstance(i, ast.Constant) and i.value in NAMES}
        if len(named) >= 3:
            found.append(node.lineno)
    return found


def _sources() -> dict[str, str]:
    files = {str(p.relative_to(ROOT)): p.read_text() for p in [*(ROOT / "todo_runbook").rglob("*.py"),
                                                              *(ROOT / "notebooks").glob("*.py")]}
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        cells = json.loads(nb.read_text())["cells"]
        files[str(nb.relative_to(ROOT))] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return files


def test_no_other_hard_coded_list_of_steps():
    offenders = {}
    for name, text in _sources().items():
        if name == "todo_runbook/steps.py":
            continue
        lines = _step_name_lists(ast.parse(text))
        if lines:
            offenders[name] = lines
    assert not offenders, f"lists of step names outside todo_runbook/steps.py (read steps.STEPS instead): {offenders}"


def test_the_check_catches_a_list():
    assert _step_name_lists(ast.parse('ORDER = ["preflight", "build", "load", "deploy"]')) == [1]
    assert _step_name_lists(ast.parse('x = {"build": 1, "verify": 2, "teardown": 3}')) == [1]
    assert _step_name_lists(ast.parse('HELP = "build,load,deploy"')) == [1]
    assert _step_name_lists(ast.parse('pair = ("build", "load")')) == []
    assert _step_name_lists(ast.parse('"""build, load, deploy and verify, in prose"""')) == []


def test_architecture_doc_has_the_registry_table():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    table = steps.architecture_table()
    assert table in doc, ("docs/architecture.md's step table is out of date; replace it with the output of\n"
                          "  .venv/bin/python -c 'from todo_runbook import steps; print(steps.architecture_table())'"
                          f"\n\n{table}")
