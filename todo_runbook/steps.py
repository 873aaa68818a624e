"""Run one step function and record its evidence, whether it succeeds or fails."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .errors import StepFailedError, error_dict
from .evidence import EvidenceStore

T = TypeVar("T")


def run_step(store: EvidenceStore, step: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call `fn`; record its result as evidence/<step>.json with status ok or failed; re-raise failures.

    A result with a non-empty `error` attribute (a step that kept partial measurements) counts as failed.
    """
    try:
        result = fn(*args, **kwargs)
    except Exception as exc:
        store.record(step, {}, status="failed", error=error_dict(exc))
        raise
    error = getattr(result, "error", None)
    # A result may say it did nothing (every tool skipped): that is recorded, not called `ok`.
    status = "failed" if error else getattr(result, "step_status", "ok")
    store.record(step, result, status=status, error=error)
    if error:
        raise StepFailedError(f"step '{step}' failed: {error.get('problem')}", error.get("remedy", ""))
    return result
