"""syft, the SBOM tool: where the runbook finds it, and how it builds the pinned version from Go modules.

The runbook uses the syft on PATH, else the pinned build cached under $TODO_RUNBOOK_CACHE/clis/syft-<version>/.
When neither is there and Go is, the build step starts compiling it in the background (about 8 min once on
2 cores) while the images build, and the SBOM part waits for it: a default run makes SBOMs on a fresh
machine too. Without Go the SBOMs are "not generated", with the command that installs syft.

Run by hand: ``python -m todo_runbook.syft_tool`` builds (or finds) it and prints its path.
"""

from __future__ import annotations

import fcntl
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from . import shell
from .config import REPO_ROOT, cache_root
from .errors import RunbookError
from .progress import Progress

SYFT_VERSION = "v1.57.2"
SYFT_PACKAGE = "github.com/anchore/syft/cmd/syft"


def syft_dir() -> Path:
    return cache_root() / "clis" / f"syft-{SYFT_VERSION}"


def build_log() -> Path:
    return cache_root() / "build" / f"syft-{SYFT_VERSION}.log"


def install_argv() -> list[str]:
    return ["go", "install", "-trimpath", "-ldflags=-s -w", f"{SYFT_PACKAGE}@{SYFT_VERSION}"]


def install_command() -> str:
    return f"GOBIN={shlex.quote(str(syft_dir()))} {shlex.join(install_argv())}"


def find_syft() -> Path | None:
    """syft on PATH, else the pinned build in the cache."""
    on_path = shell.which("syft")
    if on_path:
        return Path(on_path)
    cached = syft_dir() / "syft"
    return cached if cached.is_file() else None


def can_build() -> bool:
    return shell.which("go") is not None


def _lock_path() -> Path:
    return syft_dir().with_name(f".{syft_dir().name}.lock")


def install_syft(timeout: float = 3600) -> Path:
    """Build the pinned syft into the cache once; a second call reuses it. A build already running (the
    background one, or `make test`'s prebuild) holds the lock: this waits for it instead of compiling twice."""
    binary = syft_dir() / "syft"
    if binary.is_file():
        return binary
    binary.parent.parent.mkdir(parents=True, exist_ok=True)
    with _lock_path().open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.is_file():
            return binary
        return _build_syft(binary, timeout)


def _build_syft(binary: Path, timeout: float) -> Path:
    go = shell.which("go")
    if not go:
        raise RunbookError("no Go toolchain to build syft", f"install Go 1.24+ then run: {install_command()}")
    partial = syft_dir().with_name(syft_dir().name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    # nice: the build shares two cores with whatever else runs here.
    shell.run(["nice", "-n", "10", go, *install_argv()[1:]], env={"GOBIN": str(partial)}, timeout=timeout,
              hint=f"read the Go error above; the same by hand: {install_command()}")
    binary.parent.mkdir(parents=True, exist_ok=True)
    (partial / "syft").replace(binary)
    shutil.rmtree(partial, ignore_errors=True)
    return binary


def build_in_background(progress: Progress = lambda _: None) -> Path | None:
    """No syft here but Go is: start building it in a detached process (it holds the build lock, so
    `install_syft` waits for it). Returns its log, or None when there is nothing to build or no Go."""
    if find_syft() is not None or not can_build():
        return None
    log = build_log()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        subprocess.Popen([sys.executable, "-m", "todo_runbook.syft_tool"], cwd=REPO_ROOT, stdout=out,
                         stderr=subprocess.STDOUT, start_new_session=True)
    progress(f"syft {SYFT_VERSION} is not installed: building it from Go modules in the background "
             f"(about 8 min once; log {log}) while the images build")
    return log


def main() -> int:
    try:
        print(install_syft(), flush=True)
    except RunbookError as exc:
        print(f"{exc.problem}\n{exc.remedy}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
