"""The app images, built for real on the offline bases and run the way the chart runs them."""

from __future__ import annotations

import fnmatch
import re
import secrets
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from dockerfiles.image_build import (
    BuiltImage,
    build_image,
    chart_like_run_kwargs,
    http_status,
    image_facts,
    start_to_ready,
    wait_for_http,
)

from .conftest import RUN_ID, Database, copy_context

pytestmark = [pytest.mark.docker, pytest.mark.slow]

APP_UID = "10001"
STOP_BOUND_S = 10.0
ENV_FILE_PATTERNS = (".env", ".env.*", "*.env")
# A line appended to one source file: the smallest change a developer makes.
ONE_LINE_CHANGE = {"backend": ("app/main.py", "\n# touched by tests/images\n"),
                   "frontend": ("app/page.tsx", "\n// touched by tests/images\n")}


def backend_env(db: Database) -> dict[str, str]:
    """What the chart gives the backend (Secret + ConfigMap); OPENAI_API_KEY is optional and left out."""
    return {
        "DATABASE_URL": db.url,
        "JWT_SECRET": secrets.token_urlsafe(48),
        "OPENAI_MODEL": "gpt-4o-mini",
        "CORS_ORIGINS": "http://todo.local",
        "LOG_LEVEL": "INFO",
    }


def frontend_env(api_url: str) -> dict[str, str]:
    return {"API_URL": api_url, "PORT": "3000", "HOSTNAME": "0.0.0.0"}


# The runtime images have no shell and no coreutils: files are read with the image's own interpreter.
READ_FILE = {"backend": ["python", "-c", "import sys; print(open(sys.argv[1]).read())"],
             "frontend": ["node", "-e", "process.stdout.write(require('fs').readFileSync(process.argv[1], 'utf8'))"]}
# The plan's floor for the runtime images (issue 17), in MB as the engine reports them (10^6 bytes).
SIZE_BUDGET_MB = {"backend": 120.0, "frontend": 135.0}


def pid1_uid(container: Any, image: str = "backend") -> str:
    status = container.exec_run([*READ_FILE[image], "/proc/1/status"]).output.decode()
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    return uid_line.split()[1]


def stop_seconds(container: Any) -> tuple[float, int]:
    started = time.monotonic()
    container.stop(timeout=30)
    elapsed = time.monotonic() - started
    container.reload()
    return elapsed, int(container.attrs["State"]["ExitCode"])


# ------------------------------------------------------------------ builds


def test_cold_builds_use_offline_bases_and_no_cache(cold_builds: dict[str, BuiltImage], docker_client: Any) -> None:
    for image, result in cold_builds.items():
        assert result.plan.base_source == "offline", image
        assert result.plan.base_image.startswith("todo-runbook/base-"), result.plan.base_image
        assert result.steps, f"{image}: no build steps parsed from the log"
        assert not result.cached_steps, f"{image}: a cold build used the cache: {result.cached_steps}"
        facts = image_facts(docker_client, result.tag)
        assert facts.user == f"{APP_UID}:{APP_UID}", facts.user
        assert facts.healthcheck and facts.healthcheck[0] == "CMD", "HEALTHCHECK must be exec form"
        assert facts.entrypoint and not facts.entrypoint[0].startswith("/bin/sh"), facts.entrypoint
        assert facts.labels.get("org.opencontainers.image.title") == f"todo-{image}"
        # The runtime starts from scratch; the label names the base its files were taken from.
        assert facts.labels.get("org.opencontainers.image.base.name") == result.plan.base_image


@pytest.mark.parametrize("image", ["backend", "frontend"])
def test_runtime_images_are_within_the_size_floor(cold_builds: dict[str, BuiltImage], docker_client: Any,
                                                  image: str) -> None:
    facts = image_facts(docker_client, cold_builds[image].tag)
    print(f"{image}: {facts.size_mb} MB in {facts.layers} layers ({cold_builds[image].plan.base_image})")
    assert facts.size_mb <= SIZE_BUDGET_MB[image], f"{image} image is {facts.size_mb} MB"


