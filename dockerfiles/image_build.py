"""Build the app images with the Docker SDK and measure them (used by tests/images and the runbook).

- :func:`build_image` runs the low-level ``api.build`` (the classic builder, as on Debian's docker.io
  20.10), streams the log, and returns a :class:`BuiltImage`: image id, seconds, the steps and which
  of them came from the cache ("Using cache"), plus the plan (bases used, build args without secrets).
- :func:`image_facts` reports size, layer count, user, labels of an image.
- :func:`start_to_ready` starts a container and measures the seconds until an HTTP probe answers 200.

Figures come from the engine in the run that reports them; nothing here is typed in.
"""

from __future__ import annotations

import dataclasses
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:  # importable both as dockerfiles.image_build and next to build_args.py
    from dockerfiles.base_choice import BaseChoice, choose_base
    from dockerfiles.build_args import REPO_ROOT, ImageBuildPlan, backend_app_args, build_plan
except ImportError:  # pragma: no cover - run as a script: dockerfiles/ itself is on sys.path
    from base_choice import BaseChoice, choose_base  # type: ignore[no-redef]
    from build_args import REPO_ROOT, ImageBuildPlan, backend_app_args, build_plan  # type: ignore[no-redef]

STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


class DockerImageError(RuntimeError):
    """A build failed, or a container from the image did not come up; the message carries the builder's error
    and the last log lines, or the container's logs."""


@dataclass
class BuildStep:
    number: int
    instruction: str
    cached: bool = False


@dataclass
class BuiltImage:
    tag: str
    image_id: str
    seconds: float
    steps: list[BuildStep]
    log: list[str] = field(repr=False)
    plan: ImageBuildPlan = field(repr=False)
    base_choice: BaseChoice | None = None  # set when the build chose its base with ``bases=``

    @property
    def cached_steps(self) -> list[BuildStep]:
        return [step for step in self.steps if step.cached]

    def step_cached(self, instruction_fragment: str, occurrence: int = 0) -> bool:
        """Whether the ``occurrence``-th step whose instruction contains the fragment came from the cache."""
        matching = [step for step in self.steps if instruction_fragment in step.instruction]
        if len(matching) <= occurrence:
            known = [s.instruction for s in self.steps]
            raise KeyError(f"no build step contains {instruction_fragment!r} (steps: {known})")
        return matching[occurrence].cached

    def summary(self) -> dict[str, Any]:
        return {
            "tag": self.tag, "image_id": self.image_id, "seconds": round(self.seconds, 1),
            "steps": len(self.steps), "cached_steps": len(self.cached_steps),
            "base_image": self.plan.base_image, "base_source": self.plan.base_source,
            "buildargs": self.plan.public_buildargs(),
            "command": self.plan.shell_command(self.tag),
            "base_choice": self.base_choice.as_dict() if self.base_choice else None,
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
                on_line: Callable[[str], None] | None = None, timeout: int = 3600,
                context: Path | None = None, bases: str | None = None) -> BuiltImage:
    """Build ``image`` ("backend" or "frontend") as ``tag`` with the build args this machine needs.

    ``context`` replaces apps/<image> (e.g. a changed copy); ``network_mode="host"`` is for engines whose
    bridge network cannot reach the package registries. ``bases`` ("auto", "official", "offline") replaces
    ``prefer_bases`` with :func:`dockerfiles.base_choice.choose_base`: the official base pulled when missing,
    the offline one when the pull fails; the choice and its reason are on the result.
    """
    plan = build_plan(image, prefer_bases=prefer_bases)
    if context is not None:
        plan = dataclasses.replace(plan, context=Path(context))
    app_args: dict[str, str] = {}
    if image == "backend":  # a source folder the Dockerfile cannot build is refused before docker is asked
        app_args = {**backend_app_args(plan.context, extra_args or {}), **(extra_args or {})}
    choice = None
    if bases is not None:
        choice = choose_base(client, "python" if image == "backend" else "node", bases)
        base_arg = "PYTHON_IMAGE" if image == "backend" else "NODE_IMAGE"
        plan = dataclasses.replace(plan, buildargs={**plan.buildargs, base_arg: choice.image},
                                   base_image=choice.image, base_source=choice.source)
    buildargs = {**plan.buildargs, **(extra_args or {}), **app_args}
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
            message = chunk["error"].strip()
            raise DockerImageError(f"building {tag} from {plan.dockerfile.name} failed: {message}\n{tail}")
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
    return BuiltImage(tag, image_id, seconds, parse_build_log(lines), lines, plan, choice)


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
    raise DockerImageError(f"container {container.name} has no IP address on networks {list(networks)}")


class PathNotFoundError(DockerImageError):
    """The server is up but answers 404 at the probed path: waiting longer cannot help."""


def wait_for_http(container: Any, port: int, path: str, timeout: float = 60.0, expect: int = 200) -> float:
    """Seconds until ``http://<container ip>:port/path`` answers ``expect``; raises with the logs when it never does,
    and at once when the server answers 404 (the app has no such route)."""
    started = time.monotonic()
    url = ""
    while time.monotonic() - started < timeout:
        container.reload()
        if container.status in ("exited", "dead"):
            logs = container.logs(tail=40).decode(errors="replace")
            code = container.attrs["State"].get("ExitCode")
            raise DockerImageError(f"container {container.name} exited ({code}):\n{logs}")
        if not url:
            try:
                url = f"http://{container_ip(container)}:{port}{path}"
            except DockerImageError:
                time.sleep(0.1)
                continue
        status = http_status(url)
        if status == expect:
            return time.monotonic() - started
        if status == 404 and expect != 404:
            raise PathNotFoundError(f"{url} answered 404 Not Found: the app in {container.name} has no route {path}")
        time.sleep(0.1)
    logs = container.logs(tail=40).decode(errors="replace")
    raise DockerImageError(f"{url or path} did not answer {expect} within {timeout:.0f} s; container logs:\n{logs}")


