"""Known problems shown in a notebook as a short message, not a traceback.

A RunbookError already says what is wrong and what to do; thirty lines of frames through the package
hide that. IPython's custom exception handler replaces the traceback of RunbookErrors (and only those:
an unexpected exception keeps its full traceback). The cell still fails, so papermill and nbval still
stop there and record the error.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

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
    remedy = (error.in_notebook if interactive else "") or error.remedy
    if remedy:
        lines.append(f"{BOLD}what to do{RESET}: {remedy}")
    return lines


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
