"""Build the two images with the Docker SDK and measure them; smoke-run each container once.

The build plan (base image, the build args this machine needs to reach its package registries)
comes from dockerfiles/build_args.py, the images area's own module; base images are the official ones
(already local, or pulled now) unless `bases` says otherwise, else the offline `todo-runbook/base-*` built
by dockerfiles/bases/build_bases.py (run here when they are missing); dockerfiles/base_choice.py decides
and records why. The low-level build API streams
the classic builder's log, which gives the steps and the cache hits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockerfiles import base_choice, image_build
from dockerfiles import build_args as dockerfile_args

from . import providers, registry, shell, syft_tool
from . import sbom as image_sbom
from .config import REPO_ROOT, RunbookConfig
from .errors import DockerUnavailableError, ImageBuildError
from .progress import Progress, phase
from .timing import Timer

BASES_SCRIPT = REPO_ROOT / "dockerfiles" / "bases" / "build_bases.py"
# Offline images the chart may run besides ours, and the build_bases.py step that makes each.
OFFLINE_IMAGES = {
    dockerfile_args.OFFLINE_PYTHON: "python",
    dockerfile_args.OFFLINE_NODE: "node",
    "todo-runbook/postgres:15-bookworm": "postgres",
    "todo-runbook/base-debian:bookworm": "debian",
}
SMOKE: dict[str, dict[str, Any]] = {
    "backend": {"port": 8000, "path": "/health"},
    "frontend": {"port": 3000, "path": "/healthz"},
}


@dataclass
class SmokeResult:
    ok: bool
    probe: str
    seconds: float | None = None
    detail: str = ""
    skipped: bool = False
    path_not_found: bool = False  # the app answered 404 at the probed path: a wrong path, not a slow start


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
    base_source: str
    user: str
    command: str
    smoke: SmokeResult | None = None
    # the base and why: {"image", "source": local|pulled|offline-local|offline-built|parameter, "reason", ...}
    base_choice: dict[str, Any] = field(default_factory=dict)


@dataclass
class BuildResult:
    images: list[ImageBuild] = field(default_factory=list)
    engine: str = ""
    bases_built: list[str] = field(default_factory=list)
    commands: list[dict[str, str]] = field(default_factory=list)
    # the in-cluster PostgreSQL's image when the values run one (dev profile): a BaseChoice as a dict
    database: dict[str, Any] = field(default_factory=dict)
    sbom: image_sbom.SbomResult | None = None

    def tags(self) -> dict[str, str]:
        return {img.component: img.ref for img in self.images}


def docker_client(environment: dict[str, str] | None = None) -> Any:  # docker.DockerClient
    import docker

    try:
        client = docker.from_env(timeout=3600, environment=environment)
        client.ping()
        return client
    except Exception as exc:
        raise DockerUnavailableError(f"no Docker engine answers ({exc.__class__.__name__}: {str(exc)[:160]})",
                                     "start one: `make engine` (or Docker Desktop / `sudo systemctl start docker`); "
                                     "set DOCKER_HOST if yours listens elsewhere") from exc


def ensure_offline_images(names: list[str], progress: Progress) -> str:
    """Build offline base images (e.g. ['python', 'postgres']) with dockerfiles/bases/build_bases.py."""
    progress(f"building offline base images {','.join(names)} (once; kept in the engine)")
    res = shell.run([sys.executable, str(BASES_SCRIPT), "--only", ",".join(names)], timeout=3600,
                    hint="read the script's output above; it needs Debian packages (apt) and npm")
    for line in res.stdout.splitlines():
        progress(line)
    return res.command


def build_plan(client: Any, component: str, config: RunbookConfig, progress: Progress,
               notes: list[str], choices: list[base_choice.BaseChoice] | None = None) -> dockerfile_args.ImageBuildPlan:
    """The images area's plan, pointed at the configured sources, on the base `config.bases` asks for.

    Official bases: already local, else pulled (bounded); the offline bases when the pull fails (the
    pull error is the recorded reason) or with bases=offline; missing offline bases are built first.
    """
    override = config.base_python if component == "backend" else config.base_node
    base_arg = "PYTHON_IMAGE" if component == "backend" else "NODE_IMAGE"
    if override:
        plan = dockerfile_args.build_plan(component, prefer_bases="official")
        plan = dataclasses.replace(plan, buildargs={**plan.buildargs, base_arg: override}, base_image=override,
                                   base_source="parameter")
    else:
        choice = choose_base(client, "python" if component == "backend" else "node", config.bases, progress, notes)
        if choices is not None:
            choices.append(choice)
        plan = dockerfile_args.build_plan(component, prefer_bases="offline" if choice.offline else "official")
        plan = dataclasses.replace(plan, buildargs={**plan.buildargs, base_arg: choice.image},
                                   base_image=choice.image, base_source=choice.source)
    context = config.path(config.backend_src if component == "backend" else config.frontend_src)
    dockerfile = config.path(config.backend_dockerfile if component == "backend" else config.frontend_dockerfile)
    for path, name in ((context, f"{component}_src"), (dockerfile, f"{component}_dockerfile")):
        if not path.exists():
            raise ImageBuildError(f"the {component} {name.split('_')[1]} {path} does not exist",
                                  f"pass -p {name}=PATH (relative to the repository or absolute)")
    if component == "backend":
        plan = dataclasses.replace(plan, buildargs={**plan.buildargs, **backend_app_buildargs(config, context)})
    return dataclasses.replace(plan, context=context, dockerfile=dockerfile)


def backend_app_buildargs(config: RunbookConfig, context: Any) -> dict[str, str]:
    """The backend's entry module, port and probe paths as build args; a source folder the Dockerfile
    cannot build (no dependency file, no entry module) stops here, before docker runs."""
    args = {"APP_MODULE": config.backend_module, "APP_PORT": str(config.backend_port),
            "HEALTH_PATH": config.backend_health_path, "READY_PATH": config.backend_ready_path}
    try:
        return {**dockerfile_args.backend_app_args(context, args), **args}
    except dockerfile_args.BackendSourceError as exc:
        raise ImageBuildError(exc.problem, exc.fix) from exc


def choose_base(client: Any, name: str, bases: str, progress: Progress,
                notes: list[str]) -> base_choice.BaseChoice:
    """One base ("python", "node", "postgres") under bases=auto|official|offline, with the reason."""
    try:
        choice = base_choice.choose_base(
            client, name, bases, ensure_offline=lambda step: notes.append(ensure_offline_images([step], progress)))
    except base_choice.BaseChoiceError as exc:
        raise ImageBuildError(str(exc).split("; ", 1)[0], str(exc).split("; ", 1)[-1]) from exc
    progress(f"base {name}: {choice.image} ({choice.source}: {choice.reason})")
    return choice


def runs_database(config: RunbookConfig) -> bool:
    """Whether the chosen values run the chart's own PostgreSQL (the dev profile does)."""
    import yaml

    enabled = False
    for values_file in [config.path(config.chart) / "values.yaml", *config.profile_values_files()]:
        if values_file.exists():
            postgresql = (yaml.safe_load(values_file.read_text()) or {}).get("postgresql") or {}
            enabled = bool(postgresql.get("enabled", enabled))
    return enabled


