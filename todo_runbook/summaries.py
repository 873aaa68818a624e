"""One-line Markdown summaries of step results for the notebooks (the tables are in tables.py).

Each takes a step's typed result and returns Markdown that a cell displays; keeping the wording here
keeps the notebook cells to short calls.
"""

from __future__ import annotations

from IPython.display import Markdown

from .aiops import AiopsResult
from .deploy import DeployResult
from .providers import ClusterTarget
from .teardown import TeardownResult
from .verify import VerifyResult


def cluster(target: ClusterTarget) -> Markdown:
    return Markdown(f"**{target.provider}** (context `{target.context}`, {target.server_version}): {target.reason}")


def release(result: DeployResult, budget_s: float) -> Markdown:
    return Markdown(f"release `{result.release}` revision **{result.revision}** ({result.status}) in "
                    f"**{result.seconds:.1f} s** (budget {budget_s:g} s)")


def access(result: VerifyResult) -> Markdown:
    return Markdown(f"access: **{result.access}** ({result.access_note})")


NOT_MEASURED = "not measured in this run"


def chat(result: VerifyResult) -> Markdown:
    c = result.chat
    return Markdown(f"chat: {NOT_MEASURED}" if c is None else
                    f"chat “{c.prompt}” → task added: **{c.task_added}**, tools: {c.tool_calls}, reply: “{c.reply}”")


def latency(result: VerifyResult) -> Markdown:
    lat = result.latency
    return Markdown(f"latency: {NOT_MEASURED}" if lat is None else
                    f"{lat.count} × GET {lat.path}: p50 {lat.p50_ms} ms, p95 **{lat.p95_ms} ms**, "
                    f"p99 {lat.p99_ms} ms, {lat.failures} failed")


def https(result: VerifyResult) -> Markdown:
    t = result.tls
    if t is None:
        return Markdown(f"HTTPS: {NOT_MEASURED}")
    if not t.enabled:
        return Markdown(f"HTTPS: {t.reason}")
    lat = f", p95 **{t.latency.p95_ms} ms** over {t.latency.count}" if t.latency else ""
    plain = f"; plain HTTP {t.plain_http.observed} (values: {t.plain_http.expected})" if t.plain_http else ""
    return Markdown(f"HTTPS {t.url} against the local CA `{t.ca_file}`: chain verified **{t.chain_verified}**, "
                    f"GET {t.health_status} ({t.tls_version}){lat}{plain}; verified: **{t.verified}**"
                    + (f" — {t.detail}" if t.detail else ""))


def rolling_and_recovery(result: VerifyResult) -> Markdown:
    rolling, recovery = result.rolling, result.recovery
    if rolling is None or recovery is None:
        return Markdown(f"rolling update and pod kill: {NOT_MEASURED}")
    return Markdown(f"rolling update: **{rolling.failed}** failed of {rolling.requests} requests; "
                    f"pod kill: replacement Ready after **{recovery.seconds} s**, data kept: **{recovery.data_kept}**")


def resources(result: VerifyResult) -> Markdown:
    return Markdown(f"metrics: {NOT_MEASURED if result.resources is None else result.resources.detail}")


def diagnosis(result: AiopsResult) -> Markdown:
    diag = result.diagnosis
    if diag is None:
        return Markdown(f"diagnosis failed: {result.diagnosis_error}")
    return Markdown(f"{diag.pods_examined} pods, {diag.events_examined} events examined; "
                    f"healthy: **{diag.healthy}**")


def teardown(result: TeardownResult) -> Markdown:
    phases = ", ".join(f"{name.removesuffix('_s').replace('_', ' ')} {seconds:.1f} s"
                       for name, seconds in result.phases.items())
    return Markdown(f"nothing left: **{result.nothing_left}** {result.leftovers or ''} ({result.seconds:.1f} s"
                    + (f": {phases})" if phases else ")"))
