"""The runbook's steps, in order: the one list every other part reads (runner, CLI, report, notebooks, docs).

Each `Step` names its notebook, the function it runs and whether it needs a cluster; the criteria it
measures come from `criteria.SPECS`. `run_step` calls a step function and records its evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from . import aiops, build, deploy, load, teardown, verify
from .criteria import SPECS
from .errors import StepFailedError, error_dict
from .evidence import EvidenceStore

T = TypeVar("T")


@dataclass(frozen=True)
class Step:
    name: str
    notebook: str  # under notebooks/; papermill runs it
    function: Callable[..., Any]  # what the notebook calls through run_step
    needs_cluster: bool
    tools: tuple[str, ...]  # CLIs preflight checks before the run
    uses_provider_cli: bool = False  # also needs the provider's CLI (minikube, kind) to load, deploy or clean up
    purpose: str = ""  # what its notebook does, for the link at the end of the notebook before it
    parameters: tuple[str, ...] = ()  # the parameters its notebook reads: the table at the notebook's top

    @property
    def module(self) -> str:
        return self.function.__module__

    @property
    def evidence(self) -> str:
        """Where the step's typed result lands, relative to the run folder."""
        return f"evidence/{self.name}.json"

    @property
    def criteria(self) -> tuple[str, ...]:
        """Keys of the success criteria measured from this step's evidence."""
        return tuple(spec.key for spec in SPECS if spec.step == self.name)


STEPS: tuple[Step, ...] = (
    Step("build", "01-build.ipynb", build.build_images, needs_cluster=False, tools=("docker",),
         purpose="builds the backend and frontend images and measures them against their budgets",
         parameters=("smoke_run", "build_in_minikube", "bases", "base_python", "base_node", "backend_image",
                     "frontend_image", "image_tag", "build_timeout_s", "max_backend_image_mb",
                     "max_frontend_image_mb")),
    Step("load", "02-load.ipynb", load.load_images, needs_cluster=True, tools=("docker", "kubectl"),
         uses_provider_cli=True,
         purpose="picks the cluster (and says why) and puts the built images on its nodes, without a registry",
         parameters=("provider", "start_cluster", "kube_context", "kubeconfig", "minikube_profile", "kind_cluster",
                     "build_in_minikube")),
    Step("deploy", "03-deploy.ipynb", deploy.install, needs_cluster=True, tools=("helm", "kubectl"),
         uses_provider_cli=True,
         purpose="checks that the release fits the cluster, then installs it with Helm and times it",
         parameters=("profile", "backend_replicas", "frontend_replicas", "release", "namespace", "values_files",
                     "ingress_host", "deploy_timeout_s", "max_deploy_s")),
    Step("verify", "04-verify.ipynb", verify.verify, needs_cluster=True, tools=("helm", "kubectl"),
         purpose="measures pods, Services, HTTP through the ingress, latency, a rolling update and a pod kill",
         parameters=("health_requests", "rolling_update", "kill_pod", "metrics_interval_s", "backend_replicas",
                     "frontend_replicas", "max_pod_start_s", "max_health_p95_ms", "max_failed_requests_rolling",
                     "max_recovery_s")),
    Step("aiops", "05-aiops.ipynb", aiops.run_aiops, needs_cluster=True, tools=("kubectl",),
         purpose="asks the AI operations tools about the release and diagnoses injected faults",
         parameters=("aiops_allow_mutating", "aiops_tools", "aiops_timeout_s", "aiops_llm_provider", "aiops_model",
                     "aiops_llm_base_url", "kagent_agent")),
    Step("teardown", "06-teardown.ipynb", teardown.teardown, needs_cluster=True, tools=("helm", "kubectl"),
         uses_provider_cli=True, purpose="removes the release and proves that nothing of it is left",
         parameters=("remove_images", "stop_cluster", "teardown_on_failure", "release", "namespace")),
)
BY_NAME = {step.name: step for step in STEPS}


def names() -> list[str]:
    """Step names in runbook order."""
    return [step.name for step in STEPS]


def cluster_steps() -> set[str]:
    return {step.name for step in STEPS if step.needs_cluster}


def architecture_table() -> str:
    """The Markdown table docs/architecture.md carries (a unit test keeps the two equal)."""
    rows = ["| step | notebook | module | function | evidence file | criteria |",
            "| --- | --- | --- | --- | --- | --- |"]
    for step in STEPS:
        module = step.module.replace(".", "/") + ".py"
        measured = ", ".join(f"`{key}`" for key in step.criteria) or "none (recorded, not scored)"
        rows.append(f"| {step.name} | `notebooks/{step.notebook}` | `{module}` | `{step.function.__name__}` | "
                    f"`{step.evidence}` | {measured} |")
    return "\n".join(rows)


def run_step(store: EvidenceStore, step: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call `fn`; record its result as evidence/<step>.json with status ok or failed; re-raise failures.

    A result with a non-empty `error` attribute (a step that kept partial measurements) counts as failed.
    """
    try:
        result = fn(*args, **kwargs)
    except Exception as exc:
        store.record(step, {}, status="failed", error=error_dict(exc))
        raise
    error = getattr(result, "error", None)
    # A result may say it did nothing (every tool skipped): that is recorded, not called `ok`.
    status = "failed" if error else getattr(result, "step_status", "ok")
    store.record(step, result, status=status, error=error)
    if error:
        raise StepFailedError(f"step '{step}' failed: {error.get('problem')}", error.get("remedy", ""))
    return result
