"""Polling until a condition holds, shared by the real-node test modules."""

from __future__ import annotations

import time
from typing import Any


def wait_for(check: Any, what: str, timeout: float = 120, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as error:  # not yet
            last = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")