def test_backend_runtime_has_no_shell_and_tracebacks_name_file_line_and_function(
    cold_builds: dict[str, BuiltImage], docker_client: Any
) -> None:
    tag = cold_builds["backend"].tag
    for shell_path in ("/bin/sh", "/bin/bash", "/usr/bin/apt-get", "/opt/venv/bin/pip"):
        code = docker_client.containers.run(tag, ["-c", f"import os, sys; sys.exit(os.path.exists('{shell_path}'))"],
                                            entrypoint="python", remove=True, stderr=True)
        assert code == b"", (shell_path, code)
    # A frame from bytecode-only code (stdlib, dependencies) still names its file, line and function.
    import docker

    with pytest.raises(docker.errors.ContainerError) as caught:
        docker_client.containers.run(
            tag, ["-c", "import json; json.loads('{')"], entrypoint="python", remove=True, stderr=True)
    trace = caught.value.stderr.decode()
    assert re.search(r'File "/usr/(local/)?lib/python3\.11/json/decoder\.py", line \d+, in raw_decode', trace), trace
    assert "json.decoder.JSONDecodeError" in trace


# ------------------------------------------------------------------ running like the chart


def test_backend_health_ready_read_only_non_root_and_stops_fast(
    docker_client: Any, cold_builds: dict[str, BuiltImage], database: Database
) -> None:
    tag = cold_builds["backend"].tag
    container, _seconds = start_to_ready(docker_client, tag, backend_env(database), 8000, "/health",
                                         name=f"backend-{RUN_ID}", **chart_like_run_kwargs(database.network))
    try:
        wait_for_http(container, 8000, "/ready", timeout=60)
        wait_for_http(container, 8000, "/api/health", timeout=5)
        assert pid1_uid(container) == APP_UID
        assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True
        assert container.exec_run(["python", "-c", "open('/app/probe', 'w')"]).exit_code != 0
        assert container.exec_run(["python", "-c", "open('/tmp/probe', 'w')"]).exit_code == 0
        elapsed, exit_code = stop_seconds(container)
        assert elapsed < STOP_BOUND_S, f"backend took {elapsed:.1f} s to stop on SIGTERM"
        assert exit_code == 0, container.logs(tail=30).decode(errors="replace")
    finally:
        container.remove(force=True)


def test_backend_not_ready_without_database(docker_client: Any, cold_builds: dict[str, BuiltImage],
                                            test_network: str) -> None:
    env = backend_env(Database(None, test_network, f"nodb-{RUN_ID}", "todo", "x" * 16, "todo"))
    container, _ = start_to_ready(docker_client, cold_builds["backend"].tag, env, 8000, "/health",
                                  **chart_like_run_kwargs(test_network))
    try:
        ip = container.attrs["NetworkSettings"]["Networks"][test_network]["IPAddress"]
        assert http_status(f"http://{ip}:8000/ready") == 503
    finally:
        container.remove(force=True)


def test_frontend_serves_page_and_healthz_read_only_non_root_and_stops_fast(
    docker_client: Any, cold_builds: dict[str, BuiltImage], database: Database
) -> None:
    backend, _ = start_to_ready(docker_client, cold_builds["backend"].tag, backend_env(database), 8000, "/ready",
                                name=f"api-{RUN_ID}", **chart_like_run_kwargs(database.network))
    frontend = None
    try:
        frontend, _ = start_to_ready(docker_client, cold_builds["frontend"].tag,
                                     frontend_env(f"http://api-{RUN_ID}:8000"), 3000, "/healthz",
                                     **chart_like_run_kwargs(database.network))
        ip = frontend.attrs["NetworkSettings"]["Networks"][database.network]["IPAddress"]
        import urllib.request

        with urllib.request.urlopen(f"http://{ip}:3000/", timeout=10) as response:
            page = response.read().decode(errors="replace")
            assert response.status == 200
        assert "<html" in page.lower()
        # Same-origin /api/* is forwarded to API_URL at run time: the backend answers through the frontend.
        assert http_status(f"http://{ip}:3000/api/health", timeout=10) == 200
        assert pid1_uid(frontend, "frontend") == APP_UID
        assert frontend.exec_run(["node", "-e", "require('fs').writeFileSync('/app/probe', 'x')"]).exit_code != 0
        logs = frontend.logs().decode(errors="replace")
        assert "EROFS" not in logs and "read-only file system" not in logs.lower(), logs
        elapsed, _exit_code = stop_seconds(frontend)
        assert elapsed < STOP_BOUND_S, f"frontend took {elapsed:.1f} s to stop on SIGTERM"
    finally:
        for container in (frontend, backend):
            if container is not None:
                container.remove(force=True)


# ------------------------------------------------------------------ rebuilds and secrets


