"""The committed notebooks: paired with notebooks/*.py (jupytext), no outputs, a parameters cell, one step each."""

import ast
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from todo_runbook.runner import NOTEBOOKS

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


def load(name):
    return nbformat.read(NOTEBOOK_DIR / name, as_version=4)


def test_the_six_notebooks_exist_in_order():
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS.values())
    assert list(NOTEBOOKS.values()) == sorted(NOTEBOOKS.values())


@pytest.mark.parametrize(("step", "name"), list(NOTEBOOKS.items()))
def test_notebook_has_no_outputs_and_a_parameters_cell(step, name):
    nb = load(name)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), f"{name} has outputs"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and code[0] is tagged[0]
    for name_ in ("run_dir", "params", "headless"):
        assert f"{name_} =" in tagged[0].source
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert nb.metadata.kernelspec.name == "python3"
    source = "\n".join(c.source for c in code)
    assert f'session.start("{step}"' in source and f'run_step(s.store, "{step}"' in source


def pair_text(notebook: Path) -> str:
    """What `make notebooks` writes into the paired .py for this .ipynb (the project's jupytext settings)."""
    import jupytext
    from jupytext.config import load_jupytext_config

    config = load_jupytext_config(str(notebook.parent))
    nb = jupytext.read(notebook)
    return jupytext.writes(nb, fmt="py:percent", config=config)


@pytest.mark.parametrize("name", sorted(NOTEBOOKS.values()))
def test_notebook_and_its_paired_py_agree(name):
    notebook = NOTEBOOK_DIR / name
    paired = notebook.with_suffix(".py")
    assert paired.exists(), f"{paired.name} is missing: run `make notebooks`"
    assert pair_text(notebook) == paired.read_text(), (
        f"{name} and {paired.name} differ: edit either one, then run `make notebooks`")


def test_the_pairing_check_sees_an_edit(tmp_path):
    """Change a cell in a copy of a paired .py: the copy no longer matches its notebook, and syncing fixes it."""
    for suffix in (".ipynb", ".py"):
        (tmp_path / f"01-build{suffix}").write_bytes((NOTEBOOK_DIR / f"01-build{suffix}").read_bytes())
    (tmp_path / "pyproject.toml").write_bytes((NOTEBOOK_DIR.parent / "pyproject.toml").read_bytes())
    paired = tmp_path / "01-build.py"
    paired.write_text(paired.read_text().replace('s.controls(["smoke_run", "build_in_minikube"])',
                                                 's.controls(["smoke_run"])'))
    assert pair_text(tmp_path / "01-build.ipynb") != paired.read_text()
    os.utime(tmp_path / "01-build.ipynb", (time.time() - 60, time.time() - 60))  # the .py is the newer: sync reads it
    jupytext = Path(sys.executable).with_name("jupytext")
    subprocess.run([str(jupytext), "--sync", str(paired)], check=True, capture_output=True, cwd=tmp_path)
    assert pair_text(tmp_path / "01-build.ipynb") == paired.read_text()
    cells = nbformat.read(tmp_path / "01-build.ipynb", as_version=4).cells
    assert 's.controls(["smoke_run"])' in [c.source for c in cells]


def is_call(statement, name):
    """`statement` is the bare expression `s.<name>()`, so the cell shows what it returns."""
    return (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)
            and not statement.value.args and not statement.value.keywords
            and ast.unparse(statement.value.func) == f"s.{name}")


@pytest.mark.parametrize("name", sorted(NOTEBOOKS.values()))
def test_notebook_shows_its_parameters_first_and_ends_with_the_next_step(name):
    code = [c.source for c in load(name).cells if c.cell_type == "code"]
    # the cell that starts the session ends by showing the parameter table (its last expression is displayed)
    starts = [source for source in code if "session.start(" in source]
    assert len(starts) == 1, f"{name}: one cell starts the session"
    assert is_call(ast.parse(starts[0]).body[-1], "parameters"), f"{name}: end its start cell with s.parameters()"
    # the last code cell is the link to the next notebook, and nothing else
    last = ast.parse(code[-1]).body
    assert len(last) == 1 and is_call(last[0], "next_step"), f"{name}: its last code cell must be s.next_step()"
