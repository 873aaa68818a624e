"""Each shared concept of the packages has one home, and a second definition fails here.

Read with ``ast`` (nothing is imported): the progress callback type (todo_runbook/progress.py), the
checkout root and the cache root (testcluster/paths.py), the secret-word pattern (todo_runbook/shell.py),
``KUBERNETES_VERSION`` (testcluster/components.py), class names kept apart between dockerfiles/ and
todo_runbook/, and a typed ``ctx`` in the test bed (mypy does not check testcluster/, so this does).
Every scanner is also run on a small source string to show that it finds what it looks for.
"""

from __future__ import annotations

import ast
import functools
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from testcluster.paths import REPO_ROOT

PACKAGES = ("todo_runbook", "testcluster", "dockerfiles", "notebooks")
# Where the progress type is used; dockerfiles/ runs outside the package's virtualenv and cannot import it.
PROGRESS_USERS = ("todo_runbook", "testcluster", "notebooks")
SKIPPED_DIRS = {".venv", "node_modules", "__pycache__"}

Trees = dict[str, ast.Module]  # posix path relative to the checkout -> parsed module
Found = list[str]  # "path:line: what", sorted


def unnumbered(found: Found) -> Found:
    """Without line numbers, so that an edit elsewhere in the home module does not fail the check."""
    return [re.sub(r":\d+:", ":", line, count=1) for line in found]


def parse(sources: Mapping[str, str]) -> Trees:
    return {path: ast.parse(text, path) for path, text in sources.items()}


def repo_files(*folders: str) -> Iterator[Path]:
    """The .py files under `folders`, without descending into virtualenvs, node_modules or hidden folders."""
    for folder in folders:
        for directory, subdirectories, files in os.walk(REPO_ROOT / folder):
            subdirectories[:] = sorted(d for d in subdirectories if d not in SKIPPED_DIRS and not d.startswith("."))
            yield from (Path(directory) / name for name in sorted(files) if name.endswith(".py"))


@functools.cache  # each module is parsed once for all the checks (they only read the trees)
def parsed(relative: str) -> ast.Module:
    return ast.parse((REPO_ROOT / relative).read_text(), relative)


def repo_trees(*folders: str, containing: str = "") -> Trees:
    """The modules under `folders`; with `containing`, only those whose text has it (a cheap pre-filter)."""
    paths = [path.relative_to(REPO_ROOT).as_posix() for path in repo_files(*folders)
             if containing in path.read_text()]
    return {path: parsed(path) for path in paths}


@functools.cache  # each check walks every module; walk each once
def nodes(tree: ast.Module) -> tuple[ast.AST, ...]:
    return tuple(ast.walk(tree))


def _docstrings(tree: ast.Module) -> set[int]:
    found = set()
    for node in nodes(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _bound_names(target: ast.expr) -> list[str]:
    """The plain names an assignment target binds: ``X``, ``X, Y``, ``*X`` (not ``a.X`` or ``a[X]``)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [name for item in target.elts for name in _bound_names(item)]
    return _bound_names(target.value) if isinstance(target, ast.Starred) else []


def assignments(tree: ast.Module) -> Iterator[tuple[ast.Assign | ast.AnnAssign | ast.AugAssign, list[str]]]:
    """Each assignment statement with the names it binds."""
    for node in nodes(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            yield node, [name for target in targets for name in _bound_names(target)]


# --- the progress callback type ------------------------------------------------------------------

PROGRESS_TYPE = re.compile(r"^(?:[\w.]+\.)?Callable\[\[str\], None\]$")


def _quoted_annotations(tree: ast.Module) -> Iterator[tuple[int, ast.expr]]:
    """(line, parsed annotation) for each annotation written as a string, e.g. ``say: "Callable[[str], None]"``."""
    for node in nodes(tree):
        annotation = (node.annotation if isinstance(node, ast.arg | ast.AnnAssign) else
                      node.returns if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else None)
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            yield annotation.lineno, ast.parse(annotation.value, mode="eval").body


def _last_name(node: ast.expr) -> str:
    """``Callable`` for ``Callable`` and ``typing.Callable``."""
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""


def progress_type_spellings(trees: Trees) -> Found:
    """Every ``Callable[[str], None]``: as an alias's value, in an annotation (quoted or not), or anywhere in code."""
    found = []
    for path, tree in trees.items():
        aliases = {id(node.value): names for node, names in assignments(tree) if node.value is not None}
        candidates = [(getattr(node, "lineno", 0), node) for node in nodes(tree)]
        candidates += [(line, inner) for line, parsed in _quoted_annotations(tree) for inner in ast.walk(parsed)]
        for line, node in candidates:
            if (isinstance(node, ast.Subscript) and _last_name(node.value) == "Callable"  # unparse only those
                    and PROGRESS_TYPE.match(ast.unparse(node))):
                what = f"alias {', '.join(aliases[id(node)])}" if id(node) in aliases else "spelled out"
                found.append(f"{path}:{line}: {what}")
    return sorted(found)


def test_the_progress_type_is_defined_once_in_progress_py() -> None:
    trees = repo_trees(*PROGRESS_USERS)
    assert len(trees) > 60, f"only {len(trees)} modules under {PROGRESS_USERS}: is REPO_ROOT right?"
    assert unnumbered(progress_type_spellings(trees)) == ["todo_runbook/progress.py: alias Progress"], (
        "the progress callback type is `todo_runbook.progress.Progress`: import it instead of writing "
        "Callable[[str], None] again")


def test_the_progress_scanner_finds_an_alias_an_annotation_and_a_quoted_one() -> None:
    trees = parse({
        "home.py": "Progress = Callable[[str], None]\n",
        "alias.py": "import typing\nSay: TypeAlias = typing.Callable[[str], None]\n",
        "param.py": "def f(say: Callable[[str], None] | None = None) -> None: ...\n",
        "quoted.py": "def g(say: 'Callable[[str], None]') -> None: ...\n",
        "other.py": "def h(draw: Callable[[Path], None], say: Progress) -> Callable[[str], int]: ...\n",
    })
    assert progress_type_spellings(trees) == [
        "alias.py:2: alias Say", "home.py:1: alias Progress", "param.py:1: spelled out", "quoted.py:1: spelled out"]


# --- the checkout root ---------------------------------------------------------------------------

def _path_value(node: ast.expr, file: Path) -> Path | None:
    """What a ``Path(__file__).resolve().parents[N]`` / ``.parent`` / ``os.path.dirname`` chain names, or None."""
    if isinstance(node, ast.Name) and node.id == "__file__":
        return file
    if isinstance(node, ast.Call) and len(node.args) == 1:
        function = ast.unparse(node.func)
        if function in {"Path", "pathlib.Path", "os.path.abspath", "os.path.realpath"}:
            return _path_value(node.args[0], file)
        if function == "os.path.dirname":
            inner = _path_value(node.args[0], file)
            return inner.parent if inner else None
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"resolve", "absolute"}):
        return _path_value(node.func.value, file)
    if isinstance(node, ast.Attribute) and node.attr == "parent":
        inner = _path_value(node.value, file)
        return inner.parent if inner else None
    if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "parents"
            and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, int)):
        inner = _path_value(node.value.value, file)
        return inner.parents[node.slice.value] if inner and node.slice.value < len(inner.parents) else None
    return None


def repo_root_assignments(trees: Trees, root: Path) -> Found:
    """Every assignment to ``REPO_ROOT``, and every name bound to the checkout worked out from ``__file__``."""
    found = []
    for path, tree in trees.items():
        for node, names in assignments(tree):
            is_root = node.value is not None and _path_value(node.value, root / path) == root
            if names and ("REPO_ROOT" in names or is_root):
                found.append(f"{path}:{node.lineno}: {', '.join(names)}")
    return sorted(found)


def test_the_checkout_root_is_worked_out_once_in_paths_py() -> None:
    found = repo_root_assignments(repo_trees(*PACKAGES), REPO_ROOT)
    assert unnumbered(found) == ["testcluster/paths.py: REPO_ROOT"], (
        "the checkout root is `testcluster.paths.REPO_ROOT` (todo_runbook.config re-exports it): import it")


def test_the_root_scanner_finds_other_names_and_spellings() -> None:
    trees = parse({
        "pkg/a.py": "REPO_ROOT = Path(__file__).resolve().parents[1]\n",
        "pkg/b.py": "ROOT = Path(__file__).parent.parent\nHERE = Path(__file__).parent\n",
        "pkg/deep/c.py": "import os\nTOP = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))\n",
        "pkg/d.py": "sys.path.insert(0, str(Path(__file__).resolve().parents[1]))\n",  # not a name: a bootstrap
        "pkg/e.py": "from x import REPO_ROOT\nREPO_ROOT: Path = REPO_ROOT\n",
    })
    assert repo_root_assignments(trees, Path("/checkout")) == [
        "pkg/a.py:1: REPO_ROOT", "pkg/b.py:1: ROOT", "pkg/deep/c.py:2: TOP", "pkg/e.py:2: REPO_ROOT"]


