"""The AIOps cheatsheet, generated from one run's AIOps evidence (real transcripts, never typed in).

A run writes outputs/<run-id>/AIOps-cheatsheet.md; `make cheatsheet` copies the newest run's into
docs/AIOps-cheatsheet.md (the tracked copy), so a runbook run never dirties the checkout.

    python -m todo_runbook.cheatsheet [--run outputs/<run-id>] [--out docs/AIOps-cheatsheet.md]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

GROUPS = ("status", "logs", "troubleshoot", "scale", "deploy", "cluster health", "docker")
EXCERPT_LINES = 8


def _excerpt(text: str, lines: int = EXCERPT_LINES) -> str:
    kept = [line.rstrip() for line in (text or "").splitlines() if line.strip()]
    more = f"\n… ({len(kept) - lines} more lines)" if len(kept) > lines else ""
    return "\n".join(kept[:lines]) + more


def _fence(text: str) -> list[str]:
    return ["```text", text.replace("```", "'''"), "```"]


def _entry(run: Mapping[str, Any], run_id: str) -> list[str]:
    lines = [f"#### {run.get('prompt', '')}", "",
             f"- tool: **{run.get('tool', '')}**" + (f" — ran as {run['runner']}" if run.get("runner") else ""),
             f"- model: {run.get('model') or '—'}",
             f"- outcome: **{run.get('outcome', '')}**", f"- run: `{run_id}`, {run.get('ran_at', '')}"]
    if run.get("note"):
        lines.append(f"- note: {run['note']}")
    if run.get("verified"):
        lines.append(f"- verified: {run['verified']}")
    if run.get("command"):
        lines += ["", "Command:", "", *_fence(run["command"])]
    calls = run.get("tool_calls") or []
    if calls:
        lines += ["", "kubectl commands the tool ran:", ""]
        for call in calls:
            lines += _fence(f"$ {call.get('command', '')}\n{_excerpt(call.get('refused') or call.get('output', ''))}")
    if run.get("answer"):
        lines += ["", "Answer:", "", *_fence(_excerpt(run["answer"], 14))]
    return [*lines, ""]


def _cell(value: Any) -> str:
    return " ".join(str(value if value is not None else "").split()).replace("|", "\\|")


def _code(value: Any) -> str:
    """A table cell holding shell text literally; a backtick inside would end the code span early."""
    return "`" + _cell(value).replace("`", "'") + "`"


def _dockerfile_reviews(reviews: list[Mapping[str, Any]]) -> list[str]:
    """What we ran for Gordon's questions, per Dockerfile: hadolint's findings and the image's layer table."""
    lines = ["### hadolint and the image layers, for the same questions", ""]
    for review in reviews:
        dockerfile = review.get("dockerfile", "")
        findings = review.get("hadolint") or []
        lines += [f"#### {dockerfile}", "", "Command:", "", *_fence(f"hadolint {dockerfile}"), ""]
        if findings:
            lines += [f"hadolint: {len(findings)} finding(s).", "", "| line | code | level | message |",
                      "| --- | --- | --- | --- |"]
            lines += [f"| {_cell(f.get('line'))} | {_cell(f.get('code'))} | {_cell(f.get('level'))} | "
                      f"{_cell(f.get('message'))} |" for f in findings]
        else:
            lines.append(f"hadolint: {review.get('hadolint_note') or 'no findings'}.")
        lines.append("")
        image, rows = review.get("image", ""), review.get("layers") or []
        if rows:
            lines += ["Image layers (newest first):", "", *_fence(f"docker history --no-trunc {image}"), "",
                      "| size | created by |", "| --- | --- |"]
            lines += [f"| {_cell(r.get('size'))} | {_code(r.get('created_by'))} |" for r in rows]
        else:
            lines.append(f"Image layers: {review.get('layers_note') or 'not read'}.")
        lines.append("")
    return lines


