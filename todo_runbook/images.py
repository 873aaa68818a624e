"""Build the two images with the Docker SDK and measure them; smoke-run each container once.

The low-level API streams the legacy builder's output, which tells us the steps and the cache
hits (" ---> Using cache"). Base images: the official one when it is present locally, else the
offline `todo-runbook/base-*` image built from Debian packages by dockerfiles/bases.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from . import shell
from .config import REPO_ROOT, RunbookConfig
from .errors import DockerUnavailableError, ImageBuildError
from .timing import Timer

Progress = Callable[[str], None]
MB = 1_000_000  # `docker images` reports SI megabytes

# Official base image families and the offline stand-ins tagged honestly (docs/architecture.md).
OFFLINE_BASES = {
    "python": "todo-runbook/base-python:3.11-bookworm",
    "node": "todo-runbook/base-node:22-bookworm",
    "debian": "todo-runbook/base-debian:bookworm",
    "postgres": "todo-runbook/postgres:15-bookworm",
}
# How to probe each component's container once it runs.
SMOKE = {
    "backend": {"port": 8000, "path": "/health"},
    "frontend": {"port": 3000, "path": "/healthz"},
}


@dataclass
class SmokeResult:
    ok: bool
    probe: str
    status: int | None = None
    seconds: float | None = None
    detail: str = ""
    skipped: bool = False


@dataclass
class ImageBuild:
    component: str
    image: str
    tag: str
    ref: str
    image_id: str
    size_mb: float
    layers: int
    seconds: float
    steps: int
    cache_hits: int
    base_images: dict[str, str]
    build_args: dict[str, str]
    command: str
    smoke: SmokeResult | None = None


@dataclass
class BuildResult:
    images: list[ImageBuild] = field(default_factory=list)
    engine: str = ""
    commands: list[dict[str, str]] = field(default_factory=list)

    def tags(self) -> dict[str, str]:
        return {img.component: img.ref for img in self.images}


def minikube_docker_env(profile: str) -> dict[str, str]:
    """The variables `eval $(minikube docker-env)` would set: they point Docker at minikube's daemon."""
    res = shell.run(["minikube", "-p", profile, "docker-env", "--shell", "none"], timeout=60)
    return dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)


def docker_client(environment: dict[str, str] | None = None):  # -> docker.DockerClient
    import docker

    try:
        client = docker.from_env(timeout=600, environment=environment)
        client.ping()
        return client
    except Exception as exc:
        raise DockerUnavailableError(f"no Docker engine answers ({exc.__class__.__name__}: {str(exc)[:160]})",
                                     "start one: `make engine` (or Docker Desktop / `sudo systemctl start docker`); "
                                     "set DOCKER_HOST if yours listens elsewhere") from exc


# -- base images -------------------------------------------------------------------------------
def base_image_args(dockerfile: Path) -> dict[str, str]:
    """ARGs that a FROM line uses, with their defaults: {'PYTHON_IMAGE': 'python:3.11-slim-bookworm'}."""
    text = dockerfile.read_text()
    defaults = dict(re.findall(r"(?im)^\s*ARG\s+(\w+)=[\"']?([^\s\"']+)", text))
    used = set(re.findall(r"(?im)^\s*FROM\s+(?:--platform=\S+\s+)?\$\{?(\w+)\}?", text))
    return {name: defaults.get(name, "") for name in sorted(used)}


def _family(image: str) -> str | None:
    name = image.split("/")[-1].split(":")[0].lower()
    for family in OFFLINE_BASES:
        if family in name:
            return family
    return None


def _present(client: Any, image: str) -> bool:
    import docker

    try:
        client.images.get(image)
        return True
    except docker.errors.ImageNotFound:
        return False


def ensure_offline_bases(progress: Progress) -> str:
    """Build the offline base images with dockerfiles/bases' own script; returns its command line."""
    candidates = [REPO_ROOT / "dockerfiles" / "bases" / name for name in ("build.sh", "build-bases.sh")]
    script = next((c for c in candidates if c.exists()), None)
    if script is None:
        raise ImageBuildError("the offline base images are missing and dockerfiles/bases has no build script",
                              "build them (see dockerfiles/bases/README) or pass -p base_python=IMAGE "
                              "-p base_node=IMAGE with images present in the engine")
    progress(f"building offline base images with {script.relative_to(REPO_ROOT)} (once; cached in the engine)")
    res = shell.run(["bash", str(script)], timeout=3600, hint="see the script's output; it needs apt access")
    return res.command


