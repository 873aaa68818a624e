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
# # 04 · Verify the deployment
#
# Measures what the plan claims: every pod Ready (and its restarts), each pod's start phases from its
# conditions, Services with endpoints, HTTP through the ingress (`Host: todo.local`, or a port-forward
# where no ingress answers), a real user path (sign up, one chat turn that adds a task, the task list),
# `/health` latency percentiles, a rolling update with a client looping meanwhile, and a killed backend
# pod's recovery with the data kept. CPU and memory are sampled from the metrics API throughout.
#
# **Why:** each figure feeds a success criterion (pod start < 30 s, health p95 < 500 ms, zero failed
# requests during a rolling update) and is measured here, in this run.

# %% tags=["parameters"]
# Parameters (papermill injects the runner's values after this cell).
run_dir = ""      # outputs/<run-id>; empty: continue the latest run (outputs/LATEST)
params = {}       # type: dict[str, object]  # runbook parameters, e.g. {"provider": "minikube"}; the table below lists this step's
headless = False  # True under papermill: plain-text progress, no widgets

# %%
from IPython.display import Markdown, display

from todo_runbook import session, summaries, tables
from todo_runbook.steps import run_step

s = session.start("verify", run_dir=run_dir, params=params, headless=headless, loose=globals())
display(Markdown(f"run folder: `{s.store.run_dir}`"))
s.parameters()

# %%
s.controls(["health_requests", "rolling_update", "kill_pod"])

# %% [markdown]
# ## Run the checks

# %%
from todo_runbook import verify

target = s.cluster()
about = (f"checking the release in namespace {s.config.namespace}: {s.config.health_requests} health requests, "
         "a rolling update and a pod kill when on, the app in a headless browser (a few minutes)")
with s.progress("verify", about=about) as progress:
    result = run_step(s.store, "verify", verify.verify, target, s.config, progress=progress,
                      browser_dir=s.store.run_dir / "browser", pushed=s.pushed_digests())

# %% [markdown]
# ## Pods and their start phases

# %%
tables.pods(result)

# %%
from todo_runbook import plots

data = s.store.result("verify")
fig = plots.pod_timeline(data["pods"], s.config.max_pod_start_s)

# %% [markdown]
# ## Services and HTTP

# %%
display(tables.services(result))
display(summaries.access(result))
tables.http(result)

# %%
summaries.chat(result)

# %% [markdown]
# ## The chat UI in a real browser, through the ingress
#
# Headless Chromium opened `https://todo.local` (mapped to the ingress's HTTPS address by the browser itself,
# trusting only this run's CA),
# signed up, sent a chat message and waited for the task in the list; one screenshot per step.

# %%
from IPython.display import HTML

from todo_runbook import browser

HTML(browser.report_html(data.get("browser")))

# %% [markdown]
# ## Latency, rolling update, pod kill

# %%
display(summaries.latency(result))
fig = plots.latency(data["latency"], s.config.max_health_p95_ms)

# %% [markdown]
# ## HTTPS at the ingress
#
# The deploy step stored a certificate for the ingress host, signed by a local CA under the cache, as the
# Ingress's `kubernetes.io/tls` Secret. Here the TLS handshake verifies the whole chain and the host name
# against that CA (no "insecure" flag), `/health` is timed over HTTPS, and plain HTTP is checked against what
# the values say (values-dev.yaml: keep serving; elsewhere: redirect to https).

# %%
summaries.https(result)

# %%
summaries.rolling_and_recovery(result)

# %% [markdown]
# ## CPU and memory against requests and limits

# %%
display(summaries.resources(result))
fig = plots.resources(data["resources"])

# %% [markdown]
# ## Success criteria so far

# %%
tables.criteria(s.criteria_so_far())

# %% [markdown]
# ## Evidence
#
# What this step recorded for the report and the later steps, and the commands a person would type
# to do the same by hand.

# %%
print(f"evidence: {s.store.path('verify')}")
print(tables.commands(s.store.result("verify")))

# %% [markdown]
# ## Next

# %%
s.next_step()