def start_to_ready(client: Any, tag: str, env: Mapping[str, str], port: int, path: str,
                   timeout: float = 60.0, **run_kwargs: Any) -> tuple[Any, float]:
    """Start ``tag`` detached and return (container, seconds from `docker run` until ``path`` answers 200).

    The caller removes the container. The clock starts before the create call, as a user's `docker run` would.
    """
    started = time.monotonic()
    container = client.containers.run(tag, detach=True, environment=dict(env), **run_kwargs)
    wait_for_http(container, port, path, timeout)
    return container, time.monotonic() - started


# ------------------------------------------------------------------ figures for the report

ONE_LINE_CHANGE = {"backend": ("app/main.py", "\n# one-line change (image measurement)\n"),
                   "frontend": ("app/page.tsx", "\n// one-line change (image measurement)\n")}
READY_PROBE = {"backend": (8000, "/ready"), "frontend": (3000, "/healthz")}


def chart_like_run_kwargs(network: str | None = None) -> dict[str, Any]:
    """How the chart runs the apps: read-only root, /tmp as the only writable path, no privileges."""
    kwargs: dict[str, Any] = {"read_only": True, "tmpfs": {"/tmp": "rw,size=64m"}, "cap_drop": ["ALL"],
                              "security_opt": ["no-new-privileges"]}
    if network:
        kwargs["network"] = network
    return kwargs


@dataclass
class ImageFigures:
    image: str
    tag: str
    base_image: str
    base_source: str
    size_mb: float
    layers: int
    cold_build_s: float
    rebuild_one_line_s: float
    rebuild_cached_steps: int
    rebuild_steps: int
    start_to_ready_s: float
    stop_s: float
    build_command: str

    def row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def one_line_change_context(image: str, workdir: Path) -> Path:
    """A copy of apps/<image> with one line appended to one source file (the checkout stays untouched)."""
    import shutil

    source, line = ONE_LINE_CHANGE[image]
    target = workdir / image
    shutil.copytree(REPO_ROOT / "apps" / image, target,
                    ignore=shutil.ignore_patterns("node_modules", ".next", "__pycache__", ".venv", "*.tsbuildinfo"))
    with open(target / source, "a") as handle:
        handle.write(line)
    return target


def measure_image(client: Any, image: str, tag: str, env: Mapping[str, str], *, prefer_bases: str = "auto",
                  network: str | None = None, workdir: Path,
                  on_line: Callable[[str], None] | None = None) -> ImageFigures:
    """Cold build, size and layers, rebuild after a one-line change, start to ready, stop on SIGTERM."""
    cold = build_image(client, image, tag, prefer_bases=prefer_bases, nocache=True, on_line=on_line)
    facts = image_facts(client, tag)
    changed = build_image(client, image, f"{tag}-changed", prefer_bases=prefer_bases, on_line=on_line,
                          context=one_line_change_context(image, workdir))
    client.images.remove(f"{tag}-changed", force=True)
    port, path = READY_PROBE[image]
    container, ready_s = start_to_ready(client, tag, env, port, path, **chart_like_run_kwargs(network))
    try:
        started = time.monotonic()
        container.stop(timeout=30)
        stop_s = time.monotonic() - started
    finally:
        container.remove(force=True)
    return ImageFigures(
        image=image, tag=tag, base_image=cold.plan.base_image, base_source=cold.plan.base_source,
        size_mb=facts.size_mb, layers=facts.layers, cold_build_s=round(cold.seconds, 1),
        rebuild_one_line_s=round(changed.seconds, 1), rebuild_cached_steps=len(changed.cached_steps),
        rebuild_steps=len(changed.steps), start_to_ready_s=round(ready_s, 2), stop_s=round(stop_s, 2),
        build_command=cold.plan.shell_command(tag),
    )


def measure_all(client: Any, prefer_bases: str = "auto", tag_suffix: str = "measure",
                postgres_image: str = "todo-runbook/postgres:15-bookworm") -> list[ImageFigures]:
    """Figures for both images; the backend is measured to /ready against a throwaway PostgreSQL container."""
    import secrets
    import tempfile
    import uuid

    run = uuid.uuid4().hex[:8]
    network = client.networks.create(f"todo-measure-{run}", driver="bridge")
    password = secrets.token_hex(16)
    db = client.containers.run(postgres_image, detach=True, name=f"db-{run}", network=network.name,
                               environment={"POSTGRES_USER": "todo", "POSTGRES_PASSWORD": password,
                                            "POSTGRES_DB": "todo"})
    envs = {
        "backend": {"DATABASE_URL": f"postgresql://todo:{password}@db-{run}:5432/todo",
                    "JWT_SECRET": secrets.token_urlsafe(48), "LOG_LEVEL": "INFO"},
        "frontend": {"API_URL": "http://127.0.0.1:8000", "PORT": "3000", "HOSTNAME": "0.0.0.0"},
    }
    try:
        with tempfile.TemporaryDirectory(prefix="todo-measure-") as tmp:
            return [measure_image(client, image, f"todo-{image}:{tag_suffix}", envs[image],
                                  prefer_bases=prefer_bases, network=network.name, workdir=Path(tmp))
                    for image in ("backend", "frontend")]
    finally:
        db.remove(force=True)
        network.remove()


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    import docker

    parser = argparse.ArgumentParser(description="Measure the app images: size, layers, build and start times.")
    parser.add_argument("--bases", default="auto", choices=["auto", "official", "offline"])
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    figures = [f.row() for f in measure_all(docker.from_env(timeout=600), prefer_bases=args.bases)]
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
