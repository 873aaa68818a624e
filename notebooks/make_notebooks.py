#!/usr/bin/env python3
"""Writes notebooks/01-build.ipynb ... 06-teardown.ipynb (without outputs) from the cells below.

Edit here, then run `python notebooks/make_notebooks.py`; tests/unit/test_notebooks.py checks that
the committed notebooks match this script, carry a `parameters` cell and no outputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

PARAMETERS = '''# Parameters (papermill injects the runner's values after this cell).
run_dir = ""      # outputs/<run-id>; empty: {run_dir_help}
params = {{}}       # runbook parameters, e.g. {{"provider": "minikube"}} (list: `todo-runbook params`)
headless = False  # True under papermill: plain-text progress, no widgets'''

SETUP = '''from IPython.display import Markdown, display

from todo_runbook import session, tables
from todo_runbook.steps import run_step

s = session.start("{step}", run_dir=run_dir, params=params, headless=headless)
display(Markdown(f"run folder: `{{s.store.run_dir}}`"))'''

EVIDENCE = '''print(f"evidence: {{s.store.path('{step}')}}")
print(tables.commands(s.store.result("{step}")))'''

CRITERIA_SO_FAR = '''from todo_runbook import criteria

steps_so_far = [step for step in ("build", "load", "deploy", "verify", "aiops", "teardown") if s.store.has(step)]
table = criteria.evaluate(s.config, s.store.all(), steps_so_far)
tables.criteria(table)'''


def notebook(step: str, title: str, intro: str, cells: list[tuple[str, str]],
             first: bool = False) -> nbformat.NotebookNode:
    run_dir_help = "start a new run" if first else "continue the latest run (outputs/LATEST)"
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (todo-runbook)", "language": "python"},
        "language_info": {"name": "python"},
    }
    nb.cells = [
        new_markdown_cell(f"# {title}\n\n{intro}"),
        new_code_cell(PARAMETERS.format(run_dir_help=run_dir_help), metadata={"tags": ["parameters"]}),
        new_code_cell(SETUP.format(step=step)),
    ]
    for kind, text in cells:
        nb.cells.append(new_markdown_cell(text) if kind == "md" else new_code_cell(text))
    nb.cells.append(new_markdown_cell("## Evidence\n\nWhat this step recorded for the report and the later steps, "
                                      "and the commands a person would type to do the same by hand."))
    nb.cells.append(new_code_cell(EVIDENCE.format(step=step)))
    for index, cell in enumerate(nb.cells):  # stable ids: regenerating gives the same file
        cell.id = f"{step}-{index:02d}"
    return nb


NOTEBOOKS = {
    "01-build.ipynb": notebook("build", "01 · Build the images", """\
Builds the backend (FastAPI) and frontend (Next.js) images with the Docker SDK and measures them:
build time, size, layers, which base images were used and how many build steps came from the cache.
Each image is then started once (a *smoke run*) to prove the container really serves its health route.

**Why:** the plan's budgets are *frontend image < 500 MB* and *backend image < 300 MB*; a figure only
counts when it was measured in this run. Offline machines have no registry, so the base images are the
official ones when present locally and otherwise the honest `todo-runbook/base-*` images built from
Debian packages.""", [
        ("code", 's.controls(["smoke_run", "build_in_minikube"])'),
        ("md", "## Build\n\nThe build log streams below (a live widget in JupyterLab, plain lines under papermill)."),
        ("code", '''from todo_runbook import images

build = run_step(s.store, "build", images.build_images, s.config, progress=s.progress("build"))'''),
        ("md", "## Results against the budgets"),
        ("code", '''budgets = {"backend": s.config.max_backend_image_mb, "frontend": s.config.max_frontend_image_mb}
tables.images(build, budgets)'''),
        ("code", '''from todo_runbook import plots

fig = plots.image_sizes(s.store.result("build"), budgets)'''),
    ], first=True),
    "02-load.ipynb": notebook("load", "02 · Put the images on the cluster", """\
Picks the cluster and makes the images we just built available to its nodes, without any registry:
`minikube image load`, `kind load docker-image`, or a containerd import on the offline test bed.
Images the chart runs besides ours (the in-cluster PostgreSQL of the dev profile) are loaded too.

