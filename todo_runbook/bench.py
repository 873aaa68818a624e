"""`make bench`: the runbook's build, load, deploy and teardown against the same work typed as raw commands.

The raw side replays the commands the runbook itself recorded as "what a person would type" (docker build x2,
the image load, `helm upgrade --install --wait`, `helm uninstall` + namespace delete), so both sides do the same
work on the same cluster. Rounds alternate A/B (and swap the order every round) after one warm-up run that is
not counted; the result is the median runbook time over the median raw time. Smoke runs are off on the runbook
side because the raw commands have none. Results go to outputs/bench/.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import REPO_ROOT
from .errors import RunbookError
from .evidence import iso_now

STEPS = ("build", "load", "deploy", "teardown")
# The recorded commands that do the step's work (not the cluster start, tool builds or base-image builds).
RAW_WORK: Mapping[str, tuple[str, ...]] = {
    "build": ("build the backend image", "build the frontend image"),
    "load": ("make ",),
    "deploy": ("install or upgrade the release",),
    "teardown": ("remove the release", "stop the release's pods", "remove the namespace"),
}


class BenchError(RunbookError):
    kind = "benchmark failed"


@dataclass
class Round:
    side: str  # "runbook" or "raw"
    index: int
    seconds: float


@dataclass
class BenchResult:
    started: str
    rounds: list[Round] = field(default_factory=list)
    raw_commands: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)

    def median(self, side: str) -> float:
        return statistics.median(r.seconds for r in self.rounds if r.side == side)

    @property
    def ratio(self) -> float:
        return self.median("runbook") / self.median("raw")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "median_runbook_s": round(self.median("runbook"), 2),
                "median_raw_s": round(self.median("raw"), 2), "ratio": round(self.ratio, 3)}

    def markdown(self) -> str:
        rows = ["| round | runbook (s) | raw commands (s) |", "| --- | --- | --- |"]
        for index in sorted({r.index for r in self.rounds}):
            by_side = {r.side: r.seconds for r in self.rounds if r.index == index}
            rows.append(f"| {index} | {by_side.get('runbook', 0):.1f} | {by_side.get('raw', 0):.1f} |")
        rows.append(f"| median | {self.median('runbook'):.1f} | {self.median('raw'):.1f} |")
        return "\n".join([f"Benchmark of {self.started} (`make bench`, warm, steps {', '.join(STEPS)})", "",
                          *rows, "", f"ratio runbook / raw: **{self.ratio:.2f}x** (goal <= 1.10x)"])


def raw_commands(run_dir: Path) -> list[str]:
    """The work commands a runbook run recorded, in step order; a masked one cannot be replayed."""
    commands: list[str] = []
    for step in STEPS:
        before = len(commands)
        path = run_dir / "evidence" / f"{step}.json"
        if not path.exists():
            raise BenchError(f"the warm-up run recorded no {step} evidence ({path})",
                             f"see {run_dir}/run.log; `make runbook STEPS={','.join(STEPS)}` must pass first")
        for entry in (json.loads(path.read_text()).get("result") or {}).get("commands") or []:
            if entry["purpose"].startswith(RAW_WORK[step]):
                if "***" in entry["command"]:
                    raise BenchError(f"the recorded {step} command carries a masked secret: {entry['command']}",
                                     "unset the secret (e.g. OPENAI_API_KEY) for the benchmark")
                commands.append(entry["command"])
        if len(commands) == before:
            raise BenchError(f"the warm-up run recorded no {step} command to replay ({path})",
                             "the warm-up run must build, load, deploy and tear down; see its run.log")
    return commands


def runbook_round(outputs: Path, run_id: str, params: Sequence[str]) -> float:
    argv = [sys.executable, "-m", "todo_runbook", "run", "--run-id", run_id, "--steps", ",".join(STEPS),
            "-p", f"outputs_dir={outputs}", "-p", "smoke_run=false"]
    for param in params:
        argv += ["-p", param]
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise BenchError(f"runbook round {run_id} failed (exit {proc.returncode}): {proc.stderr.strip()[-600:]}",
                         f"see {outputs / run_id}/run.log")
    return seconds


def raw_round(commands: Sequence[str]) -> float:
    started = time.monotonic()
    for command in commands:
        proc = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=REPO_ROOT, capture_output=True,
                              text=True)
        if proc.returncode != 0:
            raise BenchError(f"raw command failed (exit {proc.returncode}): {command}\n{proc.stderr.strip()[-600:]}",
                             "run it by hand to see why; the runbook recorded it as what a person would type")
    return time.monotonic() - started


def run_bench(rounds: int, params: Sequence[str], outputs: Path) -> BenchResult:
    if rounds < 1:
        raise BenchError(f"--rounds {rounds} is not a positive number", "pass --rounds 3 or more")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    result = BenchResult(started=iso_now(), params=list(params))
    print(f"bench: warm-up run (not counted) in {outputs}", flush=True)
    runbook_round(outputs, f"bench-{stamp}-warmup", params)
    result.raw_commands = raw_commands(outputs / f"bench-{stamp}-warmup")
    for index in range(1, rounds + 1):
        order = ("runbook", "raw") if index % 2 else ("raw", "runbook")
        for side in order:
            seconds = (runbook_round(outputs, f"bench-{stamp}-{index}", params) if side == "runbook"
                       else raw_round(result.raw_commands))
            result.rounds.append(Round(side, index, round(seconds, 2)))
            print(f"bench: round {index} {side}: {seconds:.1f} s", flush=True)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m todo_runbook.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds after the warm-up (default 3)")
    parser.add_argument("-p", dest="params", action="append", default=[], help="runbook parameter NAME=VALUE")
    args = parser.parse_args(argv)
    outputs = Path(os.environ.get("TODO_RUNBOOK_BENCH_DIR", REPO_ROOT / "outputs" / "bench"))
    outputs.mkdir(parents=True, exist_ok=True)
    try:
        result = run_bench(args.rounds, args.params, outputs)
    except RunbookError as exc:
        print(f"bench: {exc.problem}\n  fix: {exc.remedy}", file=sys.stderr)
        return 2
    name = f"bench-{result.started.replace(':', '').replace('-', '')[:15]}"
    (outputs / f"{name}.json").write_text(json.dumps(result.as_dict(), indent=2))
    (outputs / f"{name}.md").write_text(result.markdown() + "\n")
    print(result.markdown())
    print(f"bench: written {outputs / name}.json and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
