"""The one timer: monotonic durations plus wall-clock timestamps for the evidence."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_now() -> str:
    return utc_now().isoformat(timespec="seconds")


def parse_iso(value: str | datetime | None) -> datetime | None:
    """Kubernetes timestamps ('2026-01-01T10:00:00Z') and our own ISO strings, to aware datetimes."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = value.strip().replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class Timer:
    """`with Timer() as t: ...` then `t.seconds`; also usable with start()/stop()."""

    started_at: str = ""
    seconds: float = 0.0
    _t0: float = field(default=0.0, repr=False)
    _running: bool = field(default=False, repr=False)

    def start(self) -> Timer:
        self.started_at = iso_now()
        self._t0 = time.monotonic()
        self._running = True
        return self

    def stop(self) -> float:
        if self._running:
            self.seconds = round(time.monotonic() - self._t0, 3)
            self._running = False
        return self.seconds

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._t0 if self._running else self.seconds

    def __enter__(self) -> Timer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