**Why:** `imagePullPolicy: IfNotPresent` pods start only if the node already has the image. With
`build_in_minikube=true` the images were built inside minikube's own Docker daemon and need no load.""", [
        ("md", "## Which cluster, and why"),
        ("code", '''target = s.cluster()
display(Markdown(f"**{target.provider}** (context `{target.context}`, {target.server_version}): {target.reason}"))'''),
        ("md", "## Load"),
        ("code", '''from todo_runbook import load

loaded = run_step(s.store, "load", load.load_images, target, s.config, s.built_images(), progress=s.progress("load"))
tables.loads(loaded)'''),
    ]),
    "03-deploy.ipynb": notebook("deploy", "03 · Deploy with Helm", """\
Installs (or upgrades) the release with `helm upgrade --install --wait`, using the chart's values for
the chosen profile (`values-dev.yaml` or `values-prod.yaml`) and the image tags recorded by 01-build.

**Why:** one idempotent command that waits until every Deployment is available; its wall time is the
plan's *deployment < 2 minutes* criterion. Secrets are generated by the chart inside the cluster or passed
through a private temporary values file; the rendered values below are shown with secrets masked.""", [
        ("code", 's.controls(["profile", "backend_replicas", "frontend_replicas"])'),
        ("md", "## Install or upgrade"),
        ("code", '''from todo_runbook import deploy

target = s.cluster()
release = run_step(s.store, "deploy", deploy.install, target, s.config, s.built_images())
display(Markdown(f"release `{release.release}` revision **{release.revision}** ({release.status}) in "
                 f"**{release.seconds:.1f} s** (budget {s.config.max_deploy_s:g} s)"))'''),
        ("md", "## Rendered values (secrets masked)"),
        ("code", '''import yaml

print(yaml.safe_dump(release.values, sort_keys=False))'''),
    ]),
    "04-verify.ipynb": notebook("verify", "04 · Verify the deployment", """\
Measures what the plan claims: every pod Ready (and its restarts), each pod's start phases from its
conditions, Services with endpoints, HTTP through the ingress (`Host: todo.local`, or a port-forward
where no ingress answers), a real user path (sign up, one chat turn that adds a task, the task list),
`/health` latency percentiles, a rolling update with a client looping meanwhile, and a killed backend
pod's recovery with the data kept. CPU and memory are sampled from the metrics API throughout.

**Why:** each figure feeds a success criterion (pod start < 30 s, health p95 < 500 ms, zero failed
requests during a rolling update) and is measured here, in this run.""", [
        ("code", 's.controls(["health_requests", "rolling_update", "kill_pod"])'),
        ("md", "## Run the checks"),
        ("code", '''from todo_runbook import verify

target = s.cluster()
result = run_step(s.store, "verify", verify.verify, target, s.config, progress=s.progress("verify"))'''),
        ("md", "## Pods and their start phases"),
        ("code", "tables.pods(result)"),
        ("code", '''from todo_runbook import plots

data = s.store.result("verify")
fig = plots.pod_timeline(data["pods"], s.config.max_pod_start_s)'''),
        ("md", "## Services and HTTP"),
        ("code", '''display(tables.services(result))
display(Markdown(f"access: **{result.access}** ({result.access_note})"))
tables.http(result)'''),
        ("code", '''chat = result.chat
display(Markdown(f"chat “{chat.prompt}” → task added: **{chat.task_added}**, tools: {chat.tool_calls}, "
                 f"reply: “{chat.reply}”"))'''),
        ("md", "## Latency, rolling update, pod kill"),
        ("code", '''lat = result.latency
display(Markdown(f"{lat.count} × GET {lat.path}: p50 {lat.p50_ms} ms, p95 **{lat.p95_ms} ms**, p99 {lat.p99_ms} ms, "
                 f"{lat.failures} failed"))
fig = plots.latency(data["latency"], s.config.max_health_p95_ms)'''),
        ("code", '''rolling, recovery = result.rolling, result.recovery
display(Markdown(f"rolling update: **{rolling.failed}** failed of {rolling.requests} requests; "
                 f"pod kill: replacement Ready after **{recovery.seconds} s**, "
                 f"data kept: **{recovery.data_kept}**"))'''),
        ("md", "## CPU and memory against requests and limits"),
        ("code", '''display(Markdown(f"metrics: {result.resources.detail}"))
fig = plots.resources(data["resources"])'''),
        ("md", "## Success criteria so far"),
        ("code", CRITERIA_SO_FAR),
    ]),
    "05-aiops.ipynb": notebook("aiops", "05 · AIOps", """\
Natural-language operations that really run against the deployed release. kagent's own agent runtime
(`kagent-adk`, in its own cached virtualenv) starts on loopback and is asked the plan's prompts over A2A
`message/send`; it reaches the cluster only through a read-only kubectl MCP server bound to the chosen
kubeconfig and context. Its model is the **offline operations model** (deterministic rules, *not an LLM*,
labelled so in every transcript) unless `aiops_llm_provider`/`aiops_model`/`aiops_llm_base_url` name a real
one (keys only from the environment). kubectl-ai answers its prompts where it is on PATH; elsewhere the same
prompts go to the kagent runtime. Gordon (`docker ai`) runs where Docker Desktop provides it; hadolint and
the layer tables stand beside it. Prompts that change the cluster run only with `aiops_allow_mutating=true`,
are verified through the API and the release is restored afterwards.

Then broken workloads are injected into a scratch namespace (pull error, crash loop, unschedulable,
failing readiness probe, Service without endpoints), the agent is asked why, the built-in diagnosis names
each cause with its remedy, and the namespace is removed (and proven gone).""", [
        ("code", 's.controls(["aiops_allow_mutating"])'),
        ("code", '''from todo_runbook import aiops

images = s.built_images() if s.store.has("build") else {}
ai = run_step(s.store, "aiops", aiops.run_aiops, s.cluster(), s.config, s.store.run_dir / "aiops", images)
tables.ai_runs(ai)'''),
        ("md", "## Injected faults and the built-in diagnosis"),
        ("code", '''from todo_runbook import aiops_view

aiops_view.show(ai)'''),
    ]),
    "06-teardown.ipynb": notebook("teardown", "06 · Teardown", """\
Removes the release (`helm uninstall --wait`), deletes its namespace and waits until it is gone,
optionally removes the images and stops the cluster, and then proves that nothing of the release is
left: no helm release, no labelled objects, no namespace, no bound volumes.

**Why:** a runbook that can be run again and again must clean up after itself, and say so with evidence.""",
                                  [
        ("code", 's.controls(["remove_images", "stop_cluster"])'),
        ("code", '''from todo_runbook import teardown

target = s.cluster()
images = list(s.built_images().values()) if s.store.has("build") else []
gone = run_step(s.store, "teardown", teardown.teardown, target, s.config, images)
display(Markdown(f"nothing left: **{gone.nothing_left}** {gone.leftovers or ''} ({gone.seconds:.1f} s)"))'''),
        ("md", "## Success criteria of this run"),
        ("code", CRITERIA_SO_FAR),
    ]),
}


def main(check: bool = False) -> int:
    stale = []
    for name, nb in NOTEBOOKS.items():
        path = HERE / name
        text = nbformat.writes(nb) + "\n"
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)}; run python notebooks/make_notebooks.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv))
