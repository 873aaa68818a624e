"""Put the images on the cluster's nodes: the two we built plus any other image the chart runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import shell
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
    have, lack = _local_images(wanted)
    offline = sorted({OFFLINE_IMAGES[i] for i in lack if i in OFFLINE_IMAGES})
    built_bases = []
    if offline:  # e.g. the in-cluster PostgreSQL of the dev profile, on a machine that never built it
        built_bases.append(ensure_offline_images(offline, progress))
        have, lack = _local_images(wanted)
    result = LoadResult(target.provider, target.reason, target.context, target.load_method, not_local=lack,
                        commands=list(target.commands))
    result.commands += [shell.recorded(c, "build the offline images the chart runs") for c in built_bases]
    for image in have:
        progress(f"loading {image} via {target.load_method}")
        outcome = load_image(target, image, config)
        result.images.append(outcome)
        result.seconds += outcome.get("seconds") or 0.0
        if outcome.get("command"):
            result.commands.append(shell.recorded(outcome["command"], f"make {image} available to the nodes"))
    result.seconds = round(result.seconds, 3)
    return result
