"""A user's own backend, written the Phase III way, built with our Dockerfile by build arguments alone.

tests/fixtures/phase3-backend has main.py at the top (entry ``main:app``), requirements.txt, its own
routes under /api/{user_id}/tasks, BETTER_AUTH_SECRET and DATABASE_URL, and /healthz + /readyz.
"""

from __future__ import annotations

import json
import secrets
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from dockerfiles import build_args
from dockerfiles.image_build import build_image, chart_like_run_kwargs, image_facts, start_to_ready, wait_for_http

from .conftest import RUN_ID, Database

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "phase3-backend"
REPO_ROOT = Path(__file__).resolve().parents[2]
PHASE3_ARGS = {"APP_MODULE": "main:app", "APP_PORT": "8080", "HEALTH_PATH": "/healthz", "READY_PATH": "/readyz"}


def _copy_fixture(tmp_path: Path) -> Path:
    target = tmp_path / "phase3-backend"
    shutil.copytree(FIXTURE, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


# ------------------------------------------------------------------ checked before any build


def test_source_checks_accept_both_layouts() -> None:
    ours = build_args.check_backend_source(REPO_ROOT / "apps" / "backend")
    assert (ours.dependency_files, ours.app_sources) == (("requirements.lock",), "app")
    theirs = build_args.check_backend_source(FIXTURE, "main:app")
    assert (theirs.dependency_files, theirs.app_sources) == (("requirements.txt",), ".")
    assert theirs.module_file == FIXTURE / "main.py"


def test_uv_lock_with_pyproject_is_a_dependency_file(tmp_path: Path) -> None:
    source = _copy_fixture(tmp_path)
    (source / "requirements.txt").unlink()
    (source / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0"\n')
    with pytest.raises(build_args.BackendSourceError, match=r"pyproject\.toml is there but uv\.lock is not"):
        build_args.check_backend_source(source, "main:app")
    (source / "uv.lock").write_text("version = 1\n")
    assert build_args.check_backend_source(source, "main:app").dependency_files == ("pyproject.toml", "uv.lock")


def test_no_dependency_file_names_the_path_the_files_and_the_fix(tmp_path: Path) -> None:
    source = _copy_fixture(tmp_path)
    (source / "requirements.txt").unlink()
    with pytest.raises(build_args.BackendSourceError) as caught:
        # client=None: the refusal must come before anything talks to Docker
        build_image(None, "backend", "never-built", prefer_bases="offline", context=source,
                    extra_args={"APP_MODULE": "main:app"})
    error = caught.value
    assert str(source) in error.problem
    assert "requirements.lock, requirements.txt, or pyproject.toml with uv.lock" in error.problem
    assert "uv lock" in error.fix and "backend_src" in error.fix


def test_missing_entry_module_names_what_was_expected(tmp_path: Path) -> None:
    source = _copy_fixture(tmp_path)
    with pytest.raises(build_args.BackendSourceError) as caught:
        build_image(None, "backend", "never-built", prefer_bases="offline", context=source)  # default app.main:app
    assert "app/main.py" in caught.value.problem and str(source) in caught.value.problem
    assert "backend_module" in caught.value.fix and "main:app" in caught.value.fix
    with pytest.raises(build_args.BackendSourceError, match="never mentions 'application'"):
        build_args.check_backend_source(source, "main:application")
    with pytest.raises(build_args.BackendSourceError, match=r"package\.module:attribute"):
        build_args.check_backend_source(source, "main")


def test_runbook_turns_a_bad_source_into_a_runbook_error(tmp_path: Path) -> None:
    from todo_runbook.build import backend_app_buildargs
    from todo_runbook.config import RunbookConfig
    from todo_runbook.errors import ImageBuildError

    source = _copy_fixture(tmp_path)
    config = RunbookConfig.from_mapping({"backend_src": str(source), "backend_module": "main:app",
                                         "backend_port": 8080, "backend_health_path": "/healthz"})
    args = backend_app_buildargs(config, source)
    assert args == {"APP_SOURCES": ".", "APP_MODULE": "main:app", "APP_PORT": "8080", "HEALTH_PATH": "/healthz",
                    "READY_PATH": "/ready"}
    (source / "main.py").unlink()
    with pytest.raises(ImageBuildError) as caught:
        backend_app_buildargs(config, source)
    assert "main.py" in caught.value.problem and "backend_module" in caught.value.remedy


# ------------------------------------------------------------------ built and run for real


@pytest.fixture(scope="module")
def phase3_image(docker_client: Any, offline_bases: dict[str, str]) -> Any:
    # bases=auto as a user would: official base pulled, or (no registry here) the offline one, with the reason
    result = build_image(docker_client, "backend", f"phase3-backend:imgtest-{RUN_ID}", bases="auto",
                         context=FIXTURE, extra_args=PHASE3_ARGS)
    yield result
    docker_client.images.remove(result.tag, force=True)


def _call(method: str, url: str, token: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


@pytest.mark.docker
@pytest.mark.slow
def test_phase3_app_builds_by_parameters_and_serves_its_own_routes(
    docker_client: Any, phase3_image: Any, database: Database
) -> None:
    import jwt

    choice = phase3_image.base_choice
    if choice.source in ("offline-local", "offline-built"):  # this machine: no registry answers
        assert choice.reason.startswith("pulling python:3.11-slim failed"), choice
        assert phase3_image.summary()["base_choice"]["reason"] == choice.reason
    facts = image_facts(docker_client, phase3_image.tag)
    assert facts.user == "10001:10001"
    assert facts.labels["org.todo-runbook.health-path"] == "/healthz"
    assert facts.labels["org.todo-runbook.port"] == "8080"
    secret = secrets.token_urlsafe(32)
    env = {"DATABASE_URL": database.url, "BETTER_AUTH_SECRET": secret}
    container, _seconds = start_to_ready(docker_client, phase3_image.tag, env, 8080, "/healthz",
                                         name=f"phase3-{RUN_ID}", **chart_like_run_kwargs(database.network))
    try:
        wait_for_http(container, 8080, "/readyz", timeout=30)
        status = container.exec_run(["python", "-c", "print(open('/proc/1/status').read())"]).output.decode()
        assert next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1] == "10001"
        # The image's own HEALTHCHECK probes the configured port and path.
        assert container.exec_run(facts.healthcheck[1:]).exit_code == 0
        ip = container.attrs["NetworkSettings"]["Networks"][database.network]["IPAddress"]
        base = f"http://{ip}:8080/api/user-{RUN_ID}/tasks"
        token = jwt.encode({"sub": f"user-{RUN_ID}"}, secret, algorithm="HS256")
        assert _call("POST", base, token, {"title": "buy milk"})[0] == 201
        code, tasks = _call("GET", base, token)
        assert code == 200 and [t["title"] for t in tasks] == ["buy milk"]
        other = jwt.encode({"sub": "someone-else"}, secret, algorithm="HS256")
        assert _call("GET", base, other)[0] == 403
        assert _call("GET", base, jwt.encode({"sub": f"user-{RUN_ID}"}, "wrong-secret-" * 3))[0] == 401
    finally:
        container.remove(force=True)


def _uv_locked_copy(tmp_path: Path) -> Path:
    """The fixture as a uv project: pyproject.toml + uv.lock (locked now with uv from the package index,
    so no index URL is stored in the repository), without requirements.txt."""
    import subprocess
    import sys

    source = _copy_fixture(tmp_path)
    (source / "requirements.txt").unlink()
    deps = [line.strip() for line in (FIXTURE / "requirements.txt").read_text().splitlines() if line.strip()]
    (source / "pyproject.toml").write_text(
        '[project]\nname = "phase3-backend"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        f"dependencies = {json.dumps(deps)}\n\n[dependency-groups]\ndev = [\"pytest>=8\"]\n")
    tool = tmp_path / "uv-tool"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(tool), "uv==0.13.9"], check=True,
                   timeout=600)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    index = build_args.pip_config({}).get("PIP_INDEX_URL")
    if index:
        env["UV_DEFAULT_INDEX"] = index
    subprocess.run([str(tool / "bin" / "uv"), "lock", "--system-certs", "--python", sys.executable], cwd=source,
                   env=env, check=True, timeout=600, capture_output=True)
    return source


@pytest.mark.docker
@pytest.mark.slow
def test_phase3_app_from_pyproject_and_uv_lock(docker_client: Any, offline_bases: dict[str, str],
                                               tmp_path: Path) -> None:
    source = _uv_locked_copy(tmp_path)
    assert build_args.check_backend_source(source, "main:app").dependency_files == ("pyproject.toml", "uv.lock")
    result = build_image(docker_client, "backend", f"phase3-backend:imgtest-uv-{RUN_ID}", bases="offline",
                         context=source, extra_args=PHASE3_ARGS)
    try:
        assert any("uv export --frozen --no-dev" in line for line in result.log) or any(
            "uv export" in step.instruction for step in result.steps)
        # The dev group stays out; the locked runtime packages are in; the app starts on its port.
        listing = docker_client.containers.run(
            result.tag, ["-c", "import importlib.util as u; print(u.find_spec('pytest') is None, "
                         "u.find_spec('sqlmodel') is not None)"], entrypoint="python", remove=True).decode()
        assert listing.split() == ["True", "True"], listing
        container, _ = start_to_ready(docker_client, result.tag, {"DATABASE_URL": "sqlite:////tmp/x.db",
                                                                  "BETTER_AUTH_SECRET": "s" * 32},
                                      8080, "/healthz", **chart_like_run_kwargs())
        container.remove(force=True)
    finally:
        docker_client.images.remove(result.tag, force=True)


@pytest.mark.docker
@pytest.mark.slow
def test_a_health_path_the_app_does_not_serve_stops_the_build_step_with_the_fix(
    docker_client: Any, phase3_image: Any, offline_bases: dict[str, str]
) -> None:
    from todo_runbook.build import ImageBuild, missing_route_error, smoke_run
    from todo_runbook.config import RunbookConfig

    config = RunbookConfig.from_mapping({"backend_port": 8080, "backend_health_path": "/health",
                                         "backend_jwt_secret_env": "BETTER_AUTH_SECRET"})
    database = offline_bases["postgres"]  # the app creates its tables at start-up: a real throwaway database
    build = ImageBuild(component="backend", image="phase3-backend", tag="t", ref=phase3_image.tag, image_id="",
                       size_mb=0.0, layers=0, seconds=0.0, steps=0, cache_hits=0, base_images={}, base_source="",
                       user="", command="")
    smoke = smoke_run(docker_client, build, timeout=60, config=config, database_image=database)
    # The app is up and answers 404 at once: no waiting out the timeout, and the step names the parameter.
    assert not smoke.ok and smoke.path_not_found, smoke
    assert "404" in smoke.detail
    build.smoke = smoke
    error = missing_route_error(build, config)
    assert "backend_health_path=/health" in error.problem and "backend_health_path=" in error.remedy
    right = smoke_run(docker_client, build, timeout=60, database_image=database,
                      config=RunbookConfig.from_mapping({"backend_port": 8080, "backend_health_path": "/healthz",
                                                         "backend_jwt_secret_env": "BETTER_AUTH_SECRET"}))
    assert right.ok and not right.path_not_found, right
