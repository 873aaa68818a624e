"""What notebook 05 shows after the AIOps step: the agent setup, the faults table, the diagnosis."""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import tables


def faults_table(ai: Any) -> pd.DataFrame:
    scratch = ai.faults
    if scratch is None:
        return pd.DataFrame()
    return pd.DataFrame([{"fault": f.what, "diagnosed": f.diagnosed, "diagnosis": f.diagnosis, "remedy": f.remedy,
                          "agent said": (f.agent_answer or f.agent_outcome)[:300]} for f in scratch.faults])


def show(ai: Any) -> None:
    from IPython.display import Markdown, display

    agent = ai.agent
    if agent.runner:
        display(Markdown(f"agent: **{agent.runner}**, {agent.model}; venv "
                         f"{'reused' if agent.venv_reused else 'built'} (cold build {agent.venv_build_seconds} s)"))
    if agent.problem:
        display(Markdown(f"**agent runtime not available:** {agent.problem}"))
    display(Markdown(f"AI operations tool answered: **{ai.ai_answered}**"))
    if ai.faults is not None:
        f = ai.faults
        display(Markdown(f"scratch namespace `{f.namespace}`: **{f.diagnosed} of {f.injected}** faults diagnosed; "
                         f"removed: **{f.removed}** ({f.removal_proof}) {f.error}"))
        display(faults_table(ai))
    if ai.diagnosis is not None:
        display(Markdown(f"release namespace: {ai.diagnosis.pods_examined} pods, {ai.diagnosis.events_examined} "
                         f"events examined; healthy: **{ai.diagnosis.healthy}**"))
        display(tables.findings(ai.diagnosis))
    else:
        display(Markdown(f"**diagnosis failed:** {ai.diagnosis_error}"))
