"""Known problems shown in a notebook as a short message, not a traceback.

A RunbookError already says what is wrong and what to do; thirty lines of frames through the package
hide that. IPython's custom exception handler replaces the traceback of RunbookErrors (and only those:
an unexpected exception keeps its full traceback). The cell still fails, so papermill and nbval still
stop there and record the error. In JupyterLab a remedy written for the command line ("-p name=value",
"see `todo-runbook params`") is reworded to point at the notebook's parameters cell and controls.
"""

from __future__ import annotations

import re
from types import TracebackType
from typing import Any

from .config import RunbookConfig
from .errors import RunbookError

RED, BOLD, RESET = "\x1b[31m", "\x1b[1m", "\x1b[0m"


def short_message(error: RunbookError, interactive: bool = True) -> list[str]:
    """The lines shown instead of a traceback: the kind, the problem, the reasons that led to it (e.g. why
    auto-detection chose a provider), the causes it chained, and the remedy: phrased for the notebook when a
    person runs it in JupyterLab, the command-line one under papermill (no controls to tick there)."""
    lines = [f"{RED}{BOLD}{error.kind}{RESET}: {error.problem}"]
    lines += [f"  because: {reason}" for reason in error.reasons]
    cause = error.__cause__
    while cause is not None:  # e.g. the command that failed under a StepFailedError
        lines.append(f"  because: {type(cause).__name__}: {str(cause).splitlines()[0][:300] if str(cause) else ''}")
        cause = cause.__cause__
    remedy = (error.in_notebook or in_notebook_words(error.remedy)) if interactive else error.remedy
    if remedy:
        lines.append(f"{BOLD}what to do{RESET}: {remedy}")
    return lines


# How remedies pass parameters on the command line: `-p name=value` or a bare `-p name` (todo-runbook), make's
# PARAMS="a=b c=d", and the `todo-runbook params` listing. Only known parameter names count, and minikube's own
# `-p <profile>` (never with "=value") stays as it is.
_PASSED = re.compile(r'(?P<q1>`)?(?:make [\w-]+ )?PARAMS="(?P<pairs>[^"]*)"(?(q1)`)'
                     r"|(?P<q2>`)?-p (?P<name>[a-z][a-z0-9_]*)(?:=(?P<value>[^\s`;)]+))?(?(q2)`)")
_LISTING = re.compile(r"(?P<quoted>`)?todo-runbook params(?(quoted)`)")
WHERE = "in this notebook's parameters cell (or its control)"
LISTING = "the parameter table under this notebook's parameters cell"


def in_notebook_words(remedy: str) -> str:
    """A command-line remedy as a person in JupyterLab acts on it: "-p aiops_model=NAME" becomes "`aiops_model =
    'NAME'` in this notebook's parameters cell (or its control)" (the cell reads such assignments, see
    session.loose_parameters). Only the first parameters named together say where, so the remedy stays short."""
    types = {name: info["type"] for name, info in RunbookConfig.describe().items()}
    out: list[str] = []
    group: list[str] = []  # parameters named next to each other ("-p a=1 -p b=2"), written as one list
    said_where, position, quoted = False, 0, False

    def close_group() -> None:
        nonlocal said_where, position, quoted
        if not group:
            return
        if quoted and remedy.startswith("`", position):  # `-p a=1 -p b=2` quoted as one command
            position += 1
        out.append(", ".join(group) + ("" if said_where else f" {WHERE}"))
        said_where, quoted = True, False
        group.clear()

    for found in _PASSED.finditer(remedy):
        assignments = _assignments(found, types)
        if assignments is None:
            continue  # not a runbook parameter: left in the text between
        if not (group and remedy[position:found.start()].isspace()):
            close_group()
            between = remedy[position:found.start()]
            quoted = between.endswith("`")
            out.append(between.removesuffix("`"))
        group.extend(assignments)
        position = found.end()
        value = found["value"] or ""
        trailing = value[len(value.rstrip(".,:")):]  # a sentence's comma or full stop, not part of the value
        if trailing:
            close_group()
            out.append(trailing)
    close_group()
    out.append(remedy[position:])
    return _LISTING.sub(LISTING, "".join(out))


def _assignments(found: re.Match[str], types: dict[str, str]) -> list[str] | None:
    """The parameters one match passes, as `name = value` (or `name` alone), or None when it passes none."""
    if found["pairs"] is not None:
        pairs = [pair.split("=", 1) for pair in found["pairs"].split()]
        if not pairs or any(len(pair) != 2 or pair[0] not in types for pair in pairs):
            return None
        return [f"`{name} = {python_value(value, types[name])}`" for name, value in pairs]
    name, value = found["name"], found["value"]
    if name not in types:
        return None
    if value is None:
        return None if re.search(r"minikube [^`;]*$", found.string[:found.start()]) else [f"`{name}`"]
    return [f"`{name} = {python_value(value.rstrip('.,:'), types[name])}`"]


def python_value(raw: str, kind: str) -> str:
    """The command-line value as the parameters cell would write it: True, 600, 'offline', ['a.yaml']. Alternatives
    and placeholders of a non-text parameter ("minikube|kind", "N") stay as written."""
    if "|" in raw:
        return raw
    if kind == "bool" and raw.lower() in {"true", "false"}:
        return str(raw.lower() == "true")
    if kind in {"int", "float"}:
        return raw
    if kind == "list[str]":
        return repr([part for part in raw.split(",") if part])
    return repr(raw)


def _handler_for(interactive: bool) -> Any:
    def handler(shell: Any, etype: type[BaseException], value: BaseException, tb: TracebackType | None,
                tb_offset: int | None = None) -> list[str]:
        if isinstance(value, RunbookError):
            stb = short_message(value, interactive)
        else:
            stb = list(shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset))
        # IPython leaves the showing to the handler; this sends the kernel's usual error message (the cell fails).
        shell._showtraceback(etype, value, stb)
        return stb
    return handler


def install(interactive: bool = True) -> bool:
    """Register the handler in the running IPython kernel (a no-op outside one). True when installed."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    shell.set_custom_exc((RunbookError,), _handler_for(interactive))
    return True
