"""Build the app images with the Docker SDK and measure them (used by tests/images and the runbook).

- :func:`build_image` runs the low-level ``api.build`` (the classic builder, as on Debian's docker.io
  20.10), streams the log, and returns a :class:`BuildResult`: image id, seconds, the steps and which
  of them came from the cache ("Using cache"), plus the plan (bases used, build args without secrets).
- :func:`image_facts` reports size, layer count, user, labels of an image.
- :func:`start_to_ready` starts a container and measures the seconds until an HTTP probe answers 200.

Figures come from the engine in the run that reports them; nothing here is typed in.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

try:  # importable both as dockerfiles.image_build and next to build_args.py
    from dockerfiles.build_args import ImageBuildPlan, build_plan
except ImportError:  # pragma: no cover - when dockerfiles/ itself is on sys.path
    from build_args import ImageBuildPlan, build_plan  # type: ignore[no-redef]

STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


class ImageBuildError(RuntimeError):
    """A build failed; the message carries the builder's error and the last log lines."""


@dataclass
class BuildStep:
    number: int
    instruction: str
    cached: bool = False


@dataclass
class BuildResult:
    tag: str
    image_id: str
    seconds: float
    steps: list[BuildStep]
    log: list[str] = field(repr=False)
    plan: ImageBuildPlan = field(repr=False)

    @property
    def cached_steps(self) -> list[BuildStep]:
        return [step for step in self.steps if step.cached]

    def step_cached(self, instruction_fragment: str, occurrence: int = 0) -> bool:
        """Whether the ``occurrence``-th step whose instruction contains the fragment came from the cache."""
        matching = [step for step in self.steps if instruction_fragment in step.instruction]
        if len(matching) <= occurrence:
            raise KeyError(f"no build step contains {instruction_fragment!r} (steps: {[s.instruction for s in self.steps]})")
        return matching[occurrence].cached

    def summary(self) -> dict[str, Any]:
        return {
            "tag": self.tag, "image_id": self.image_id, "seconds": round(self.seconds, 1),
            "steps": len(self.steps), "cached_steps": len(self.cached_steps),
            "base_image": self.plan.base_image, "base_source": self.plan.base_source,
            "buildargs": {k: v for k, v in self.plan.public_buildargs().items()},
            "command": self.plan.shell_command(self.tag),
        }


def parse_build_log(lines: Iterable[str]) -> list[BuildStep]:
    """Steps of a classic-builder log; a step is cached when ' ---> Using cache' follows it."""
    steps: list[BuildStep] = []
    for line in lines:
        match = STEP_RE.match(line.strip())
        if match:
            steps.append(BuildStep(int(match.group(1)), match.group(3)))
        elif "Using cache" in line and steps:
            steps[-1].cached = True
    return steps


def build_image(client: Any, image: str, tag: str, *, prefer_bases: str = "auto", nocache: bool = False,
                network_mode: str | None = None, extra_args: Mapping[str, str] | None = None,
                on_line: Callable[[str], None] | None = None, timeout: int = 3600) -> BuildResult:
    """Build ``image`` ("backend" or "frontend") as ``tag`` with the build args this machine needs."""
    plan = build_plan(image, prefer_bases=prefer_bases)
    buildargs = {**plan.buildargs, **(extra_args or {})}
    log: list[str] = []
    image_id = ""
    started = time.monotonic()
    client.api.timeout = max(int(getattr(client.api, "timeout", 60) or 60), timeout)
    stream = client.api.build(
        path=str(plan.context), dockerfile=str(plan.dockerfile), tag=tag, buildargs=buildargs,
        nocache=nocache, rm=True, forcerm=True, pull=False, decode=True, network_mode=network_mode,
    )
    for chunk in stream:
        if "error" in chunk:
            tail = "".join(log[-25:])
            raise ImageBuildError(f"building {tag} from {plan.dockerfile.name} failed: {chunk['error'].strip()}\n{tail}")
        text = chunk.get("stream")
        if text:
            log.append(text)
            if on_line:
                on_line(text.rstrip("\n"))
        aux = chunk.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            image_id = aux["ID"]
    seconds = time.monotonic() - started
    if not image_id:
        image_id = client.images.get(tag).id
    lines = "".join(log).splitlines()
    return BuildResult(tag, image_id, seconds, parse_build_log(lines), lines, plan)


@dataclass
class ImageFacts:
    tag: str
    image_id: str
    size_mb: float
    layers: int
    user: str
    labels: dict[str, str]
    entrypoint: list[str]
    healthcheck: list[str]


def image_facts(client: Any, tag: str) -> ImageFacts:
    attrs = client.images.get(tag).attrs
    config = attrs.get("Config") or {}
    return ImageFacts(
        tag=tag,
        image_id=attrs["Id"],
        size_mb=round(attrs["Size"] / 1_000_000, 1),
        layers=len(attrs.get("RootFS", {}).get("Layers", [])),
        user=config.get("User") or "",
        labels=dict(config.get("Labels") or {}),
        entrypoint=list(config.get("Entrypoint") or []),
        healthcheck=list((config.get("Healthcheck") or {}).get("Test") or []),
    )


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError, TimeoutError):
        return None


def container_ip(container: Any) -> str:
    container.reload()
    networks = container.attrs["NetworkSettings"]["Networks"]
    for network in networks.values():
        if network.get("IPAddress"):
            return str(network["IPAddress"])
    raise ImageBuildError(f"container {container.name} has no IP address on networks {list(networks)}")


def wait_for_http(container: Any, port: int, path: str, timeout: float = 60.0, expect: int = 200) -> float:
    """Seconds until ``http://<container ip>:port/path`` answers ``expect``; raises with the logs when it never does."""
    started = time.monotonic()
    url = ""
    while time.monotonic() - started < timeout:
        container.reload()
        if container.status in ("exited", "dead"):
            logs = container.logs(tail=40).decode(errors="replace")
            raise ImageBuildError(f"container {container.name} exited ({container.attrs['State'].get('ExitCode')}):\n{logs}")
        if not url:
            try:
                url = f"http://{container_ip(container)}:{port}{path}"
            except ImageBuildError:
                time.sleep(0.1)
                continue
        if http_status(url) == expect:
            return time.monotonic() - started
        time.sleep(0.1)
    logs = container.logs(tail=40).decode(errors="replace")
    raise ImageBuildError(f"{url or path} did not answer {expect} within {timeout:.0f} s; container logs:\n{logs}")


def start_to_ready(client: Any, tag: str, env: Mapping[str, str], port: int, path: str,
                   timeout: float = 60.0, **run_kwargs: Any) -> tuple[Any, float]:
    """Start ``tag`` detached and return (container, seconds from `docker run` until ``path`` answers 200).

    The caller removes the container. The clock starts before the create call, as a user's `docker run` would.
    """
    started = time.monotonic()
    container = client.containers.run(tag, detach=True, environment=dict(env), **run_kwargs)
    waited = wait_for_http(container, port, path, timeout)
    del waited
    return container, time.monotonic() - started