def resolve_base_images(client: Any, component: str, dockerfile: Path, config: RunbookConfig,
                        progress: Progress) -> tuple[dict[str, str], list[str]]:
    """Build args for the FROM images: explicit config, else official if local, else offline."""
    override = {"backend": config.base_python, "frontend": config.base_node}.get(component, "")
    chosen: dict[str, str] = {}
    notes: list[str] = []
    for arg, default in base_image_args(dockerfile).items():
        family = _family(default) or _family(arg.lower())
        if override and family in ("python", "node"):
            chosen[arg] = override
        elif default and _present(client, default):
            chosen[arg] = default
        elif family in OFFLINE_BASES:
            chosen[arg] = OFFLINE_BASES[family]
        elif default:
            chosen[arg] = default
        if arg in chosen and not _present(client, chosen[arg]):
            notes.append(ensure_offline_bases(progress))
            if not _present(client, chosen[arg]):
                raise ImageBuildError(f"base image {chosen[arg]} (build arg {arg} of {dockerfile.name}) is not in "
                                      "the engine and cannot be pulled offline",
                                      f"build or load it, or pass another with -p base_{family or 'python'}=IMAGE")
    return chosen, notes


# -- build -------------------------------------------------------------------------------------
def _stream_build(client: Any, context: Path, dockerfile: Path, tag: str, build_args: dict[str, str],
                  timeout: int, progress: Progress) -> tuple[str, int, int]:
    """Run the build; returns (image id, steps, cache hits)."""
    steps = cache_hits = 0
    image_id = ""
    last_lines: list[str] = []
    stream = client.api.build(path=str(context), dockerfile=str(dockerfile), tag=tag, buildargs=build_args,
                              rm=True, forcerm=True, decode=True, timeout=timeout, pull=False)
    for chunk in stream:
        if "error" in chunk:
            detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
            tail = "\n".join(last_lines[-8:])
            raise ImageBuildError(f"building {tag} failed: {detail.strip()}\n{tail}",
                                  f"fix the Dockerfile/sources; rebuild by hand with: docker build -f {dockerfile} "
                                  f"{context}")
        line = chunk.get("stream", "")
        if "aux" in chunk and "ID" in chunk["aux"]:
            image_id = chunk["aux"]["ID"]
        if not line.strip():
            continue
        text = line.rstrip()
        if text.startswith("Step "):
            steps += 1
        if "Using cache" in text:
            cache_hits += 1
        last_lines.append(text)
        progress(text)
        match = re.search(r"Successfully built ([0-9a-f]+)", text)
        if match and not image_id:
            image_id = match.group(1)
    return image_id, steps, cache_hits


def build_one(client: Any, component: str, config: RunbookConfig, progress: Progress) -> ImageBuild:
    context = config.path(config.backend_src if component == "backend" else config.frontend_src)
    dockerfile = config.path(config.backend_dockerfile if component == "backend" else config.frontend_dockerfile)
    repository = config.backend_image if component == "backend" else config.frontend_image
    for path, what in ((context, "source folder"), (dockerfile, "Dockerfile")):
        if not path.exists():
            raise ImageBuildError(f"the {component} {what} {path} does not exist",
                                  f"pass -p {component}_{'src' if what == 'source folder' else 'dockerfile'}=PATH")
    build_args, _ = resolve_base_images(client, component, dockerfile, config, progress)
    build_tag = f"{repository}:runbook-build"
    progress(f"building {component} ({_rel(dockerfile)}, context {_rel(context)})")
    with Timer() as timer:
        image_id, steps, hits = _stream_build(client, context, dockerfile, build_tag, build_args,
                                              config.build_timeout_s, progress)
    image = client.images.get(image_id or build_tag)
    # Content-addressed tag: the same sources give the same tag, so a re-run changes nothing.
    tag = config.image_tag or image.id.split(":")[-1][:12]
    image.tag(repository, tag=tag)
    ref = f"{repository}:{tag}"
    args = " ".join(f"--build-arg {k}={v}" for k, v in build_args.items())
    command = f"docker build -f {_rel(dockerfile)} {args} -t {ref} {_rel(context)}".replace("  ", " ")
    return ImageBuild(component=component, image=repository, tag=tag, ref=ref, image_id=image.id,
                      size_mb=round(image.attrs["Size"] / MB, 1), layers=len(image.attrs["RootFS"].get("Layers", [])),
                      seconds=timer.seconds, steps=steps, cache_hits=hits,
                      base_images={k: v for k, v in build_args.items()}, build_args=build_args, command=command)


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


