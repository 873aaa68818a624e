"""Nothing outside todo_runbook/providers/ branches on a provider's name: it asks the provider instead.

Read with ``ast`` (nothing is imported or run): a comparison (``==``, ``!=``, ``in``, ``not in``) or a ``match``
case against a registered provider's name as a string literal, alone or inside a tuple, list or set, fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

from todo_runbook import providers

PACKAGE = Path(providers.__file__).resolve().parents[1]  # todo_runbook/
NAMES = frozenset(providers.REGISTRY)


def _literals(node: ast.expr) -> list[str]:
    """The string constants an operand is, or holds as a literal tuple/list/set."""
    items = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
    return [i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)]


def name_branches(source: str, names: frozenset[str] = NAMES) -> list[str]:
    """"line N: <code>" for each comparison or match case against one of `names`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(value in names for operand in operands for value in _literals(operand)):
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.MatchValue) and isinstance(node.value, ast.Constant) and node.value.value in names:
            found.append((node.lineno, f"case {node.value.value!r}"))
    return [f"line {line}: {code}" for line, code in sorted(found)]


def test_the_names_checked_are_the_registered_providers() -> None:
    assert {"minikube", "kind", "testbed", "context"} <= NAMES


def test_no_module_outside_the_providers_package_compares_a_provider_name() -> None:
    modules = [p for p in sorted(PACKAGE.rglob("*.py")) if "providers" not in p.relative_to(PACKAGE).parts]
    assert len(modules) > 30, f"only {len(modules)} modules under {PACKAGE}"
    offenders = {str(p.relative_to(PACKAGE.parent)): hits for p in modules if (hits := name_branches(p.read_text()))}
    assert offenders == {}, ("ask the provider (a member of providers.base.Provider) instead of comparing its name: "
                             f"{offenders}")


def test_the_check_finds_each_form_and_leaves_other_strings_alone() -> None:
    branching = '''
if config.provider in ("auto", "testbed"):
    pass
if chosen(config) == "testbed" or name != 'kind':
    pass
if "minikube" in names:
    pass
match provider:
    case "context":
        pass
'''
    assert [hit.split(":")[0] for hit in name_branches(branching)] == ["line 2", "line 4", "line 4", "line 6",
                                                                         "line 9"]
    harmless = '''
if doc.get("kind") == "Deployment" and kind == "bool":
    pass
lookup = {"minikube": 1}["minikube"]
print("kind")
'''
    assert name_branches(harmless) == []
