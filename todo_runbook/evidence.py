"""The evidence store: outputs/<run-id>/evidence/<step>.json, written from dataclasses.

Notebooks run in fresh kernels under papermill, so they hand state to later steps here
(e.g. 02-load reads the image tags that 01-build recorded).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from .config import RunbookConfig
from .errors import EvidenceMissingError
from .shell import mask_tree
from .timing import iso_now, utc_now

LATEST_POINTER = "LATEST"


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not f.name.startswith("_")}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def cluster_of_run(evidence: dict[str, Any]) -> dict[str, Any]:
    """The cluster a run used: as preflight resolved it, else as a notebook resolved it live (a cold test bed is
    started by the load step, after the images are built; ``Session.cluster()`` records it as "cluster")."""
    preflight = (evidence.get("preflight") or {}).get("result") or {}
    live = (evidence.get("cluster") or {}).get("result") or {}
    return dict(preflight.get("cluster") or live or {})


def new_run_id() -> str:
    return utc_now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


class EvidenceStore:
    """One run's folder: evidence/, notebooks, report; `config.json` holds the validated config."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.evidence_dir = self.run_dir / "evidence"

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    def ensure(self) -> EvidenceStore:
        self.evidence_dir.mkdir(parents=True, exist_ok=True)
        return self

    def path(self, step: str) -> Path:
        return self.evidence_dir / f"{step}.json"

    def record(self, step: str, result: Any, status: str = "ok", error: dict[str, Any] | None = None) -> Path:
        """Write a step's result; the JSON is masked once more so no secret lands on disk."""
        self.ensure()
        payload = {"step": step, "status": status, "recorded_at": iso_now(), "result": to_jsonable(result)}
        if error:
            payload["error"] = error
        text = json.dumps(mask_tree(payload), indent=2, default=str)
        path = self.path(step)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(text + "\n")
        tmp.replace(path)
        return path

    def has(self, step: str) -> bool:
        return self.path(step).exists()

    def read(self, step: str) -> dict[str, Any]:
        path = self.path(step)
        if not path.exists():
            raise EvidenceMissingError(
                f"no evidence from step '{step}' in {self.run_dir}",
                f"run the '{step}' step (its notebook) first in this run, or pass run_dir of a run that has it",
            )
        payload: dict[str, Any] = json.loads(path.read_text())
        return payload

    def result(self, step: str) -> dict[str, Any]:
        result: dict[str, Any] = self.read(step)["result"]
        return result

    def all(self) -> dict[str, dict[str, Any]]:
        if not self.evidence_dir.exists():
            return {}
        return {p.stem: json.loads(p.read_text()) for p in sorted(self.evidence_dir.glob("*.json"))}

    # the validated config of this run
    def save_config(self, config: RunbookConfig) -> None:
        self.ensure()
        config.save(self.run_dir / "config.json")

    def saved_config(self) -> dict[str, Any]:
        path = self.run_dir / "config.json"
        return json.loads(path.read_text()) if path.exists() else {}


def open_run(run_dir: str | Path = "", *, outputs_dir: Path, create: bool = False) -> EvidenceStore:
    """The run to work in: `run_dir` if given; else a new run (create=True) or the latest one.

    Under the runner, run_dir is always given. In JupyterLab, 01-build starts a new run and the
    later notebooks continue the latest, so a person can open them one after another.
    """
    outputs_dir.mkdir(parents=True, exist_ok=True)
    pointer = outputs_dir / LATEST_POINTER
    if run_dir:
        store = EvidenceStore(Path(run_dir)).ensure()
    elif create or not pointer.exists():
        store = EvidenceStore(outputs_dir / new_run_id()).ensure()
    else:
        store = EvidenceStore(outputs_dir / pointer.read_text().strip()).ensure()
    if store.run_dir.parent.resolve() == outputs_dir.resolve():
        pointer.write_text(store.run_id + "\n")
    return store
