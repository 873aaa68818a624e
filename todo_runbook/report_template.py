"""The report's Jinja2 environment (templates/ in this package) and its section macros.

report.py renders the whole page with it; browser.py, video.py and aiops_report.py render their own section
with the same macro for a notebook cell. It lives apart from report.py because report.py imports steps.py,
which imports verify.py and so browser.py: a module below both keeps the imports one-way.
"""

from __future__ import annotations

import functools
from typing import Any

from .shell import mask

TEMPLATE, MACROS = "report.html.j2", "report_macros.html.j2"


def _finalize(value: Any) -> Any:
    """Every value the template prints: None as empty, secrets masked (then autoescaped unless marked safe)."""
    from markupsafe import Markup

    if value is None:
        return ""
    if isinstance(value, Markup):
        return Markup(mask(str(value)))
    return mask(str(value))


@functools.cache
def environment() -> Any:  # jinja2.Environment
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("todo_runbook", "templates"),
                              autoescape=True, finalize=_finalize, undefined=jinja2.ChainableUndefined)


def render_macro(name: str, *args: Any, **kwargs: Any) -> str:
    """One macro of report_macros.html.j2 as HTML (a report section on its own, e.g. in a notebook)."""
    return str(getattr(environment().get_template(MACROS).module, name)(*args, **kwargs))