# --- the cache root ------------------------------------------------------------------------------

CACHE_ENV = "TODO_RUNBOOK_CACHE"
DEFAULT_CACHE = re.compile(r"\.cache/todo-runbook")


def cache_root_logic(trees: Trees) -> Found:
    """The cache variable's name as a value, or the default ``~/.cache/todo-runbook`` built from parts or one string.

    Docstrings and messages that mention ``$TODO_RUNBOOK_CACHE`` are prose and do not count.
    """
    found = []
    for path, tree in trees.items():
        prose = _docstrings(tree)
        for node in nodes(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
                if node.value == CACHE_ENV or DEFAULT_CACHE.search(node.value):
                    found.append(f"{path}:{node.lineno}: {node.value!r}")
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant):
                left = node.left.right if isinstance(node.left, ast.BinOp) else node.left
                if node.right.value == "todo-runbook" and isinstance(left, ast.Constant) and left.value == ".cache":
                    found.append(f"{path}:{node.lineno}: .cache / todo-runbook")
    return sorted(found)


def test_the_cache_root_is_worked_out_once_in_paths_py() -> None:
    found = cache_root_logic(repo_trees(*PACKAGES))
    assert {line.partition(":")[0] for line in found} == {"testcluster/paths.py"}, (
        f"the cache root is `testcluster.paths.cache_root()` (env name `CACHE_ENV`): call it; found {found}")
    assert len(found) == 2, found  # the variable's name and the default folder


def test_the_cache_scanner_finds_the_variable_and_the_default() -> None:
    trees = parse({
        "a.py": 'import os\nroot = os.environ.get("TODO_RUNBOOK_CACHE", Path.home() / ".cache" / "todo-runbook")\n',
        "b.py": 'root = Path(os.path.expanduser("~/.cache/todo-runbook"))\n',
        "c.py": '"""Kept in $TODO_RUNBOOK_CACHE (default ~/.cache/todo-runbook)."""\n'
                'hint = "see $TODO_RUNBOOK_CACHE/bin"\n',
        "d.py": 'env = dict(os.environ, TODO_RUNBOOK_CACHE=str(cache))\n',
    })
    assert cache_root_logic(trees) == [
        "a.py:2: 'TODO_RUNBOOK_CACHE'", "a.py:2: .cache / todo-runbook", "b.py:1: '~/.cache/todo-runbook'"]


# --- the secret-word pattern ---------------------------------------------------------------------

SECRET_WORD = r"(?:secret|passw(?:or)?d|token|api[_-]?key|apikey|database_?url)"
# Two secret words side by side in a regex alternation, e.g. "(secret|password|token)".
SECRET_ALTERNATION = re.compile(rf"(?i){SECRET_WORD}\w*\|[(?:]*{SECRET_WORD}")
SECRET_LITERAL = re.compile(rf"(?i)^{SECRET_WORD}$")


