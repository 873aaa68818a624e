"""Command line: `todo-runbook run|preflight|params|report` (also `python -m todo_runbook`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .config import RunbookConfig
from .errors import ConfigError, RunbookError


def _parser() -> argparse.ArgumentParser:
    from .steps import names

    p = argparse.ArgumentParser(prog="todo-runbook", description="Build, load, deploy, verify, AIOps and teardown "
                                "of the Todo AI Chatbot on local Kubernetes, with evidence and a report.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the notebooks headless with papermill and build the report")
    run.add_argument("--steps", default="", help=f"comma-separated subset of {','.join(names())} (default: all)")
    run.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                     help="a runbook parameter (see `todo-runbook params`); repeatable")
    run.add_argument("--profile", choices=["dev", "prod"], help="values profile (same as -p profile=...)")
    run.add_argument("--run-id", default="", help="name of the run folder under outputs/ (default: timestamp)")
    pre = sub.add_parser("preflight", help="which tools are present, which the run needs, which cluster it would use")
    pre.add_argument("--steps", default="")
    pre.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    sub.add_parser("params", help="list every parameter with its default and meaning")
    rep = sub.add_parser("report", help="rebuild report.html and summary.json of an existing run folder")
    rep.add_argument("run_dir")
    rep.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                     help="override a parameter (e.g. a threshold) before re-evaluating the criteria")
    return p


def _cmd_run(args: argparse.Namespace) -> int:
    from .config import REPO_ROOT
    from .runner import bad_input, parse_params, run
    from .timing import iso_now

    try:
        params = parse_params(args.param)
    except ConfigError as exc:
        outputs = next((p.partition("=")[2] for p in args.param if p.startswith("outputs_dir=")), "")
        outcome = bad_input(exc, RunbookConfig().path(outputs) if outputs else REPO_ROOT / "outputs", args.run_id,
                            iso_now(),
                            lambda line: print(line, file=sys.stderr))
        return outcome.exit_code
    if args.profile:
        params["profile"] = args.profile
    outcome = run(params, args.steps or None, run_id=args.run_id)
    if outcome.report:
        print(outcome.report.report_html)
    return outcome.exit_code


def _cmd_preflight(args: argparse.Namespace) -> int:
    from .preflight import preflight
    from .providers import resolve
    from .runner import CLUSTER_STEPS, parse_params, parse_steps

    try:
        config = RunbookConfig.from_sources(parse_params(args.param))
        steps = parse_steps(args.steps or None)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = preflight(steps, config.provider)
    for tool in result.tools:
        mark = "ok " if tool.present else ("MISSING" if tool.required else "absent")
        print(f"{mark:8} {tool.name:11} {tool.version or tool.detail[:70]}"
              + (f"\n         install: {tool.hint}" if not tool.present else ""))
    code = 0
    if result.missing_required:
        print(f"\nrequired for {','.join(steps)}: {', '.join(t.name for t in result.missing_required)} missing")
        code = 2
    if CLUSTER_STEPS & set(steps):
        try:
            target = resolve(config, prepare=False)
            print(f"\ncluster: {target.provider} (context {target.context}, {target.server}) — {target.reason}")
        except RunbookError as exc:
            print(f"\ncluster: {exc}")
            code = 2
    return code


def _cmd_params() -> int:
    for name, info in RunbookConfig.describe().items():
        choices = f" (one of {', '.join(info['choices'])})" if info.get("choices") else ""
        print(f"{name} [{info['type']}] = {json.dumps(info['default'])}\n    {info['help']}{choices}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .evidence import EvidenceStore
    from .report import StepOutcome, build_report

    store = EvidenceStore(Path(args.run_dir))
    summary = json.loads((store.run_dir / "summary.json").read_text())
    from .runner import parse_params

    config = RunbookConfig.from_sources(parse_params(args.param), saved=store.saved_config())
    known = set(StepOutcome.__dataclass_fields__)
    outcomes = [StepOutcome(**{k: v for k, v in s.items() if k in known}) for s in summary["steps"]]
    result = build_report(store, config, outcomes, started_at=summary.get("started_at", ""))
    print(result.report_html)
    return result.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    from .runner import ensure_tools_on_path

    args = _parser().parse_args(argv)
    ensure_tools_on_path()
    if args.command == "run":
        return _cmd_run(args)
    if args.command == "preflight":
        return _cmd_preflight(args)
    if args.command == "params":
        return _cmd_params()
    return _cmd_report(args)


if __name__ == "__main__":
    sys.exit(main())
