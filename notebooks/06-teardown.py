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
# # 06 · Teardown
#
# Removes the release (`helm uninstall --wait`), deletes its namespace and waits until it is gone,
# optionally removes the images and stops the cluster, and then proves that nothing of the release is
# left: no helm release, no labelled objects, no namespace, no bound volumes.
#
# **Why:** a runbook that can be run again and again must clean up after itself, and say so with evidence.

# %% tags=["parameters"]
# Parameters (papermill injects the runner's values after this cell).
run_dir = ""      # outputs/<run-id>; empty: continue the latest run (outputs/LATEST)
params = {}       # type: dict[str, object]  # runbook parameters, e.g. {"provider": "minikube"}; the table below lists this step's
headless = False  # True under papermill: plain-text progress, no widgets

# %%
from IPython.display import Markdown, display

from todo_runbook import session, summaries, tables
from todo_runbook.steps import run_step

s = session.start("teardown", run_dir=run_dir, params=params, headless=headless, loose=globals())
display(Markdown(f"run folder: `{s.store.run_dir}`"))
s.parameters()

# %%
s.controls(["remove_images", "stop_cluster"])

# %%
from todo_runbook import teardown

target = s.cluster()
images = list(s.built_images().values()) if s.store.has("build") else []
gone = run_step(s.store, "teardown", teardown.teardown, target, s.config, images)
summaries.teardown(gone)

# %% [markdown]
# ## Success criteria of this run

# %%
tables.criteria(s.criteria_so_far())

# %% [markdown]
# ## Evidence
#
# What this step recorded for the report and the later steps, and the commands a person would type
# to do the same by hand.

# %%
print(f"evidence: {s.store.path('teardown')}")
print(tables.commands(s.store.result("teardown")))

# %% [markdown]
# ## Next

# %%
s.next_step()
