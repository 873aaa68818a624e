"""Tables for the notebooks (pandas DataFrames built from step results or their evidence)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from .criteria import Criterion
from .evidence import to_jsonable
from .sbom import overview


def _data(result: Any) -> dict[str, Any]:
    return to_jsonable(result) if not isinstance(result, dict) else result


def images(build: Any, budgets: dict[str, float]) -> pd.DataFrame:
    rows = []
    for img in _data(build).get("images", []):
        smoke = img.get("smoke") or {}
        rows.append({"image": img["ref"], "size MB": img["size_mb"], "budget MB": budgets.get(img["component"]),
                     "layers": img["layers"], "build s": img["seconds"],
                     "cache hits": f"{img['cache_hits']}/{img['steps']}",
                     "base images": ", ".join(img.get("base_images", {}).values()),
                     "smoke run": "skipped" if smoke.get("skipped") else ("ok" if smoke.get("ok") else
                                                                         f"FAILED: {smoke.get('detail', '')[:80]}")})
    return pd.DataFrame(rows)


def sboms(build: Any) -> pd.DataFrame:
    """One row per image's SBOM; the status and scan lines are printed above it (they carry the commands)."""
    summary = overview(build)
    if summary is None:
        print("no SBOM in this build result")
        return pd.DataFrame()
    print(summary.status)
    print(summary.scan)
    return pd.DataFrame(summary.rows)


def loads(load: Any) -> pd.DataFrame:
    return pd.DataFrame([{"image": i["image"], "method": i["method"], "digest": i.get("digest", ""),
                          "seconds": i.get("seconds")}
                         for i in _data(load).get("images", [])])


def pods(verify: Any) -> pd.DataFrame:
    rows = []
    for p in _data(verify).get("pods", []):
        rows.append({"pod": p["name"], "component": p["component"], "ready": p["ready"], "restarts": p["restarts"],
                     **{f"{k} s": v for k, v in p["phases"].items()}})
    return pd.DataFrame(rows)


def services(verify: Any) -> pd.DataFrame:
    return pd.DataFrame(_data(verify).get("services", []))


def http(verify: Any) -> pd.DataFrame:
    return pd.DataFrame(_data(verify).get("http", []))


def findings(diagnosis: Any) -> pd.DataFrame:
    data = _data(diagnosis) or {}
    return pd.DataFrame(data.get("findings", []), columns=["severity", "rule", "object", "detail", "remedy"])


def ai_runs(aiops: Any) -> pd.DataFrame:
    return pd.DataFrame([{k: r[k] for k in ("tool", "prompt", "outcome", "command")}
                         for r in _data(aiops).get("runs", [])])


def criteria(table: Sequence[Criterion]) -> pd.DataFrame:
    return pd.DataFrame([{"criterion": c.description, "measured": c.measured,
                          "threshold": f"{c.comparison} {c.threshold} {c.unit}".strip(), "result": c.status,
                          "step": c.step} for c in table])


def commands(result: Any) -> str:
    """The recorded commands as a shell snippet a person can copy."""
    return "\n".join(f"# {c['purpose']}\n{c['command']}" for c in _data(result).get("commands", []))