@pytest.fixture(scope="module")
def planted_secret() -> str:
    return "todo-imgtest-secret-" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def changed_builds(docker_client: Any, cold_builds: dict[str, BuiltImage], planted_secret: str,
                   tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuiltImage]:
    """Rebuilds from a copy of each app with one source line changed and local .env files planted
    (as a developer's checkout would have them), after the cold builds filled the cache."""
    results = {}
    for image, (source, line) in ONE_LINE_CHANGE.items():
        context = copy_context(image, tmp_path_factory.mktemp(f"ctx-{image}"))
        with open(context / source, "a") as handle:
            handle.write(line)
        for env_file in (".env", ".env.local", "app/.env.production"):
            (context / env_file).write_text(f"JWT_SECRET={planted_secret}\nOPENAI_API_KEY={planted_secret}\n")
        results[image] = build_image(docker_client, image, f"todo-{image}:imgtest-{RUN_ID}-changed",
                                     prefer_bases="offline", context=context)
    yield results
    for result in results.values():
        docker_client.images.remove(result.tag, force=True)


@pytest.mark.parametrize(("image", "dependency_steps", "code_step"), [
    ("backend", ["COPY requirements.lock", "pip install"], "COPY ${APP_SOURCES}"),
    ("frontend", ["COPY package.json package-lock.json", "npm ci"], "COPY . ."),
])
def test_rebuild_after_one_line_change_reuses_dependency_layers(
    changed_builds: dict[str, BuiltImage], image: str, dependency_steps: list[str], code_step: str
) -> None:
    result = changed_builds[image]
    for step in dependency_steps:
        assert result.step_cached(step), f"{image}: '{step}' was rebuilt after a source change:\n" + "\n".join(
            result.log[-40:])
    assert not result.step_cached(code_step), f"{image}: '{code_step}' came from the cache although code changed"


def _layer_findings(image_tar: Path, needles: list[bytes]) -> list[str]:
    """Every env file and every occurrence of a needle in any file of any layer of a saved image."""
    findings = []
    with tarfile.open(image_tar) as outer:
        for member in outer.getmembers():
            if not member.name.endswith("layer.tar"):
                continue
            layer = outer.extractfile(member)
            assert layer is not None
            with tarfile.open(fileobj=layer) as inner:
                for item in inner:
                    base = item.name.rsplit("/", 1)[-1]
                    if any(fnmatch.fnmatch(base, pattern) for pattern in ENV_FILE_PATTERNS):
                        findings.append(f"{member.name}: env file {item.name}")
                    if not item.isfile():
                        continue
                    data = inner.extractfile(item)
                    content = data.read() if data else b""
                    for needle in needles:
                        if needle in content:
                            findings.append(f"{member.name}: {item.name} contains {needle[:24]!r}...")
    return findings


# A string that is in the image for sure: proves the layer scan reads the files it should.
POSITIVE_CONTROL = {"backend": b"touched by tests/images", "frontend": b"todo-frontend"}


@pytest.mark.parametrize("image", ["backend", "frontend"])
def test_no_secret_or_env_file_in_any_layer(docker_client: Any, changed_builds: dict[str, BuiltImage],
                                             planted_secret: str, image: str, tmp_path: Path) -> None:
    tag = changed_builds[image].tag
    image_tar = tmp_path / "image.tar"
    with open(image_tar, "wb") as handle:
        for chunk in docker_client.images.get(tag).save(named=True):
            handle.write(chunk)
    control = POSITIVE_CONTROL[image]
    # The build-only CA bundle must stay in the dependency stage as well.
    needles = [planted_secret.encode(), b"build-extra-ca", control]
    findings = _layer_findings(image_tar, needles)
    assert any(repr(control[:24]) in finding for finding in findings), "the layer scan did not see the app's files"
    findings = [finding for finding in findings if repr(control[:24]) not in finding]
    assert not findings, "\n".join(findings)
    config = docker_client.images.get(tag).attrs["Config"]
    env_names = {entry.split("=", 1)[0] for entry in config.get("Env") or []}
    assert not env_names & {"DATABASE_URL", "JWT_SECRET", "OPENAI_API_KEY", "EXTRA_CA_CERTS"}, env_names
    history = " ".join(str(entry.get("CreatedBy", "")) for entry in docker_client.api.history(tag))
    assert planted_secret not in history and "BEGIN CERTIFICATE" not in history
