"""Which base image a build uses: the official one (local, or pulled now) or the offline one, and why.

``bases`` is "auto" (official: already local, else pulled; the offline base when the pull fails),
"official" (pull or fail) or "offline" (the Debian-bootstrapped bases of dockerfiles/bases, no pull
attempt). The pull is bounded in time: with no registry the engine answers at once with an error,
and a registry that never answers costs at most ``pull_timeout_s``. Every choice carries its reason,
so the evidence names each base and whether it was pulled, already local, or built offline.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

try:  # importable both as dockerfiles.base_choice and next to build_args.py
    from dockerfiles.build_args import OFFICIAL_NODE, OFFICIAL_PYTHON, OFFLINE_NODE, OFFLINE_PYTHON
except ImportError:  # pragma: no cover - run as a script: dockerfiles/ itself is on sys.path
    from build_args import OFFICIAL_NODE, OFFICIAL_PYTHON, OFFLINE_NODE, OFFLINE_PYTHON  # type: ignore[no-redef]

OFFICIAL_POSTGRES = "postgres:15-bookworm"
OFFLINE_POSTGRES = "todo-runbook/postgres:15-bookworm"
# base name -> (official image, offline image, the dockerfiles/bases/build_bases.py step that makes it)
BASES = {
    "python": (OFFICIAL_PYTHON, OFFLINE_PYTHON, "python"),
    "node": (OFFICIAL_NODE, OFFLINE_NODE, "node"),
    "postgres": (OFFICIAL_POSTGRES, OFFLINE_POSTGRES, "postgres"),
}
BASE_MODES = ("auto", "official", "offline")
PULL_TIMEOUT_S = 30.0


class BaseChoiceError(RuntimeError):
    """No usable base: the message names the image, what failed and what to do."""


@dataclass(frozen=True)
class BaseChoice:
    name: str  # "python", "node", "postgres"
    image: str  # what the build (or the chart) uses
    source: str  # "local" (official, already in the engine), "pulled", "offline-local", "offline-built"
    reason: str  # why this one: the pull error, "bases=offline", ...
    official: str
    pull_seconds: float | None = None

    @property
    def offline(self) -> bool:
        return self.source.startswith("offline")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def image_present(client: Any, name: str) -> bool:
    import docker

    try:
        client.images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def pull_image(client: Any, name: str, timeout_s: float = PULL_TIMEOUT_S) -> tuple[str | None, float]:
    """(None, seconds) when ``name`` was pulled; (the engine's error, seconds) when not."""
    import time

    outcome: dict[str, str | None] = {"error": "no answer"}
    repository, _, tag = name.rpartition(":") if ":" in name.split("/")[-1] else (name, "", "latest")

    def attempt() -> None:
        try:
            for chunk in client.api.pull(repository, tag=tag, stream=True, decode=True):
                if isinstance(chunk, dict) and chunk.get("error"):
                    outcome["error"] = str(chunk["error"]).strip()
                    return
            outcome["error"] = None
        except Exception as exc:  # the engine's answer, whatever its type, is the reason we report
            outcome["error"] = f"{exc.__class__.__name__}: {str(exc).strip()[:300]}"

    started = time.monotonic()
    worker = threading.Thread(target=attempt, name=f"pull-{name}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    seconds = round(time.monotonic() - started, 2)
    if worker.is_alive():
        return f"no answer from the registry within {timeout_s:.0f} s", seconds
    if outcome["error"] is None and not image_present(client, name):
        return "the engine reported the pull done but the image is not there", seconds
    return outcome["error"], seconds


def choose_base(client: Any, name: str, bases: str = "auto", *, ensure_offline: Callable[[str], None] | None = None,
                pull_timeout_s: float = PULL_TIMEOUT_S) -> BaseChoice:
    """The base to use for ``name`` ("python", "node" or "postgres") under ``bases``.

    ``ensure_offline(step)`` builds a missing offline base (dockerfiles/bases/build_bases.py --only step);
    without it a missing offline base is an error.
    """
    if bases not in BASE_MODES:
        raise BaseChoiceError(f"bases={bases!r} is not one of {', '.join(BASE_MODES)}; pass bases=auto, "
                              "bases=official or bases=offline")
    official, offline, step = BASES[name]
    pulled_seconds = None
    if bases == "offline":
        reason = "asked for the offline bases (bases=offline): no pull attempted"
    elif image_present(client, official):
        return BaseChoice(name, official, "local", "the official image is already in the engine", official)
    else:
        error, pulled_seconds = pull_image(client, official, pull_timeout_s)
        if error is None:
            return BaseChoice(name, official, "pulled", f"pulled in {pulled_seconds:.1f} s", official, pulled_seconds)
        if bases == "official":
            raise BaseChoiceError(f"pulling {official} failed ({error}); bases=official allows no fallback: "
                                  "make the registry reachable (or log in), or pass bases=auto / bases=offline")
        reason = f"pulling {official} failed after {pulled_seconds:.1f} s: {error}"
    if image_present(client, offline):
        return BaseChoice(name, offline, "offline-local", reason, official, pulled_seconds)
    if ensure_offline is None:
        raise BaseChoiceError(f"{offline} is not in the engine ({reason}); build it with "
                              f"python3 dockerfiles/bases/build_bases.py --only {step}")
    ensure_offline(step)
    return BaseChoice(name, offline, "offline-built", reason, official, pulled_seconds)