# -- smoke run ---------------------------------------------------------------------------------
def smoke_run(client: Any, build: ImageBuild, timeout: float = 60) -> SmokeResult:
    """Start the container once with throwaway settings and probe its health route."""
    spec = SMOKE[build.component]
    env = {"PORT": str(spec["port"]), "HOSTNAME": "0.0.0.0"}
    if build.component == "backend":
        # Liveness needs no database; migrations off so start-up does not wait for one.
        jwt = secrets.token_hex(32)
        shell.register_secret(jwt)
        env.update({"DATABASE_URL": "postgresql://smoke:smoke@127.0.0.1:5432/smoke", "JWT_SECRET": jwt,
                    "RUN_MIGRATIONS": "false"})
    else:
        env["API_URL"] = "http://127.0.0.1:8000"
    probe = f"GET http://127.0.0.1:<published {spec['port']}>{spec['path']}"
    container = client.containers.run(build.ref, detach=True, environment=env, ports={f"{spec['port']}/tcp": None},
                                      remove=False, name=f"todo-smoke-{build.component}-{secrets.token_hex(3)}")
    started = time.monotonic()
    try:
        last = ""
        while time.monotonic() - started < timeout:
            container.reload()
            if container.status in ("exited", "dead"):
                logs = container.logs(tail=15).decode(errors="replace")
                return SmokeResult(False, probe, None, None, f"container exited: {shell.mask(logs)[-800:]}")
            bindings = container.attrs["NetworkSettings"]["Ports"].get(f"{spec['port']}/tcp") or []
            if bindings:
                url = f"http://127.0.0.1:{bindings[0]['HostPort']}{spec['path']}"
                try:
                    resp = requests.get(url, timeout=3)
                    if resp.status_code == 200:
                        return SmokeResult(True, probe, 200, round(time.monotonic() - started, 2), "answered 200")
                    last = f"HTTP {resp.status_code}"
                except requests.RequestException as exc:
                    last = exc.__class__.__name__
            time.sleep(0.5)
        logs = container.logs(tail=15).decode(errors="replace")
        return SmokeResult(False, probe, None, None, f"no 200 within {timeout:.0f} s (last: {last}); "
                                                    f"logs: {shell.mask(logs)[-600:]}")
    finally:
        container.remove(force=True)


def build_images(config: RunbookConfig, progress: Progress = lambda _: None) -> BuildResult:
    """Build backend and frontend, measure them, smoke-run them."""
    env = minikube_docker_env(config.minikube_profile) if config.build_in_minikube else None
    client = docker_client(env)
    result = BuildResult(engine=str(client.version().get("Version", "?")))
    if env:
        result.engine += " (minikube's daemon)"
        result.commands.append(shell.recorded(f"eval $(minikube -p {config.minikube_profile} docker-env)",
                                              "point docker at minikube's daemon: no load step needed"))
    for component in ("backend", "frontend"):
        build = build_one(client, component, config, progress)
        result.commands.append(shell.recorded(build.command, f"build the {component} image"))
        if config.smoke_run:
            progress(f"smoke-running {build.ref}")
            build.smoke = smoke_run(client, build)
            result.commands.append(shell.recorded(
                f"docker run --rm -p {SMOKE[component]['port']} {build.ref}", f"start the {component} once"))
        else:
            build.smoke = SmokeResult(False, "", skipped=True, detail="smoke_run=false")
        result.images.append(build)
    return result
