"""The report's AIOps section: per task prompt -> tool calls -> answer, and the fault-injection table."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .cheatsheet import GROUPS
from .shell import mask


def _e(value: Any) -> str:
    return html.escape(mask("" if value is None else str(value)))


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _calls(run: Mapping[str, Any]) -> str:
    items = []
    for call in run.get("tool_calls") or []:
        out = (call.get("refused") or call.get("output") or "").splitlines()[:6]
        items.append(f"<code>{_e(call.get('command'))}</code><pre>{_e(chr(10).join(out))}</pre>")
    return "".join(items) or "—"


def _outcome(text: str) -> str:
    cls = "pass" if text == "ok" else "fail" if text.startswith("failed") else "na"
    return f"<span class='{cls}'>{_e(text)}</span>"


def aiops_html(aiops: Mapping[str, Any], diagnosis_html: Callable[[Mapping[str, Any]], str]) -> str:
    agent = aiops.get("agent") or {}
    parts = ["<h2>AIOps</h2>"]
    if agent.get("runner"):
        parts.append(f"<p>Agent runtime: {_e(agent['runner'])}; <b>{_e(agent.get('model'))}</b>; kagent venv "
                     f"{'reused' if agent.get('venv_reused') else 'built'} (cold build "
                     f"{_e(agent.get('venv_build_seconds'))} s), runtime start "
                     f"{_e(agent.get('runtime_start_seconds'))} s</p>")
    if agent.get("problem"):
        parts.append(f"<p class='fail'>agent runtime not available: {_e(agent['problem'])}</p>")
    runs = aiops.get("runs") or []
    for group in GROUPS:
        rows = [[_e(r.get("tool")), _e(r.get("prompt")), _calls(r), f"<pre>{_e(r.get('answer', ''))[:1500]}</pre>",
                 _outcome(r.get("outcome", "")) + (f"<br>{_e(r['verified'])}" if r.get("verified") else "")]
                for r in runs if r.get("group") == group]
        if rows:
            parts += [f"<h3>{_e(group)}</h3>", _table(["tool", "prompt", "tool calls", "answer", "outcome"], rows)]
    scratch = aiops.get("faults") or {}
    if scratch:
        parts.append(f"<h3>Injected faults</h3><p>scratch namespace <code>{_e(scratch.get('namespace'))}</code>: "
                     f"{_e(scratch.get('diagnosed'))} of {_e(scratch.get('injected'))} diagnosed; removed: "
                     f"{_e(scratch.get('removed'))} ({_e(scratch.get('removal_proof'))})"
                     + (f"; <span class='fail'>{_e(scratch['error'])}</span>" if scratch.get("error") else "")
                     + "</p>")
        parts.append(_table(["fault", "what the tool said", "what the diagnosis said", "remedy"], [
            [_e(f.get("what")), f"<pre>{_e((f.get('agent_answer') or f.get('agent_outcome') or '')[:800])}</pre>",
             _e(f.get("diagnosis")), _e(f.get("remedy"))] for f in scratch.get("faults") or []]))
    reviews = aiops.get("gordon") or []
    if reviews:
        parts.append("<h3>Dockerfiles (beside Gordon)</h3>")
        for review in reviews:
            findings = ", ".join(f"{f.get('code')} line {f.get('line')}" for f in review.get("hadolint") or [])
            parts.append(f"<p><code>{_e(review.get('dockerfile'))}</code>: hadolint "
                         f"{_e(findings or review.get('hadolint_note'))}; {len(review.get('layers') or [])} layers "
                         f"in {_e(review.get('image') or '—')} {_e(review.get('layers_note'))}</p>")
    if aiops.get("restored"):
        parts.append(f"<p>{_e(aiops['restored'])}</p>")
    parts.append("<h3>Built-in diagnosis</h3>")
    if aiops.get("diagnosis"):
        parts.append(diagnosis_html(aiops["diagnosis"]))
    else:
        parts.append(f"<p class='fail'>diagnosis failed: {_e(aiops.get('diagnosis_error'))}</p>")
    return "".join(parts)
