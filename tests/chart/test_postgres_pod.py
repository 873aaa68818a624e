"""The chart's in-cluster PostgreSQL as the rendered StatefulSet prescribes it, run on the real Docker engine with
the real todo-runbook/postgres image: its user, read-only root filesystem, dropped capabilities, emptyDirs, a volume
prepared the way fsGroup prepares it, PGDATA, credentials and readiness command all come from the render.
A kubelet is not needed to find out whether these settings and the image agree."""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chart.chart_tools import Helm, Manifests

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def rendered(helm3: Helm, offline_bases: dict[str, str]) -> Manifests:
    # The runbook sets the offline image when the official one cannot be pulled, as it is here.
    repository, tag = offline_bases["postgres"].rsplit(":", 1)
    return helm3.render_profile("dev", sets={"postgresql.auth.password": "Chart-Test-Pass-42",
                                             "postgresql.image.repository": repository,
                                             "postgresql.image.tag": tag})


@pytest.fixture
def data_volume() -> Iterator[Path]:
    """A host folder prepared like a volume under fsGroup: group-owned by the pod's fsGroup, setgid, writable."""
    folder = Path(tempfile.mkdtemp(prefix="chart-pgdata-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def run_database(docker_client: Any, rendered: Manifests, volume: Path, **run: Any) -> Any:
    statefulset = rendered.one("StatefulSet", "postgresql")
    pod = statefulset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    context, security = pod["securityContext"], container["securityContext"]
    secret = rendered.one("Secret", "postgresql")
    env = {}
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            key = item["valueFrom"]["secretKeyRef"]["key"]
            env[item["name"]] = base64.b64decode(secret["data"][key]).decode()
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    empty_dirs = [mounts[v["name"]] for v in pod["volumes"] if "emptyDir" in v]
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    os.chown(volume, 0, context["fsGroup"])
    volume.chmod(0o2775)
    assert security["capabilities"]["drop"] == ["ALL"] and security["allowPrivilegeEscalation"] is False
    return docker_client.containers.run(
        container["image"],
        detach=True,
        name=f"chart-pg-{uuid.uuid4().hex[:8]}",
        user=f"{context['runAsUser']}:{context['runAsGroup']}",
        group_add=[str(context["fsGroup"])],
        read_only=security["readOnlyRootFilesystem"],
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        tmpfs={path: f"rw,mode=2777,size=64m,gid={context['fsGroup']}" for path in empty_dirs},
        volumes={str(volume): {"bind": mounts[claim["metadata"]["name"]], "mode": "rw"}},
        environment=env,
        **run,
    )


def wait_ready(container: Any, command: list[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "exited":
            raise AssertionError(f"the database exited: {container.logs().decode()[-3000:]}")
        code, output = container.exec_run(command)
        if code == 0:
            return
        last = output.decode()
        time.sleep(1)
    raise AssertionError(f"readiness command never succeeded: {last}\n{container.logs().decode()[-3000:]}")


def query(container: Any, rendered: Manifests, sql: str) -> str:
    """Over TCP with the password, as the backend connects (the socket would trust the local user)."""
    env = {
        item["name"]: item.get("value")
        for item in rendered.one("StatefulSet", "postgresql")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    password = base64.b64decode(rendered.one("Secret", "postgresql")["data"]["POSTGRES_PASSWORD"]).decode()
    code, output = container.exec_run(
        ["psql", "-h", "127.0.0.1", "-U", env["POSTGRES_USER"], "-d", env["POSTGRES_DB"], "-tAc", sql],
        environment={"PGPASSWORD": password},
    )
    assert code == 0, output.decode()
    return output.decode().strip()


def test_rendered_database_pod_starts_serves_and_keeps_its_data(
    docker_client: Any, offline_bases: dict[str, str], rendered: Manifests, data_volume: Path
) -> None:
    container_spec = rendered.one("StatefulSet", "postgresql")["spec"]["template"]["spec"]["containers"][0]
    assert container_spec["image"] == offline_bases["postgres"], "the image the runbook sets is the one rendered"
    readiness = container_spec["readinessProbe"]["exec"]["command"]

    first = run_database(docker_client, rendered, data_volume)
    try:
        wait_ready(first, readiness)
        assert query(first, rendered, "select current_user || '@' || current_database()") == "todo@todo"
        query(first, rendered, "create table kept (v text); insert into kept values ('survives a restart')")
    finally:
        first.stop(timeout=30)
        first.remove(force=True)

    # A new pod on the same claim: initdb must not run again, and the password still works.
    second = run_database(docker_client, rendered, data_volume)
    try:
        wait_ready(second, readiness)
        assert query(second, rendered, "select v from kept") == "survives a restart"
        assert "initialised" not in second.logs().decode()
    finally:
        second.stop(timeout=30)
        second.remove(force=True)


def test_the_backend_waits_for_the_database_then_starts(
    docker_client: Any, rendered: Manifests, data_volume: Path
) -> None:
    """The backend's init container, as rendered and as the backend pod's user, keeps waiting while no database
    answers and finishes (exit 0) once the rendered database is ready, so the app never starts before it."""
    pod = rendered.one("Deployment", "backend")["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    env = {item["name"]: item["value"] for item in init["env"]}
    alias = f"pg-{uuid.uuid4().hex[:8]}"
    env["DATABASE_HOST"] = alias  # the Service's DNS name, on a Docker network
    network = docker_client.networks.create(f"chart-wait-{alias}")
    waiting = database = None
    try:
        waiting = docker_client.containers.run(
            init["image"], command=init["command"], detach=True, environment=env, network=network.name,
            user=f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}",
            read_only=init["securityContext"]["readOnlyRootFilesystem"], cap_drop=["ALL"],
            security_opt=["no-new-privileges"])
        time.sleep(4)
        waiting.reload()
        assert waiting.status == "running", f"finished with no database: {waiting.logs().decode()[-2000:]}"
        database = run_database(docker_client, rendered, data_volume)
        network.connect(database, aliases=[alias])
        outcome = waiting.wait(timeout=120)
        assert outcome["StatusCode"] == 0, waiting.logs().decode()[-2000:]
    finally:
        for container in (waiting, database):
            if container is not None:
                container.remove(force=True)
        network.remove()
