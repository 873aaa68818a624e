"""Real registries for the push tests: the Distribution registry built from its Go module (cached by
version), started on loopback in a private state folder, one instance per kind: TLS, TLS with basic auth,
plain HTTP. A tiny image built FROM scratch is what they push (seconds, no base image needed)."""

from __future__ import annotations

import base64
import io
import json
import secrets
import socket
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testcluster import registry as tc_registry
from testcluster.build import find_go
from testcluster.paths import Paths


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def registry_paths(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """The shared tool cache (the registry binary), a private state folder (certificates, storage)."""
    try:
        find_go()
    except Exception as exc:
        if not (Paths.default().bin_dir / "registry").exists():
            pytest.skip(f"no Go toolchain and no built registry: {exc}")
    return Paths(Paths.default().cache, state=tmp_path_factory.mktemp("registry-state"))


def _start(paths: Paths, name: str, **kwargs: Any) -> Iterator[tc_registry.RegistryInfo]:
    info = tc_registry.up(paths, name=name, port=free_port(), **kwargs)
    try:
        yield info
    finally:
        tc_registry.down(paths, name=name)


@pytest.fixture(scope="session")
def tls_registry(registry_paths: Paths) -> Iterator[tc_registry.RegistryInfo]:
    yield from _start(registry_paths, "tls")


@pytest.fixture(scope="session")
def auth_registry(registry_paths: Paths) -> Iterator[tc_registry.RegistryInfo]:
    yield from _start(registry_paths, "auth", auth=True)


@pytest.fixture(scope="session")
def plain_registry(registry_paths: Paths) -> Iterator[tc_registry.RegistryInfo]:
    yield from _start(registry_paths, "plain", plain_http=True)


def registry_credentials(info: tc_registry.RegistryInfo) -> dict[str, str]:
    return dict(json.loads(Path(info.credentials_file).read_text()))


def docker_login(folder: Path, auths: dict[str, tuple[str, str]]) -> None:
    """Write into `folder` the config.json `docker login HOST` writes (auths.HOST.auth = base64 of user:password);
    point DOCKER_CONFIG at `folder` to use it. An empty `auths` still shadows ~/.docker/config.json."""
    entries = {host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
               for host, (user, password) in auths.items()}
    (folder / "config.json").write_text(json.dumps({"auths": entries}))


def build_scratch_image(client: Any, tag: str, files: dict[str, bytes], base: str = "scratch") -> Any:
    """docker build of `FROM <base>` + one COPY per file, from an in-memory context."""
    dockerfile = f"FROM {base}\n" + "".join(f"COPY {name} /{name}\n" for name in files)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in {"Dockerfile": dockerfile.encode(), **files}.items():
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))
    buffer.seek(0)
    image, _ = client.images.build(fileobj=buffer, custom_context=True, tag=tag, rm=True, pull=False)
    return image


@pytest.fixture(scope="session")
def scratch_image(docker_client: Any) -> Iterator[str]:
    """A one-file image FROM scratch, unique to this session (so its first push really pushes)."""
    tag = f"todo-registry-test/hello:{secrets.token_hex(4)}"
    image = build_scratch_image(docker_client, tag, {"hello.txt": secrets.token_bytes(64)})
    yield tag
    remove_image_tags(docker_client, image.id)


def remove_image_tags(client: Any, image_id: str) -> None:
    """Every tag of an image this session built (its content is unique, so every tag is ours)."""
    for name in client.images.get(image_id).tags:
        client.images.remove(name, force=True)