def render(result: Mapping[str, Any], run_id: str) -> str:
    runs = result.get("runs") or []
    agent = result.get("agent") or {}
    lines = ["# AIOps cheatsheet", "",
             f"Generated from the AIOps evidence of run `{run_id}` (`outputs/{run_id}/evidence/aiops.json`) "
             "by `python -m todo_runbook.cheatsheet`; refresh with `make cheatsheet`. Do not edit by hand.",
             "Every entry is a real run: the command, the kubectl commands the tool executed against the "
             "cluster with an excerpt of their output, the outcome, and the model that answered.", ""]
    if agent.get("runner"):
        lines += [f"Agent runtime: {agent['runner']}; {agent.get('model', '')}.", ""]
    if agent.get("problem"):
        lines += [f"Agent runtime not available: {agent['problem']}", ""]
    lines.append("Prompts that change the cluster run only with `-p aiops_allow_mutating=true`.")
    lines.append("")
    for group in GROUPS:
        entries = [r for r in runs if r.get("group") == group]
        lines += [f"## {group}", ""]
        if not entries:
            lines += ["No prompt of this group ran.", ""]
        for run in entries:
            lines += _entry(run, run_id)
        if group == "docker" and result.get("gordon"):
            lines += _dockerfile_reviews(result["gordon"])
    scratch = result.get("faults") or {}
    if scratch.get("faults"):
        lines += ["## injected faults", "",
                  f"Scratch namespace `{scratch.get('namespace')}`: {scratch.get('diagnosed')} of "
                  f"{scratch.get('injected')} faults named by the built-in diagnosis; removed: "
                  f"{scratch.get('removed')} ({scratch.get('removal_proof', '')}).", "",
                  "| fault | asked | agent | built-in diagnosis | remedy |", "| --- | --- | --- | --- | --- |"]
        for f in scratch["faults"]:
            agent_said = _excerpt(f.get("agent_answer", ""), 4).replace("\n", " ") or f.get("agent_outcome", "")
            cells = [f.get("what", ""), f.get("question", ""), agent_said, f.get("diagnosis", ""), f.get("remedy", "")]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_for_run(run_dir: Path) -> Path | None:
    """outputs/<run-id>/AIOps-cheatsheet.md from that run's evidence; None when the run has no AIOps evidence."""
    evidence = run_dir / "evidence" / "aiops.json"
    if not evidence.exists():
        return None
    result = json.loads(evidence.read_text()).get("result") or {}
    path = run_dir / "AIOps-cheatsheet.md"
    path.write_text(render(result, run_dir.name))
    return path


def latest_run(outputs_dir: Path) -> Path | None:
    """The newest run folder whose AIOps step recorded at least one answered prompt."""
    found = []
    for evidence in outputs_dir.glob("*/evidence/aiops.json"):
        runs = (json.loads(evidence.read_text()).get("result") or {}).get("runs") or []
        if any(r.get("outcome") == "ok" for r in runs):
            found.append((evidence.stat().st_mtime, evidence.parents[1]))
    return max(found)[1] if found else None


def main(argv: list[str] | None = None) -> int:
    from .config import REPO_ROOT

    parser = argparse.ArgumentParser(description="write the AIOps cheatsheet from a run's evidence")
    parser.add_argument("--run", type=Path, help="run folder; default: the newest with an answered prompt")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "AIOps-cheatsheet.md")
    parser.add_argument("--outputs", type=Path, default=REPO_ROOT / "outputs")
    args = parser.parse_args(argv)
    run_dir = args.run or latest_run(args.outputs)
    if run_dir is None or not (run_dir / "evidence" / "aiops.json").exists():
        print(f"no run with AIOps evidence under {args.outputs}: run `make runbook` (or the aiops step) first")
        return 1
    result = json.loads((run_dir / "evidence" / "aiops.json").read_text()).get("result") or {}
    args.out.write_text(render(result, run_dir.name))
    print(f"{args.out} <- {run_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