def postgres_image(config: RunbookConfig, progress: Progress = lambda _: None,
                   client: Any = None) -> base_choice.BaseChoice:
    """The dev profile's PostgreSQL: the official image when pullable, the offline-built one otherwise."""
    notes: list[str] = []
    return choose_base(client or docker_client(), "postgres", config.bases, progress, notes)


def _stream_build(client: Any, plan: dockerfile_args.ImageBuildPlan, tag: str, timeout: int,
                  progress: Progress) -> tuple[str, list[str]]:
    """Run the classic build, streaming each log line to `progress`; returns (image id, log lines)."""
    log: list[str] = []
    image_id = ""
    client.api.timeout = max(int(client.api.timeout or 60), timeout)
    stream = client.api.build(path=str(plan.context), dockerfile=str(plan.dockerfile), tag=tag,
                              buildargs=plan.buildargs, rm=True, forcerm=True, pull=False, decode=True)
    for chunk in stream:
        if "error" in chunk:
            detail = (chunk.get("errorDetail") or {}).get("message") or chunk["error"]
            raise ImageBuildError(f"building {tag} failed: {detail.strip()}\n" + "\n".join(log[-10:]),
                                  f"fix the Dockerfile or sources; rebuild by hand: {plan.shell_command(tag)}")
        text = (chunk.get("stream") or "").rstrip("\n")
        if text.strip():
            log.append(text)
            progress(text)
        aux = chunk.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            image_id = aux["ID"]
    return image_id, log


