"""The report's AIOps section: per task prompt -> tool calls -> answer, and the fault-injection table.

Plain data here (`aiops_view`); the HTML is the `aiops_section` macro of templates/report_macros.html.j2.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .cheatsheet import GROUPS
from .report_template import render_macro

ANSWER_CHARS, FAULT_ANSWER_CHARS, OUTPUT_LINES = 1500, 800, 6


def _outcome_class(text: str) -> str:
    return "pass" if text == "ok" else "fail" if text.startswith("failed") else "na"


def _run_row(run: Mapping[str, Any]) -> dict[str, Any]:
    calls = [{"command": call.get("command"),
              "output": "\n".join((call.get("refused") or call.get("output") or "").splitlines()[:OUTPUT_LINES])}
             for call in run.get("tool_calls") or []]
    outcome = str(run.get("outcome") or "")
    return {"tool": run.get("tool"), "prompt": run.get("prompt"), "calls": calls,
            "answer": str(run.get("answer") or "")[:ANSWER_CHARS], "outcome": outcome,
            "cls": _outcome_class(outcome), "verified": run.get("verified")}


def aiops_view(aiops: Mapping[str, Any]) -> dict[str, Any]:
    """What the `aiops_section` macro prints, from the aiops step's evidence."""
    runs = aiops.get("runs") or []
    groups = [(group, [_run_row(r) for r in runs if r.get("group") == group]) for group in GROUPS]
    scratch = dict(aiops.get("faults") or {})
    if scratch:
        scratch["rows"] = [{"what": f.get("what"), "diagnosis": f.get("diagnosis"), "remedy": f.get("remedy"),
                            "said": (f.get("agent_answer") or f.get("agent_outcome") or "")[:FAULT_ANSWER_CHARS]}
                           for f in scratch.get("faults") or []]
    gordon = [{"dockerfile": review.get("dockerfile"),
               "hadolint": ", ".join(f"{f.get('code')} line {f.get('line')}" for f in review.get("hadolint") or [])
               or review.get("hadolint_note"),
               "layers": len(review.get("layers") or []), "image": review.get("image") or "—",
               "layers_note": review.get("layers_note")} for review in aiops.get("gordon") or []]
    return {"agent": aiops.get("agent") or {}, "groups": [(g, rows) for g, rows in groups if rows],
            "faults": scratch, "gordon": gordon, "restored": aiops.get("restored"),
            "diagnosis": aiops.get("diagnosis"), "diagnosis_error": aiops.get("diagnosis_error")}


def aiops_html(aiops: Mapping[str, Any], diagnosis_html: Callable[[Mapping[str, Any]], str] | None = None) -> str:
    """The section on its own (a notebook cell). `diagnosis_html` replaces the template's diagnosis table."""
    from markupsafe import Markup

    custom = Markup(diagnosis_html(aiops["diagnosis"])) if diagnosis_html and aiops.get("diagnosis") else None
    return render_macro("aiops_section", aiops_view(aiops), custom)