def secret_patterns(trees: Trees) -> Found:
    """Lists of secret words: a regex alternation of them, or a set/list/tuple of two or more."""
    found = []
    for path, tree in trees.items():
        for node in nodes(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SECRET_ALTERNATION.search(node.value):
                found.append(f"{path}:{node.lineno}: a regex of secret words")
            elif isinstance(node, ast.Set | ast.List | ast.Tuple) and sum(
                    isinstance(item, ast.Constant) and isinstance(item.value, str)
                    and bool(SECRET_LITERAL.match(item.value)) for item in node.elts) >= 2:
                found.append(f"{path}:{node.lineno}: a collection of secret words")
    return sorted(found)


def test_the_secret_words_are_listed_once_in_shell_py() -> None:
    found = secret_patterns(repo_trees(*PACKAGES))
    assert unnumbered(found) == ["todo_runbook/shell.py: a regex of secret words"], (
        "which keys are secrets is `todo_runbook.shell` (SECRET_KEY, mask, mask_tree): use it")


def test_the_secret_scanner_finds_a_second_pattern() -> None:
    trees = parse({
        "deploy.py": 'import re\n_SECRET_KEY = re.compile(r"(?i)(secret|password|token|apikey|api_key|databaseurl)")\n',
        "words.py": 'SECRETS = {"password", "token"}\n',
        "fine.py": 'TOKEN_ENV = "HF_TOKEN"\nargs = ["--password-stdin", "token"]\nmode = "a|b"\n',
    })
    assert secret_patterns(trees) == [
        "deploy.py:2: a regex of secret words", "words.py:1: a collection of secret words"]


# --- class names in dockerfiles/ and todo_runbook/ -----------------------------------------------

def class_names(trees: Trees) -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    for path, tree in trees.items():
        for node in nodes(tree):
            if isinstance(node, ast.ClassDef):
                names.setdefault(node.name, []).append(f"{path}:{node.lineno}")
    return names


def shared_class_names(one: Trees, other: Trees) -> Found:
    first, second = class_names(one), class_names(other)
    return sorted(f"{name}: {', '.join(first[name] + second[name])}" for name in first.keys() & second.keys())


def test_dockerfiles_and_the_runbook_name_their_classes_apart() -> None:
    dockerfiles, runbook = repo_trees("dockerfiles"), repo_trees("todo_runbook")
    assert len(dockerfiles) > 3 and len(runbook) > 40, "dockerfiles/ or todo_runbook/ not found: is REPO_ROOT right?"
    assert shared_class_names(dockerfiles, runbook) == [], (
        "a class name means one thing: rename one of them (dockerfiles/ has BuiltImage and DockerImageError "
        "where the runbook has BuildResult and ImageBuildError)")


def test_the_class_scanner_finds_a_shared_name() -> None:
    one = parse({"dockerfiles/image_build.py": "class BuildResult:\n    pass\nclass BuiltImage: ...\n"})
    other = parse({"todo_runbook/build.py": "class BuildResult: ...\n"})
    assert shared_class_names(one, other) == ["BuildResult: dockerfiles/image_build.py:1, todo_runbook/build.py:1"]


# --- KUBERNETES_VERSION --------------------------------------------------------------------------

def assignments_of(name: str, trees: Trees) -> Found:
    return sorted(f"{path}:{node.lineno}" for path, tree in trees.items() for node, names in assignments(tree)
                  if name in names)


def test_kubernetes_version_is_assigned_once_in_the_whole_checkout() -> None:
    folders = sorted(entry.name for entry in REPO_ROOT.iterdir()
                     if entry.is_dir() and not entry.name.startswith(".") and entry.name not in SKIPPED_DIRS)
    assert {"testcluster", "tests", "todo_runbook"} <= set(folders), folders
    found = assignments_of("KUBERNETES_VERSION", repo_trees(*folders, containing="KUBERNETES_VERSION"))
    assert [line.partition(":")[0] for line in found] == ["testcluster/components.py"], (
        f"the pinned Kubernetes is `testcluster.components.KUBERNETES_VERSION`: import it; found {found}")


def test_the_assignment_scanner_finds_every_form() -> None:
    trees = parse({"a.py": "KUBERNETES_VERSION = 'v1'\nX, KUBERNETES_VERSION = 1, 'v2'\n"
                           "KUBERNETES_VERSION: str = 'v3'\nprint(KUBERNETES_VERSION)\n"})
    assert assignments_of("KUBERNETES_VERSION", trees) == ["a.py:1", "a.py:2", "a.py:3"]


# --- ctx in the test bed -------------------------------------------------------------------------

def ctx_parameters(trees: Trees) -> dict[str, str]:
    """ "path:line" -> the annotation of each ``ctx`` parameter (of functions and lambdas), "" when there is none."""
    found = {}
    for path, tree in trees.items():
        for node in nodes(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
                    if arg.arg == "ctx":
                        found[f"{path}:{arg.lineno}"] = "" if arg.annotation is None else ast.unparse(arg.annotation)
    return found


def loose_ctx_parameters(trees: Trees) -> Found:
    """``ctx`` parameters with no annotation or one that mentions ``Any``."""
    return sorted(f"{where}: ctx: {annotation}".rstrip(": ") for where, annotation in ctx_parameters(trees).items()
                  if not annotation or re.search(r"\bAny\b", annotation))


def test_every_ctx_in_the_test_bed_is_typed() -> None:
    trees = repo_trees("testcluster")
    assert len(ctx_parameters(trees)) > 20, "hardly any `ctx` parameter found in testcluster/: is REPO_ROOT right?"
    assert loose_ctx_parameters(trees) == [], "annotate `ctx` as `testcluster.context.ClusterContext`"


def test_the_ctx_scanner_finds_untyped_and_any() -> None:
    trees = parse({"a.py": "def f(ctx): ...\ndef g(x, *, ctx: Any) -> None: ...\n"
                           "def h(ctx: 'typing.Any | None') -> None: ...\nk = lambda ctx: ctx\n"
                           "def fine(ctx: ClusterContext, other: Any) -> None: ...\n"})
    assert loose_ctx_parameters(trees) == ["a.py:1: ctx", "a.py:2: ctx: Any", "a.py:3: ctx: 'typing.Any | None'",
                                           "a.py:4: ctx"]
