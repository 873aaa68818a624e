"""Errors the runbook raises. Each message says what is wrong and what to do about it."""

from __future__ import annotations

from collections.abc import Sequence


class RunbookError(Exception):
    """Base class: `problem` says what is wrong, `remedy` what to do about it (on the command line).

    `reasons` is the chain that led here (e.g. why auto-detection chose this provider); `in_notebook` is the
    remedy phrased for a person in JupyterLab (which control or parameter to change, which notebook to run).
    """

    kind = "runbook error"

    def __init__(self, problem: str, remedy: str = "", *, reasons: Sequence[str] = (), in_notebook: str = "") -> None:
        self.problem = problem
        self.remedy = remedy
        self.reasons = list(reasons)
        self.in_notebook = in_notebook
        super().__init__(self.__str__())

    def __str__(self) -> str:
        lines = [self.problem, *(f"  because: {reason}" for reason in self.reasons)]
        if self.remedy:
            lines.append(f"  what to do: {self.remedy}")
        return "\n".join(lines)

    def explained(self, reasons: Sequence[str], in_notebook: str = "") -> RunbookError:
        """The same error with the reasons that led to it (and a notebook remedy) added; returns self."""
        self.reasons = [*reasons, *self.reasons]
        self.in_notebook = self.in_notebook or in_notebook
        self.args = (self.__str__(),)
        return self

    def as_dict(self) -> dict[str, str]:
        out = {"type": type(self).__name__, "kind": self.kind, "problem": self.problem, "remedy": self.remedy}
        if self.reasons:
            out["because"] = "; ".join(self.reasons)
        return out


class ConfigError(RunbookError):
    kind = "bad parameter"


class ToolMissingError(RunbookError):
    kind = "tool missing"


class ClusterUnreachableError(RunbookError):
    kind = "cluster unreachable"


class DockerUnavailableError(RunbookError):
    kind = "docker engine unavailable"


class CommandFailedError(RunbookError):
    kind = "command failed"


class CommandTimeoutError(CommandFailedError):
    kind = "command timed out"


class ImageBuildError(RunbookError):
    kind = "image build failed"


class EvidenceMissingError(RunbookError):
    kind = "evidence missing"


class StepFailedError(RunbookError):
    kind = "step failed"


def error_dict(exc: BaseException) -> dict[str, str]:
    """Any exception as the evidence records it (RunbookErrors keep their remedy)."""
    if isinstance(exc, RunbookError):
        return exc.as_dict()
    return {"type": type(exc).__name__, "kind": "unexpected error", "problem": str(exc)[:2000],
            "remedy": "read the traceback in the step's notebook (outputs/<run-id>/<step>.html)"}


# What to do when one of the runbook's own tools is missing (a provider's CLIs: its module's install_hint).
INSTALL_HINTS = {
    "docker": "start a Docker engine: `make engine` (Debian's dockerd on demand), Docker Desktop, or "
              "`sudo systemctl start docker`",
    "helm": "`make tools` builds the pinned helm into $TODO_RUNBOOK_CACHE/bin; or see https://helm.sh/docs/intro/install/",
    "kubectl": "`make tools` builds it into $TODO_RUNBOOK_CACHE/bin; or https://kubernetes.io/docs/tasks/tools/",
    "kubectl-ai": "https://github.com/GoogleCloudPlatform/kubectl-ai (needs GEMINI_API_KEY or OPENAI_API_KEY)",
    "kagent": "https://kagent.dev/docs/kagent/getting-started/quickstart (CLI plus `kagent install` in the cluster)",
    "docker-ai": "Docker Desktop 4.38+ with Ask Gordon enabled (Settings > Beta features)",
}