def build_one(client: Any, component: str, config: RunbookConfig, progress: Progress,
              notes: list[str]) -> ImageBuild:
    choices: list[base_choice.BaseChoice] = []
    plan = build_plan(client, component, config, progress, notes, choices)
    repository = config.backend_image if component == "backend" else config.frontend_image
    build_tag = f"{repository}:runbook-build"
    progress(f"building {component} from {plan.dockerfile.name} on {plan.base_image} ({plan.base_source})")
    with Timer() as timer:
        image_id, log = _stream_build(client, plan, build_tag, config.build_timeout_s, progress)
    # Only steps the builder can take from its cache count: not FROM, not the global ARGs before it.
    parsed = image_build.parse_build_log(log)
    first_from = next((i for i, s in enumerate(parsed) if s.instruction.upper().startswith("FROM")), 0)
    steps = [s for s in parsed[first_from:] if not s.instruction.upper().startswith("FROM")]
    image = client.images.get(image_id or build_tag)
    # Content-addressed tag: the same sources give the same tag, so a second run changes nothing.
    tag = config.image_tag or image.id.split(":")[-1][:12]
    image.tag(repository, tag=tag)
    ref = f"{repository}:{tag}"
    facts = image_build.image_facts(client, ref)
    if config.registry:  # the same content-addressed tag under the registry: what load pushes and the chart runs
        ref = registry.parse(config.registry).reference(ref)
        image.tag(ref.rpartition(":")[0], tag=tag)
    return ImageBuild(component=component, image=repository, tag=tag, ref=ref, image_id=image.id,
                      size_mb=facts.size_mb, layers=facts.layers, seconds=timer.seconds, steps=len(steps),
                      cache_hits=sum(s.cached for s in steps),
                      base_images={k: v for k, v in plan.buildargs.items() if k.endswith("_IMAGE")},
                      base_source=plan.base_source, user=facts.user, command=plan.shell_command(ref),
                      base_choice=choices[0].as_dict() if choices else
                      {"image": plan.base_image, "source": "parameter", "reason": "base image passed as a parameter"})


def missing_route_error(build: ImageBuild, config: RunbookConfig) -> ImageBuildError:
    """A health path the app does not serve: stop before anything is deployed (every probe would fail)."""
    if build.component == "backend":
        return ImageBuildError(
            f"the backend image {build.ref} answers 404 at backend_health_path={config.backend_health_path}: "
            "the app has no such route",
            "pass backend_health_path=<the path your app answers 200 on without a database, e.g. /healthz> "
            f"(this repository's backend uses /health); backend_ready_path likewise (now {config.backend_ready_path})")
    path = SMOKE["frontend"]["path"]
    return ImageBuildError(f"the frontend image {build.ref} answers 404 at {path}: the chart's probes need that route",
                           "add a /healthz route to the frontend in frontend_src that answers 200")


@contextlib.contextmanager
def smoke_database(client: Any, image: str, timeout: float = 60) -> Iterator[tuple[str, str]]:
    """A throwaway PostgreSQL on its own network, for a backend that needs its database to start (a Phase III
    app creating its tables at start-up): yields (network, URL); removed afterwards."""
    name = f"todo-smoke-db-{secrets.token_hex(3)}"
    password = secrets.token_hex(16)
    shell.register_secret(password)
    network = client.networks.create(name, driver="bridge")
    db = None
    try:
        db = client.containers.run(image, detach=True, name=name, network=network.name,
                                   environment={"POSTGRES_USER": "smoke", "POSTGRES_PASSWORD": password,
                                                "POSTGRES_DB": "smoke"})
        deadline = time.monotonic() + timeout
        while db.exec_run(["pg_isready", "-h", "127.0.0.1", "-U", "smoke", "-d", "smoke"]).exit_code != 0:
            if time.monotonic() > deadline:
                raise image_build.DockerImageError(
                    f"the smoke run's database ({image}) was not ready in {timeout:.0f} s")
            time.sleep(0.5)
        yield network.name, f"postgresql://smoke:{password}@{name}:5432/smoke"
    finally:
        if db is not None:
            db.remove(force=True)
        network.remove()


def smoke_run(client: Any, build: ImageBuild, timeout: float = 90,
              config: RunbookConfig | None = None, database_image: str = "") -> SmokeResult:
    """Start the container once with throwaway settings and wait for its health route to answer 200.
    With `database_image` the backend gets a real throwaway database (some apps need it to start)."""
    if build.component == "backend" and database_image:
        try:
            with smoke_database(client, database_image) as (network, url):
                return _smoke(client, build, timeout, config, url, network)
        except image_build.DockerImageError as exc:
            return SmokeResult(False, f"GET {SMOKE['backend']['path']}", None, shell.mask(str(exc))[-800:])
    return _smoke(client, build, timeout, config)


