"""Pushing to the registry and proving the pods run what was pushed.

`push` sends one local image to the registry with the Docker engine (progress per layer; layers the registry
has are not sent again, an image whose tag already has this digest is not pushed at all) and records its
digest. `ensure_pull_secret` makes the kubernetes.io/dockerconfigjson Secret the pods pull with, through the
API (never a command line or a file). `match_digests` compares the pods' image IDs with the pushed digests.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import shell
from .kube import ensure_namespace
from .progress import Progress
from .registry import MANIFEST_TYPES, Credentials, Registry, RegistryError, authorization, http_get, tls_context
from .timing import Timer


@dataclass
class PushOutcome:
    image: str  # the reference under the registry
    source: str  # the local image it was tagged from
    digest: str  # sha256:... of the manifest the registry holds
    method: str  # "pushed" | "already in the registry (same digest): not pushed"
    seconds: float
    layers_pushed: int = 0
    layers_existing: int = 0
    command: str = ""

    def as_load(self) -> dict[str, Any]:
        """The load step's per-image record."""
        return {"image": self.image, "source": self.source, "digest": self.digest, "method": self.method,
                "seconds": self.seconds, "layers_pushed": self.layers_pushed,
                "layers_existing": self.layers_existing, "command": self.command,
                "reused": self.method != "pushed"}


def remote_digest(registry: Registry, reference: str, creds: Credentials | None, timeout: float = 20) -> str:
    """The digest the registry serves for `HOST/PREFIX/name:tag` ("" when it has no such tag)."""
    repository, _, tag = reference[len(registry.host) + 1:].rpartition(":")
    context, _ = tls_context(registry)
    url = f"https://{registry.host}/v2/{repository}/manifests/{tag}"
    headers = {"Accept": MANIFEST_TYPES}
    status, answer, _ = http_get(url, context, timeout, headers)
    if status == 401:
        header = authorization(registry, creds, answer.get("WWW-Authenticate", ""), context, timeout,
                               scope=f"repository:{repository}:pull")
        status, answer, _ = http_get(url, context, timeout, {**headers, "Authorization": header}) if header else \
            (401, answer, b"")
    if status == 200:
        return str(answer.get("Docker-Content-Digest", ""))
    if status == 404:
        return ""
    raise RegistryError(f"registry {registry.host} answered HTTP {status} for the manifest of {reference}",
                        "check the credentials' pull rights on that repository")


def _tag_under(client: Any, registry: Registry, source: str) -> tuple[Any, str]:
    image = client.images.get(source)
    target = registry.reference(source)
    repository, _, tag = target.rpartition(":")
    image.tag(repository, tag=tag)
    return image, target


def push(client: Any, registry: Registry, source: str, creds: Credentials | None,
         progress: Progress = lambda _: None) -> PushOutcome:
    """Push one local image under the registry; skip it when the registry already serves this exact image."""
    with Timer() as timer:
        image, target = _tag_under(client, registry, source)
        repository, _, tag = target.rpartition(":")
        command = f"docker push {target}"
        have = remote_digest(registry, target, creds)
        if have and f"{repository}@{have}" in (image.attrs.get("RepoDigests") or []):
            progress(f"{target}: the registry already has it ({have[:19]}): not pushed")
            return PushOutcome(target, source, have, "already in the registry (same digest): not pushed",
                               round(timer.elapsed, 3), command=command)
        pushed, existing, digest = _stream_push(client, repository, tag, creds, progress)
    served = remote_digest(registry, target, creds)
    if not digest or served != digest:
        raise RegistryError(f"pushing {target} finished, but the registry serves digest {served or 'none'} for it, "
                            f"not the pushed {digest or '(none reported)'}",
                            "push again; if it repeats, check the registry's storage and logs")
    return PushOutcome(target, source, digest, "pushed", round(timer.seconds, 3), pushed, existing, command)


def _stream_push(client: Any, repository: str, tag: str, creds: Credentials | None,
                 progress: Progress) -> tuple[int, int, str]:
    """docker push with per-layer progress; returns (layers pushed, layers the registry had, digest)."""
    auth = creds.docker_auth() if creds else None
    pushed: set[str] = set()
    existing: set[str] = set()
    digest = ""
    last: dict[str, str] = {}  # layer -> its last status
    for chunk in client.api.push(repository, tag=tag, stream=True, decode=True, auth_config=auth):
        if "error" in chunk:
            detail = (chunk.get("errorDetail") or {}).get("message") or chunk["error"]
            raise RegistryError(f"pushing {repository}:{tag} failed: {shell.mask(str(detail))}",
                                "check the registry's credentials and space; nothing was recorded as pushed")
        status, layer = str(chunk.get("status", "")), str(chunk.get("id", ""))
        if status == "Layer already exists" or status.startswith("Mounted from"):  # not sent again
            existing.add(layer)
        elif status == "Pushed":
            pushed.add(layer)
        aux = chunk.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            digest = str(aux["Digest"])
        if layer and status and last.get(layer) != status:  # one line per layer state, not per byte
            last[layer] = status
            progress(f"{repository}:{tag} layer {layer}: {status}")
    return len(pushed), len(existing), digest


# ------------------------------------------------------------------------------------------------
# The pull secret and the proof


def pull_secret_name(release: str) -> str:
    return f"{release}-registry"


def ensure_pull_secret(api: Any, namespace: str, name: str, registry: Registry, creds: Credentials) -> None:
    """Create or replace the kubernetes.io/dockerconfigjson Secret; the namespace is created when missing."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(api)
    ensure_namespace(core, namespace)
    config = {"auths": {registry.host: {"username": creds.username, "password": creds.password,
                                        "auth": creds.basic()}}}
    data: dict[str, bytes | str] = {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}
    body = client.V1Secret(metadata=client.V1ObjectMeta(name=name, labels={"app.kubernetes.io/managed-by":
                                                                          "todo-runbook"}),
                           type="kubernetes.io/dockerconfigjson", data=data)
    try:
        core.replace_namespaced_secret(name, namespace, body)
    except ApiException as exc:
        if exc.status != 404:
            raise
        core.create_namespaced_secret(namespace, body)


@dataclass
class DigestMatch:
    pod: str
    container: str
    image: str
    image_id: str
    pushed_digest: str
    matches: bool


@dataclass
class DigestReport:
    registry: str
    containers: list[DigestMatch] = field(default_factory=list)

    @property
    def all_match(self) -> bool | None:
        return all(c.matches for c in self.containers) if self.containers else None


def match_digests(registry: str, pods: Iterable[Mapping[str, Any]], pushed: Mapping[str, str]) -> DigestReport:
    """Each running container of an image under the registry: does its image ID carry the pushed digest?"""
    report = DigestReport(registry)
    for pod in pods:
        # The image the pod asked for (status.image may name another tag of the same image on the node).
        asked = {c.get("name"): c.get("image") for c in (pod.get("spec") or {}).get("containers") or []}
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            image = str(asked.get(status.get("name")) or status.get("image", ""))
            if not image.startswith(registry + "/"):
                continue
            image_id = str(status.get("imageID", ""))
            digest = pushed.get(image, "")
            report.containers.append(DigestMatch(pod["metadata"]["name"], str(status.get("name", "")), image,
                                                 image_id, digest, bool(digest) and image_id.endswith("@" + digest)))
    return report
