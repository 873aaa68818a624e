"""The packages import each other in one direction only, and no module grows past ~500 lines.

The import graph is read with ``ast`` (nothing is imported): every ``import``/``from ... import``
anywhere in a module counts, including imports inside functions and under ``TYPE_CHECKING``, and
``importlib.import_module("literal")`` calls. A lazy import that closes a cycle is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("todo_runbook", "testcluster", "dockerfiles")
SIZE_CHECKED = ("todo_runbook", "testcluster")
MAX_LINES = 500


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            modules[module_name(path, root)] = path
    return modules


def _absolute(module: str | None, level: int, current: str, is_package: bool) -> str:
    """The absolute name of ``from <level dots><module> import ...`` written in ``current``."""
    if level == 0:
        return module or ""
    base = current.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def imported_names(tree: ast.AST, current: str, is_package: bool, known: set[str]) -> set[str]:
    """Our modules that ``tree`` imports (each resolved to the module, not the name inside it)."""
    found: set[str] = set()

    def add(name: str) -> None:
        # `import a.b.c` or `from a.b import c`: the deepest of our modules the name designates.
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            found.add(name)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, current, is_package)
            for alias in node.names:
                add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            add(node.args[0].value)
    found.discard(current)
    return found


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    modules = package_modules(root, packages)
    known = set(modules)
    return {
        name: imported_names(ast.parse(path.read_text(), str(path)), name, path.name == "__init__.py", known)
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One example cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_example_cycle(graph, set(component)) for component in components]


def _example_cycle(graph: dict[str, set[str]], members: set[str]) -> list[str]:
    """A path start -> ... -> start inside one strongly connected component (breadth first)."""
    start = min(members)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node] & members):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    return sorted(members)


def test_the_packages_have_no_import_cycle() -> None:
    graph = import_graph(ROOT, PACKAGES)
    assert len(graph) > 40, f"only {len(graph)} modules found under {PACKAGES}: is ROOT right?"
    found = cycles(graph)
    assert found == [], "import cycles (lazy imports count):\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_checker_finds_a_lazy_and_a_dynamic_cycle(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def later():\n    from pkg.c import thing\n    return thing\n")
    (package / "c.py").write_text("import importlib\n\nthing = importlib.import_module('pkg.a')\n")
    (package / "d.py").write_text("from . import a\nfrom .c import thing\n")  # imports into the cycle, not part of it
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.d"] == {"pkg.a", "pkg.c"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


@pytest.mark.parametrize("package", SIZE_CHECKED)
def test_no_module_is_over_500_lines(package: str) -> None:
    sizes = {path.relative_to(ROOT).as_posix(): len(path.read_text().splitlines())
             for path in sorted((ROOT / package).rglob("*.py"))}
    assert sizes, f"no module found in {package}/"
    too_long = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert too_long == {}, f"modules over {MAX_LINES} lines (split them by concern): {too_long}"
