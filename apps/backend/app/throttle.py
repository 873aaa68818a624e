"""Login throttling: too many failed logins for one account, or from one client address, within a
window earn a 429 with Retry-After until the window has passed. In memory, per process: each
replica counts on its own, which still bounds guessing to (replicas x limit) per window."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LoginThrottle:
    per_account: int = 10
    per_address: int = 50
    window_seconds: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _keys(self, email: str, address: str) -> list[tuple[str, int]]:
        return [(f"account:{email}", self.per_account), (f"address:{address}", self.per_address)]

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window_seconds:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
        return times

    def retry_after(self, email: str, address: str) -> int | None:
        """Seconds until a login for this account from this address may be tried again, or None if it may now."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key, limit in self._keys(email, address):
                times = self._recent(key, now)
                if len(times) >= limit:
                    wait = max(wait, times[len(times) - limit] + self.window_seconds - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, email: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key, _limit in self._keys(email, address):
                self._recent(key, now)
                self._failures.setdefault(key, deque()).append(now)
            if len(self._failures) > 100_000:  # a flood of distinct names must not grow memory without end
                for key in list(self._failures)[:50_000]:
                    del self._failures[key]

    def succeeded(self, email: str) -> None:
        with self._lock:
            self._failures.pop(f"account:{email}", None)
