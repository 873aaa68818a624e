"""Figures for the notebooks and the report (matplotlib, headless-safe)."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

# No backend is forced: Jupyter's inline backend shows figures; headless runs fall back to Agg.
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .startup_phases import START_PHASES

PHASE_COLORS = {"scheduled": "#c6dbef", "initialized": "#9ecae1", "image_ready": "#6baed6",
                "container_started": "#4292c6", "app_listening": "#fd8d3c", "containers_ready": "#2171b5",
                "ready": "#08519c"}
PASS_COLOR, FAIL_COLOR, BUDGET_COLOR = "#2ca02c", "#d62728", "#555555"


def to_base64_png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def image_sizes(build: Mapping[str, Any], budgets: Mapping[str, float]) -> Figure | None:
    images = build.get("images") or []
    if not images:
        return None
    fig, (ax_size, ax_time) = plt.subplots(1, 2, figsize=(9, 3.2))
    names = [img["component"] for img in images]
    sizes = [img["size_mb"] for img in images]
    colors = [PASS_COLOR if s < budgets.get(n, float("inf")) else FAIL_COLOR for n, s in zip(names, sizes, strict=True)]
    ax_size.bar(names, sizes, color=colors)
    for i, name in enumerate(names):
        if name in budgets:
            ax_size.hlines(budgets[name], i - 0.4, i + 0.4, colors=BUDGET_COLOR, linestyles="--")
            ax_size.annotate(f"budget {budgets[name]:g}", (i, budgets[name]), textcoords="offset points",
                             xytext=(0, 3), ha="center", fontsize=8)
        ax_size.annotate(f"{sizes[i]:.0f} MB", (i, sizes[i] / 2), ha="center", color="white", fontsize=9)
    # Headroom above the tallest bar or budget, so the labels over them stay clear of the title.
    ax_size.set_ylim(0, max([*sizes, *(budgets.get(n, 0) for n in names)]) * 1.22)
    ax_size.set_ylabel("image size (MB)")
    ax_size.set_title("image size vs budget")
    times = [img["seconds"] for img in images]
    hits = [f"{img.get('cache_hits', 0)}/{img.get('steps', 0)} cached" for img in images]
    ax_time.bar(names, times, color="#6baed6")
    for i, label in enumerate(hits):
        ax_time.annotate(label, (i, times[i]), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=8)
    ax_time.set_ylim(0, max(times) * 1.22 if max(times) > 0 else 1)
    ax_time.set_ylabel("build time (s)")
    ax_time.set_title("build time (cache hits)")
    fig.tight_layout()
    return fig


def pod_timeline(pods: Sequence[Mapping[str, Any]], budget_s: float | None = None) -> Figure | None:
    if not pods:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.5 + 0.45 * len(pods)))
    order = START_PHASES  # each bar ends where the pod reached that phase
    for row, pod in enumerate(pods):
        start = 0.0
        for phase in order:
            end = (pod.get("phases") or {}).get(phase)
            if end is None:
                continue
            ax.barh(row, max(end - start, 0.05), left=start, color=PHASE_COLORS[phase],
                    label=phase if row == 0 else None)
            start = max(start, end)
    ax.set_yticks(range(len(pods)), [p["name"] for p in pods], fontsize=8)
    if budget_s:
        ax.axvline(budget_s, color=BUDGET_COLOR, linestyle="--", label=f"budget {budget_s:g} s")
    ax.set_xlabel("seconds since the pod was created")
    ax.set_title("pod start phases")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def latency(lat: Mapping[str, Any] | None, budget_ms: float | None = None) -> Figure | None:
    samples = (lat or {}).get("samples_ms") or []
    if lat is None or not samples:
        return None
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.hist(samples, bins=min(50, max(10, len(samples) // 6)), color="#6baed6")
    for key, style in (("p50_ms", ":"), ("p95_ms", "--"), ("p99_ms", "-.")):
        if lat.get(key) is not None:
            ax.axvline(lat[key], color="#08519c", linestyle=style, label=f"{key[:-3]} {lat[key]:.1f} ms")
    if budget_ms and budget_ms <= 3 * max(samples):
        ax.axvline(budget_ms, color=FAIL_COLOR, linestyle="--", label=f"budget p95 {budget_ms:g} ms")
    elif budget_ms:  # far off scale: drawing it would squash the distribution into one bar
        ax.plot([], [], color=FAIL_COLOR, linestyle="--", label=f"budget p95 {budget_ms:g} ms (off scale)")
    ax.set_xlabel(f"GET {lat.get('path')} latency (ms), {lat.get('count')} requests, {lat.get('failures')} failed")
    ax.set_ylabel("requests")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def resources(res: Mapping[str, Any] | None) -> Figure | None:
    samples = (res or {}).get("samples") or []
    if res is None or not samples:
        return None
    declared = res.get("declared") or {}
    fig, (ax_cpu, ax_mem) = plt.subplots(1, 2, figsize=(10, 3.4))
    series: dict[str, list[Mapping[str, Any]]] = {}
    for s in samples:
        series.setdefault(f"{s['pod']}/{s['container']}", []).append(s)
    from .stats import parse_cpu, parse_memory

    for key, points in series.items():
        t = [p["t"] for p in points]
        line = ax_cpu.plot(t, [(p["cpu_cores"] or 0) * 1000 for p in points], label=key)[0]
        ax_mem.plot(t, [(p["memory_bytes"] or 0) / 2**20 for p in points], color=line.get_color())
    seen_limits: set[tuple[str, float]] = set()
    for spec in declared.values():
        for kind, style in (("requests", ":"), ("limits", "--")):
            cpu = parse_cpu((spec.get(kind) or {}).get("cpu"))
            mem = parse_memory((spec.get(kind) or {}).get("memory"))
            if cpu and (f"cpu-{kind}", cpu) not in seen_limits:
                seen_limits.add((f"cpu-{kind}", cpu))
                ax_cpu.axhline(cpu * 1000, color=BUDGET_COLOR, linestyle=style, linewidth=0.8)
            if mem and (f"mem-{kind}", mem) not in seen_limits:
                seen_limits.add((f"mem-{kind}", mem))
                ax_mem.axhline(mem / 2**20, color=BUDGET_COLOR, linestyle=style, linewidth=0.8)
    ax_cpu.set_title("CPU (millicores); dotted = request, dashed = limit", fontsize=9)
    ax_mem.set_title("memory (MiB); dotted = request, dashed = limit", fontsize=9)
    for ax in (ax_cpu, ax_mem):
        ax.set_xlabel("seconds into verify")
    ax_cpu.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    return fig


def trend(history: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> Figure | None:
    rows = [r for r in history if r.get("run_id")]
    if len(rows) < 2:
        return None
    fig, axes = plt.subplots(1, len(keys), figsize=(3 * len(keys), 2.8), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        values = [float(r[key]) if r.get(key) not in (None, "") else float("nan") for r in rows]
        ax.plot(range(1, len(rows) + 1), values, marker="o")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_title(key, fontsize=8)
        ax.set_xlabel("run #", fontsize=7)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig
