"""Put the images on the cluster's nodes: the two we built plus any other image the chart runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import registry, shell
from .config import RunbookConfig
from .deploy import chart_images
from .progress import Progress
from .providers import ClusterTarget, load_image


@dataclass
class LoadResult:
    provider: str
    reason: str
    context: str
    method: str
    images: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    not_local: list[str] = field(default_factory=list)
    commands: list[dict[str, str]] = field(default_factory=list)
    registry: str = ""  # HOST[:PORT]/PREFIX the images were pushed to; empty: loaded into the nodes
    credentials_from: str = ""  # where the registry credentials came from (never the values)


def _local_images(names: list[str]) -> tuple[list[str], list[str]]:
    """Split into images the local engine has and those it lacks (the nodes must pull those)."""
    import docker

    from .build import docker_client

    client = docker_client()
    have, lack = [], []
    for name in names:
        try:
            client.images.get(name)
            have.append(name)
        except docker.errors.ImageNotFound:
            lack.append(name)
    return have, lack


def load_images(target: ClusterTarget, config: RunbookConfig, built: Mapping[str, str],
                progress: Progress = lambda _: None) -> LoadResult:
    from .build import OFFLINE_IMAGES, ensure_offline_images

    wanted = sorted(set(built.values()) | set(chart_images(target, config, built)))
    pushing = registry.parse(config.registry) if config.registry else None
    if pushing:  # the local images the registry's references were (or will be) tagged from
        wanted = sorted({pushing.local_source(image) for image in wanted})
    have, lack = _local_images(wanted)
    offline = sorted({OFFLINE_IMAGES[i] for i in lack if i in OFFLINE_IMAGES})
    built_bases = []
    if offline:  # e.g. the in-cluster PostgreSQL of the dev profile, on a machine that never built it
        built_bases.append(ensure_offline_images(offline, progress))
        have, lack = _local_images(wanted)
    result = LoadResult(target.provider, target.reason, target.context, target.load_method, not_local=lack,
                        commands=list(target.commands))
    result.commands += [shell.recorded(c, "build the offline images the chart runs") for c in built_bases]
    if pushing:
        return push_images(result, pushing, have, progress)
    for image in have:
        progress(f"loading {image} via {target.load_method}")
        outcome = load_image(target, image, config)
        result.images.append(outcome)
        result.seconds += outcome.get("seconds") or 0.0
        if outcome.get("command"):
            result.commands.append(shell.recorded(outcome["command"], f"make {image} available to the nodes"))
    result.seconds = round(result.seconds, 3)
    return result


def push_images(result: LoadResult, pushing: registry.Registry, images: list[str], progress: Progress) -> LoadResult:
    """The registry path: push each image (the nodes pull it); nothing is loaded into a node."""
    from . import registry_push
    from .build import docker_client

    creds = registry.credentials(pushing)
    registry.check(pushing, creds)  # the runner's preflight did too; a notebook run alone gets the same clear error
    result.registry, result.credentials_from = pushing.base, creds.source if creds else ""
    result.method = f"push to {pushing.base}; the nodes pull"
    client = docker_client()
    for image in images:
        progress(f"pushing {image} to {pushing.base}")
        outcome = registry_push.push(client, pushing, image, creds, progress)
        result.images.append(outcome.as_load())
        result.seconds += outcome.seconds
        result.commands.append(shell.recorded(outcome.command, f"push {image} to the registry"))
    result.seconds = round(result.seconds, 3)
    return result
