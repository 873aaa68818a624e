"""CPU and memory sampled from metrics.k8s.io in the background while the checks run."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .stats import parse_cpu, parse_memory


@dataclass
class ResourceSample:
    t: float
    pod: str
    container: str
    cpu_cores: float | None
    memory_bytes: float | None


@dataclass
class ResourceReport:
    available: bool
    detail: str = ""
    interval_s: float = 0.0
    samples: list[ResourceSample] = field(default_factory=list)
    # container name -> {"requests": {...}, "limits": {...}} (as the pods declare them)
    declared: dict[str, dict[str, Any]] = field(default_factory=dict)

    def peaks(self) -> dict[str, dict[str, float | None]]:
        """Per pod/container: the highest CPU and memory seen."""
        out: dict[str, dict[str, float | None]] = {}
        for s in self.samples:
            key = f"{s.pod}/{s.container}"
            cur = out.setdefault(key, {"cpu_cores": None, "memory_bytes": None})
            for attr in ("cpu_cores", "memory_bytes"):
                value = getattr(s, attr)
                if value is not None and (cur[attr] is None or value > cur[attr]):
                    cur[attr] = value
        return out


class MetricsSampler:
    """Polls the metrics API every `interval` seconds from a daemon thread until stopped."""

    def __init__(self, kube: Any, namespace: str, interval: float) -> None:
        self.kube, self.namespace, self.interval = kube, namespace, interval
        self.report = ResourceReport(available=False, interval_s=interval)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="metrics-sampler")
        self._t0 = 0.0

    def start(self) -> MetricsSampler:
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def sample_once(self) -> None:
        items = self.kube.pod_metrics(self.namespace)
        now = round(time.monotonic() - self._t0, 2)
        for item in items:
            pod = item.get("metadata", {}).get("name", "?")
            for c in item.get("containers") or []:
                usage = c.get("usage") or {}
                cpu, memory = parse_cpu(usage.get("cpu")), parse_memory(usage.get("memory"))
                self.report.samples.append(ResourceSample(now, pod, c.get("name", "?"), cpu, memory))
        self.report.available = True

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample_once()
            except Exception as exc:  # metrics-server absent (404) or not ready yet (503)
                self.report.detail = f"metrics.k8s.io: {getattr(exc, 'status', '')} {getattr(exc, 'reason', exc)}"
            self._stop.wait(self.interval)

    def stop(self) -> ResourceReport:
        self._stop.set()
        self._thread.join(timeout=self.interval + 30)
        if self.report.available:
            self.report.detail = f"{len(self.report.samples)} samples every {self.interval:g} s"
        elif not self.report.detail:
            self.report.detail = "no samples taken"
        return self.report
