# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (todo-runbook)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · AIOps
#
# Runs the plan's AI prompts in each tool's real command form: `kubectl-ai "..."`,
# `kagent invoke --agent k8s-agent --task "..."` (the plan's `kagent "..."` form does not exist) and
# `docker ai "..."` — each only when the tool and its credentials are present. Prompts that change the
# cluster (scale, deploy) run only with `aiops_allow_mutating=true`. A missing tool is recorded as
# *skipped* with the reason and never fails the run. Transcripts are kept under `aiops/` in the run folder.
#
# A built-in, rule-based diagnosis always runs: pending pods and why, crash loops, OOM kills, image pull
# errors, failing probes, missing limits, restarts and resource headroom, each with a remedy.

# %% tags=["parameters"]
# Parameters (papermill injects the runner's values after this cell).
run_dir = ""      # outputs/<run-id>; empty: continue the latest run (outputs/LATEST)
params = {}       # type: dict[str, object]  # runbook parameters, e.g. {"provider": "minikube"}; all: `todo-runbook params`
headless = False  # True under papermill: plain-text progress, no widgets

# %%
from IPython.display import Markdown, display

from todo_runbook import session, summaries, tables
from todo_runbook.steps import run_step

s = session.start("aiops", run_dir=run_dir, params=params, headless=headless, loose=globals())
display(Markdown(f"run folder: `{s.store.run_dir}`"))

# %%
s.controls(["aiops_allow_mutating"])

# %%
from todo_runbook import aiops

target = s.cluster()
ai = run_step(s.store, "aiops", aiops.run_aiops, target, s.config, s.store.run_dir / "aiops")
tables.ai_runs(ai)

# %% [markdown]
# ## Built-in diagnosis

# %%
display(summaries.diagnosis(ai))
tables.findings(ai.diagnosis)

# %% [markdown]
# ## Evidence
#
# What this step recorded for the report and the later steps, and the commands a person would type
# to do the same by hand.

# %%
print(f"evidence: {s.store.path('aiops')}")
print(tables.commands(s.store.result("aiops")))
