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
# # 02 · Put the images on the cluster
#
# Picks the cluster and makes the images we just built available to its nodes, without any registry:
# `minikube image load`, `kind load docker-image`, or a containerd import on the offline test bed.
# Images the chart runs besides ours (the in-cluster PostgreSQL of the dev profile) are loaded too.
# With `registry=HOST[:PORT]/PREFIX` they are pushed there instead (digests recorded; what the registry
# already has is not sent again), and the nodes pull them.
#
# **Why:** `imagePullPolicy: IfNotPresent` pods start only if the node already has the image. With
# `build_in_minikube=true` the images were built inside minikube's own Docker daemon and need no load.

# %% tags=["parameters"]
# Parameters (papermill injects the runner's values after this cell).
run_dir = ""      # outputs/<run-id>; empty: continue the latest run (outputs/LATEST)
params = {}       # type: dict[str, object]  # runbook parameters, e.g. {"provider": "minikube"}; the table below lists this step's
headless = False  # True under papermill: plain-text progress, no widgets

# %%
from IPython.display import Markdown, display

from todo_runbook import session, summaries, tables
from todo_runbook.steps import run_step

s = session.start("load", run_dir=run_dir, params=params, headless=headless, loose=globals())
display(Markdown(f"run folder: `{s.store.run_dir}`"))
s.parameters()

# %% [markdown]
# ## Which cluster, and why
#
# `provider=auto` takes the current kube context when it answers, else minikube when it is installed, else the
# offline test bed. A cluster that is not running is started when `start_cluster` is ticked; the test bed's first
# build compiles Kubernetes from source (how long: below), and the cell says so before it begins.

# %%
from todo_runbook.providers.testbed import COLD_BUILD_ESTIMATE

display(Markdown(f"**The offline test bed's first build takes {COLD_BUILD_ESTIMATE}** (a minute once cached). "
                 "With `start_cluster` unticked, the cell below stops and says what to do instead."))

# %%
s.controls(["provider", "start_cluster"])

# %%
target = s.cluster()
summaries.cluster(target)

# %% [markdown]
# ## Load

# %%
from todo_runbook import load

about = "copying each built image onto the cluster's nodes (seconds to a minute each)"
with s.progress("load", about=about) as progress:
    loaded = run_step(s.store, "load", load.load_images, target, s.config, s.release_images(), progress=progress)
tables.loads(loaded)

# %% [markdown]
# ## Evidence
#
# What this step recorded for the report and the later steps, and the commands a person would type
# to do the same by hand.

# %%
print(f"evidence: {s.store.path('load')}")
print(tables.commands(s.store.result("load")))

# %% [markdown]
# ## Next

# %%
s.next_step()