def _smoke(client: Any, build: ImageBuild, timeout: float, config: RunbookConfig | None,
           database_url: str = "", network: str | None = None) -> SmokeResult:
    spec = SMOKE[build.component]
    if build.component == "backend":
        spec = {"port": config.backend_port, "path": config.backend_health_path} if config else spec
    probe = f"GET http://<container ip>:{spec['port']}{spec['path']}"
    env = {"PORT": str(spec["port"]), "HOSTNAME": "0.0.0.0"}
    if build.component == "backend":
        # Liveness needs no database; migrations off so start-up does not wait for one. The variable names
        # are the app's own (a Phase III app reads BETTER_AUTH_SECRET).
        jwt = secrets.token_hex(32)
        shell.register_secret(jwt)
        names = config or RunbookConfig()
        env.update({names.backend_database_url_env: database_url or "postgresql://smoke@127.0.0.1:5432/smoke",
                    names.backend_jwt_secret_env: jwt, "RUN_MIGRATIONS": "false"})
    else:
        env["API_URL"] = "http://127.0.0.1:8000"
    container = None
    try:
        container, seconds = image_build.start_to_ready(client, build.ref, env, spec["port"], spec["path"], timeout,
                                                        name=f"todo-smoke-{build.component}-{secrets.token_hex(3)}",
                                                        **({"network": network} if network else {}))
        return SmokeResult(True, probe, round(seconds, 2), f"answered 200 after {seconds:.1f} s")
    except image_build.DockerImageError as exc:
        return SmokeResult(False, probe, None, shell.mask(str(exc))[-800:],
                           path_not_found=isinstance(exc, image_build.PathNotFoundError))
    finally:
        if container is None:
            for c in client.containers.list(all=True, filters={"ancestor": build.ref}):
                if c.name.startswith(f"todo-smoke-{build.component}-"):
                    c.remove(force=True)
        else:
            container.remove(force=True)


def build_images(config: RunbookConfig, progress: Progress = lambda _: None,
                 sbom_dir: Path | None = None) -> BuildResult:
    """Build backend and frontend, measure them, smoke-run them; SBOMs (and a scan) into `sbom_dir`."""
    engine = providers.build_engine(config)  # the cluster's own engine when the provider builds into it
    env = engine.env if engine else None
    client = docker_client(env)
    result = BuildResult(engine=str(client.version().get("Version", "?")))
    if engine:
        result.engine += f" ({engine.label})"
        result.commands.append(shell.recorded(engine.command, engine.purpose))
    notes: list[str] = []
    if config.sbom and sbom_dir is not None:  # a fresh machine: syft compiles while the images build
        syft_tool.build_in_background(progress)
    if runs_database(config):  # chosen with the bases, so the evidence names it and why; the
        # backend's smoke run gets a throwaway one of it
        result.database = postgres_image(config, progress, client).as_dict()
        if result.database["source"] == "pulled":
            result.commands.append(shell.recorded(f"docker pull {result.database['image']}",
                                                  "the in-cluster PostgreSQL's official image"))
    components = ("backend", "frontend")
    for index, component in enumerate(components, start=1):
        phase(progress, index, len(components), "image", component)
        build = build_one(client, component, config, progress, notes)
        result.commands.append(shell.recorded(build.command, f"build the {component} image"))
        if config.smoke_run:
            progress(f"smoke-running {build.ref}")
            build.smoke = smoke_run(client, build, config=config, database_image=result.database.get("image", ""))
            if build.smoke.path_not_found:
                raise missing_route_error(build, config)
            result.commands.append(shell.recorded(
                f"docker run --rm -d {build.ref}  # then curl {build.smoke.probe.split(' ', 1)[-1]}",
                f"start the {component} once"))
        else:
            build.smoke = SmokeResult(False, "", skipped=True, detail="smoke_run=false")
        result.images.append(build)
    result.bases_built = notes
    result.commands[:0] = [shell.recorded(n, "build the offline base images") for n in notes]
    result.sbom = image_sbom.generate([(i.component, i.ref) for i in result.images], sbom_dir, config, progress, env,
                                      image_ids={i.ref: i.image_id for i in result.images})
    result.commands += result.sbom.commands
    return result
