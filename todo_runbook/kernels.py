"""Kernels for the headless runner, each started one step ahead.

Every step still runs in a fresh kernel of its own (the notebooks share nothing but the run folder), but the
next step's kernel boots and imports the package while the current step runs: on 2 cores a kernel start plus
those imports costs about 1.4 s, which a step would otherwise wait for. papermill hands a started kernel
manager to nbclient (`km=`), which then neither starts nor stops it; `WarmKernel.close()` does.

The kernel talks over Unix sockets in a private folder instead of TCP on loopback, which any local user could
read (ipykernel warns about it on every start), and writes its own stderr to the step's log, not among the
runbook's console lines.
"""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .errors import ToolMissingError

KERNEL = "python3"
# What every step notebook imports first; imported at kernel start (IPython's exec_lines) and then unbound,
# so the notebook's namespace is what its cells make of it.
WARM_IMPORTS = ("IPython.display", "todo_runbook.session", "todo_runbook.steps", "todo_runbook.tables",
                "todo_runbook.summaries", "todo_runbook.plots")


def unix_socket_config(folder: Path) -> Any:
    """Kernel config: Unix sockets under `folder` (socket paths are <ip>-<port>)."""
    from traitlets.config import Config

    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(folder / "kernel")
    return config


def warm_import_line(modules: tuple[str, ...] = WARM_IMPORTS) -> str:
    roots = sorted({module.split(".")[0] for module in modules})
    return f"import {', '.join(modules)}; del {', '.join(roots)}"


@dataclass
class WarmKernel:
    """A started kernel for one step, with the log its stderr goes to."""

    step: str
    manager: Any  # jupyter_client's AsyncKernelManager: what nbclient drives
    log_path: Path
    log: TextIO
    sockets: tempfile.TemporaryDirectory[str]
    asked_to_stop: bool = False

    def stop(self) -> None:
        """Ask the kernel to exit; it has finished (nbclient waited for every cell) and exits on its own while
        the runner goes on. `close()` collects it."""
        from jupyter_core.utils import run_sync

        self.asked_to_stop = True
        try:
            self._stop_clients()
            run_sync(self.manager.request_shutdown)()
        except Exception as exc:  # close() kills it then; a kernel that will not stop must not fail the step
            print(f"kernel of step {self.step}: shutdown request failed: {exc}", file=self.log, flush=True)

    def _stop_clients(self) -> None:
        for client in getattr(self.manager, "handed_out", []):
            client.stop_channels()
        self.manager.handed_out = []

    def close(self) -> None:
        """Wait for the kernel to exit (killed after 5 s), free its sockets, close the log (and remove it when
        the step never ran: a skipped step has no log)."""
        from jupyter_core.utils import run_sync

        never_ran = not self.asked_to_stop  # an earlier step failed, or the run stopped
        if never_ran:
            self.stop()
        try:
            if run_sync(self.manager.is_alive)():
                run_sync(self.manager.finish_shutdown)(waittime=5)
            run_sync(self.manager.cleanup_resources)()
        except Exception as exc:
            print(f"kernel of step {self.step}: shutdown failed: {exc}", file=self.log, flush=True)
        finally:
            self.log.close()
            self.sockets.cleanup()
            # A kernel stopped while still booting may print boot noise; a step that never ran has no log.
            if never_ran:
                self.log_path.unlink(missing_ok=True)


@functools.cache
def _manager_class() -> type:
    """AsyncKernelManager that remembers the clients it hands out: nbclient stops a client's channels (and
    its heartbeat thread) only for a kernel manager it made itself, so `WarmKernel.stop()` does it here."""
    from jupyter_client.manager import AsyncKernelManager

    class HandingOutKernelManager(AsyncKernelManager):
        handed_out: list[Any]

        def client(self, **kwargs: Any) -> Any:
            made = super().client(**kwargs)
            self.handed_out = [*getattr(self, "handed_out", []), made]
            return made

    return HandingOutKernelManager


def start(step: str, log_path: Path, cwd: Path) -> WarmKernel:
    """Launch the kernel for `step` and return at once: it boots while the caller goes on."""
    from jupyter_client.kernelspec import NoSuchKernel
    from jupyter_core.utils import run_sync

    sockets = tempfile.TemporaryDirectory(prefix="todo-kernel-")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("w")
    manager = _manager_class()(kernel_name=KERNEL, config=unix_socket_config(Path(sockets.name)))
    try:
        run_sync(manager.start_kernel)(cwd=str(cwd), stderr=log, stdout=log,
                                       extra_arguments=[f"--IPKernelApp.exec_lines={warm_import_line()}"])
    except Exception as exc:
        log.close()
        sockets.cleanup()
        if isinstance(exc, NoSuchKernel):
            raise ToolMissingError(f"no Jupyter kernel named '{KERNEL}' for the step notebooks",
                                   "run `make setup` (it installs the kernel into the virtualenv)") from exc
        raise ToolMissingError(f"the Jupyter kernel for step {step} did not start: {type(exc).__name__}: "
                               f"{str(exc)[:300]}", f"see {log_path}; `make setup` reinstalls the kernel") from exc
    return WarmKernel(step, manager, log_path, log, sockets)


class KernelsAhead:
    """One kernel per step, each launched when the step before it starts (the first one at once)."""

    def __init__(self, steps: list[str], log_dir: Path, cwd: Path) -> None:
        self.order = list(steps)
        self.log_dir = log_dir
        self.cwd = cwd
        self.started: dict[str, WarmKernel] = {}
        self.failed: dict[str, ToolMissingError] = {}  # a launch that failed: its step fails with it, not the run
        if self.order:
            self._launch(self.order[0])

    def _launch(self, step: str) -> None:
        if step not in self.started and step not in self.failed:
            try:
                self.started[step] = start(step, self.log_dir / f"{step}.log", self.cwd)
            except ToolMissingError as exc:
                self.failed[step] = exc

    def take(self, step: str) -> WarmKernel:
        """The kernel for `step` (launched now if it was not), and the next step's launched behind it."""
        self._launch(step)
        later = self.order[self.order.index(step) + 1:]
        if later:
            self._launch(later[0])
        if step in self.failed:
            raise self.failed[step]
        return self.started[step]

    def close(self) -> None:
        for kernel in self.started.values():
            kernel.close()
        self.started.clear()
