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
# # 01 · Build the images
#
# Builds the backend (FastAPI) and frontend (Next.js) images with the Docker SDK and measures them:
# build time, size, layers, which base images were used and how many build steps came from the cache.
# Each image is then started once (a *smoke run*) to prove the container really serves its health route.
#
# **Why:** the plan's budgets are *frontend image < 500 MB* and *backend image < 300 MB*; a figure only
# counts when it was measured in this run. Offline machines have no registry, so the base images are the
# official ones when present locally and otherwise the honest `todo-runbook/base-*` images built from
# Debian packages.

# %% tags=["parameters"]
# Parameters (papermill injects the runner's values after this cell).
run_dir = ""      # outputs/<run-id>; empty: start a new run
params = {}       # type: dict[str, object]  # runbook parameters, e.g. {"provider": "minikube"}; all: `todo-runbook params`
headless = False  # True under papermill: plain-text progress, no widgets

# %%
from IPython.display import Markdown, display

from todo_runbook import session, tables
from todo_runbook.steps import run_step

s = session.start("build", run_dir=run_dir, params=params, headless=headless, loose=globals())
display(Markdown(f"run folder: `{s.store.run_dir}`"))

# %%
s.controls(["smoke_run", "build_in_minikube"])

# %% [markdown]
# ## Build
#
# The build log streams below (a live widget in JupyterLab, plain lines under papermill).

# %%
from todo_runbook import build

built = run_step(s.store, "build", build.build_images, s.config, progress=s.progress("build"),
                 sbom_dir=s.store.run_dir / "sbom")

# %% [markdown]
# ## Results against the budgets

# %%
budgets = {"backend": s.config.max_backend_image_mb, "frontend": s.config.max_frontend_image_mb}
tables.images(built, budgets)

# %%
from todo_runbook import plots

fig = plots.image_sizes(s.store.result("build"), budgets)

# %% [markdown]
# ## Software bill of materials
#
# One SPDX JSON document per image in the run folder (`sbom/`), written by syft; the packages it lists by
# type and the largest ones. A vulnerability scan runs only with a local database (`vuln_db`).

# %%
display(tables.sboms(built))

# %% [markdown]
# ## Evidence
#
# What this step recorded for the report and the later steps, and the commands a person would type
# to do the same by hand.

# %%
print(f"evidence: {s.store.path('build')}")
print(tables.commands(s.store.result("build")))
