"""`kagent invoke`, for a cluster that runs kagent itself (namespace kagent) when the kagent CLI is on PATH.

The kagent CLI has no --context flag: it reaches its controller with `kubectl port-forward` on the
current context of $KUBECONFIG. So it runs with KUBECONFIG set to a kubeconfig that holds only the
chosen context, as its current context (written into a private temp folder for the call), and can
never ask some other cluster.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import shell
from .errors import CommandTimeoutError, RunbookError
from .kubectl_ai import pinned_kubeconfig


@dataclass
class KagentInvoke:
    command: str  # as a person would type it, the pinned kubeconfig shown as "<context only>"
    outcome: str  # "ok" or "failed: ..."
    output: str
    seconds: float


def invoke_argv(agent: str, task: str) -> list[str]:
    return ["kagent", "invoke", "--agent", agent, "--task", task]


def invoke(kubeconfig: str, context: str, agent: str, task: str, timeout_s: float) -> KagentInvoke:
    argv = invoke_argv(agent, task)
    shown = shell.command_line(argv, {"KUBECONFIG": f"<{context or 'current'} only>"})
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="todo-kagent-") as tmp:
        try:
            pinned = pinned_kubeconfig(kubeconfig, context, Path(tmp))
            res = shell.run(argv, timeout=timeout_s, check=False, env={"KUBECONFIG": str(pinned)})
        except CommandTimeoutError:
            return KagentInvoke(shown, f"failed: no answer within {timeout_s:g} s (raise aiops_timeout_s, or check "
                                       "that kagent's controller answers in namespace kagent)", "",
                                round(time.monotonic() - started, 1))
        except RunbookError as exc:  # no kagent on PATH, or a kubeconfig without that context
            return KagentInvoke(shown, f"failed: {exc.problem} — {exc.remedy}", "",
                                round(time.monotonic() - started, 1))
    output = res.stdout.strip()
    outcome = "ok" if res.ok and output else f"failed: exit {res.returncode}: {res.tail(2)[:200]}"
    return KagentInvoke(shown, outcome, output[:4000], round(time.monotonic() - started, 1))
