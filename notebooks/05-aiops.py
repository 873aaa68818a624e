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
# Natural-language operations that really run against the deployed release. kagent's own agent runtime
# (`kagent-adk`, in its own cached virtualenv) starts on loopback and is asked the plan's prompts over A2A
# `message/send`; it reaches the cluster only through a read-only kubectl MCP server bound to the chosen
# kubeconfig and context. Its model is the **offline operations model** (deterministic rules, *not an LLM*,
# labelled so in every transcript) unless `aiops_llm_provider`/`aiops_model`/`aiops_llm_base_url` name a real
# one (keys only from the environment). kubectl-ai answers its prompts where it is on PATH; elsewhere the same
# prompts go to the kagent runtime. Gordon (`docker ai`) runs where Docker Desktop provides it; hadolint and
# the layer tables stand beside it. Prompts that change the cluster run only with `aiops_allow_mutating=true`,
# are verified through the API and the release is restored afterwards.
#
# Broken workloads are injected first, into a scratch namespace (pull error, crash loop, unschedulable,
# failing readiness probe, Service without endpoints), so their symptoms show while the agent starts; then the
# agent is asked why, the built-in diagnosis names each cause with its remedy, and the namespace is removed
# while the plan's prompts run (its absence is read back from the API at the end of the step).

# %% tags=["parameters"]
# Parameters (papermill injects the runner's values after this cell).
run_dir = ""      # outputs/<run-id>; empty: continue the latest run (outputs/LATEST)
params = {}       # type: dict[str, object]  # runbook parameters, e.g. {"provider": "minikube"}; the table below lists this step's
headless = False  # True under papermill: plain-text progress, no widgets

# %%
from IPython.display import Markdown, display

from todo_runbook import session, tables
from todo_runbook.steps import run_step

s = session.start("aiops", run_dir=run_dir, params=params, headless=headless, loose=globals())
display(Markdown(f"run folder: `{s.store.run_dir}`"))
s.parameters()

# %%
s.controls(["aiops_allow_mutating"])

# %%
from todo_runbook import aiops

images = s.built_images() if s.store.has("build") else {}
ai = run_step(s.store, "aiops", aiops.run_aiops, s.cluster(), s.config, s.store.run_dir / "aiops", images)
tables.ai_runs(ai)

# %% [markdown]
# ## Injected faults and the built-in diagnosis

# %%
from todo_runbook import aiops_view

aiops_view.show(ai)

# %% [markdown]
# ## Evidence
#
# What this step recorded for the report and the later steps, and the commands a person would type
# to do the same by hand.

# %%
print(f"evidence: {s.store.path('aiops')}")
print(tables.commands(s.store.result("aiops")))

# %% [markdown]
# ## Next

# %%
s.next_step()
