"""Fixtures for the image tests: both app images built cold on the offline bases, a Docker network
with a real PostgreSQL (the offline postgres image), and helpers to run containers like the chart does."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dockerfiles.image_build import BuiltImage, build_image

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_ID = uuid.uuid4().hex[:8]


@dataclass
class Database:
    container: Any
    network: str
    host: str
    user: str
    password: str
    dbname: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:5432/{self.dbname}"


def _app_present(image: str) -> None:
    markers = {"backend": "app/main.py", "frontend": "package-lock.json"}
    if not (REPO_ROOT / "apps" / image / markers[image]).exists():
        pytest.fail(f"apps/{image}/{markers[image]} is missing: the {image} application is not in the checkout")


@pytest.fixture(scope="session")
def cold_builds(docker_client: Any, offline_bases: dict[str, str]) -> dict[str, BuiltImage]:
    """Both images built without cache on the offline bases (tags todo-<image>:imgtest-<run>)."""
    results = {}
    for image in ("backend", "frontend"):
        _app_present(image)
        results[image] = build_image(docker_client, image, f"todo-{image}:imgtest-{RUN_ID}", prefer_bases="offline",
                                     nocache=True)
    yield results
    for result in results.values():
        # best effort: a failed test may still hold a container of the image
        with contextlib.suppress(Exception):
            docker_client.images.remove(result.tag, force=True)


@pytest.fixture(scope="session")
def test_network(docker_client: Any) -> Iterator[str]:
    name = f"todo-imgtest-{RUN_ID}"
    network = docker_client.networks.create(name, driver="bridge")
    yield name
    network.reload()
    for container in network.containers:
        container.remove(force=True)
    network.remove()


@pytest.fixture(scope="session")
def database(docker_client: Any, offline_bases: dict[str, str], test_network: str) -> Iterator[Database]:
    """PostgreSQL from the offline postgres image, reachable as host `db-<run>` on the test network."""
    import psycopg

    db = Database(None, test_network, f"db-{RUN_ID}", "todo", secrets.token_hex(16), "todo")
    db.container = docker_client.containers.run(
        offline_bases["postgres"], detach=True, name=db.host, network=test_network,
        environment={"POSTGRES_USER": db.user, "POSTGRES_PASSWORD": db.password, "POSTGRES_DB": db.dbname},
    )
    db.container.reload()
    ip = db.container.attrs["NetworkSettings"]["Networks"][test_network]["IPAddress"]
    deadline = time.monotonic() + 60
    while True:
        try:
            psycopg.connect(host=ip, user=db.user, password=db.password, dbname=db.dbname, connect_timeout=2).close()
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                pytest.fail("PostgreSQL container did not accept connections:\n" + db.container.logs().decode())
            time.sleep(0.5)
    yield db
    db.container.remove(force=True)


def copy_context(image: str, destination: Path) -> Path:
    """A copy of apps/<image> (without local build products) to change without touching the checkout."""
    ignore = shutil.ignore_patterns("node_modules", ".next", "__pycache__", ".venv", "*.tsbuildinfo")
    target = destination / image
    shutil.copytree(REPO_ROOT / "apps" / image, target, ignore=ignore)
    return target
