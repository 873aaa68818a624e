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
params = {}       # type: dict[str, object]  # runbook parameters, e.g. {"provider": "minikube"}; the table below lists this step's
headless = False  # True under papermill: plain-text progress, no widgets

# %%
from IPython.display import Markdown, display

from todo_runbook import session, tables
from todo_runbook.steps import run_step

s = session.start("build", run_dir=run_dir, params=params, headless=headless, loose=globals())
display(Markdown(f"run folder: `{s.store.run_dir}`"))
s.parameters()

# %%
s.controls(["smoke_run", "build_in_minikube"])

# %% [markdown]
# ## Build
#
# Two images, one after the other, each smoke-run when `smoke_run` is on. The first build on a machine takes
# minutes (base images, `pip install`, `npm ci`, `next build`); later ones come from Docker's cache in seconds.
# Below: a progress bar with "image 1 of 2" and the build's own steps, the elapsed time, the newest log
# lines (the whole log is in the run folder), and at the end "done in N s" or what failed.

# %%
from todo_runbook import build

about = ("building 2 images (backend, then frontend) with the Docker engine: minutes the first time on this "
         "machine, seconds when the layers are cached")
with s.progress("build", about=about) as progress:
    built = run_step(s.store, "build", build.build_images, s.config, progress=progress,
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

# %% [markdown]
# ## Next

# %%
s.next_step()
