"""Small statistics for the evidence: percentiles and summaries (no numpy needed)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (numpy's default method); pct in [0, 100]."""
    if not values:
        raise ValueError("percentile of an empty sample")
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile must be within 0..100, got {pct}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


@dataclass
class Summary:
    count: int
    minimum: float
    p50: float
    p95: float
    p99: float
    maximum: float
    mean: float


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        raise ValueError("cannot summarize an empty sample")
    return Summary(
        count=len(values),
        minimum=float(min(values)),
        p50=round(percentile(values, 50), 3),
        p95=round(percentile(values, 95), 3),
        p99=round(percentile(values, 99), 3),
        maximum=float(max(values)),
        mean=round(sum(values) / len(values), 3),
    )


def parse_cpu(quantity: str | None) -> float | None:
    """Kubernetes CPU quantity -> cores ('250m' -> 0.25, '1' -> 1.0, '12345n' -> 1.2345e-05)."""
    if quantity in (None, ""):
        return None
    q = str(quantity)
    factors = {"n": 1e-9, "u": 1e-6, "m": 1e-3}
    if q[-1] in factors:
        return float(q[:-1]) * factors[q[-1]]
    return float(q)


_MEMORY_FACTORS = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
    "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
}


def parse_memory(quantity: str | None) -> float | None:
    """Kubernetes memory quantity -> bytes ('128Mi' -> 134217728)."""
    if quantity in (None, ""):
        return None
    q = str(quantity)
    for suffix in sorted(_MEMORY_FACTORS, key=len, reverse=True):
        if q.endswith(suffix):
            return float(q[: -len(suffix)]) * _MEMORY_FACTORS[suffix]
    return float(q)
