"""Load Docker images into the test bed node's containerd, the way minikube does for containerd.

``docker save <image> | ctr -n k8s.io --address <node socket> images import -``: the image lands in
containerd's ``k8s.io`` namespace (the one the CRI plugin and so the kubelet use), unpacked into the
overlayfs snapshotter, so pods with ``imagePullPolicy: IfNotPresent``/``Never`` start without a registry.

Each import labels the containerd image with the Docker image ID it came from; loading the same image
again finds that label and skips the copy (as ``kind load docker-image`` does), so a second run is quick.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from testcluster.errors import TestbedError

CONTAINERD_NAMESPACE = "k8s.io"
DOCKER_ID_LABEL = "todo-runbook.io/docker-image-id"


class ImageLoadError(TestbedError):
    """An image could not be saved from Docker or imported into the node's containerd."""


@dataclass(frozen=True)
class LoadResult:
    image: str
    reference: str  # the name containerd (and the kubelet) knows it by
    seconds: float
    bytes: int  # uncompressed image size as Docker reports it
    command: str  # what a person would type
    reused: bool = False  # the node already had this exact image (same Docker image ID): nothing was copied


def normalize_reference(image: str) -> str:
    """``todo-backend:dev`` -> ``docker.io/library/todo-backend:dev`` (how containerd names imported images)."""
    name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
    first = name.split("/", 1)[0]
    has_registry = "/" in name and ("." in first or ":" in first or first == "localhost")
    if not has_registry:
        name = f"docker.io/{name}" if "/" in name else f"docker.io/library/{name}"
    return f"{name}:{tag}"


def load_command(image: str, address: str, ctr: str = "ctr") -> str:
    return (
        f"docker save {shlex.quote(image)} | {ctr} -n {CONTAINERD_NAMESPACE} --address {shlex.quote(address)} "
        "images import -"
    )


def _ctr(address: str, ctr: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ctr, "-n", CONTAINERD_NAMESPACE, "--address", address, *args],
                          capture_output=True, text=True, check=False)


def docker_id_on_node(reference: str, address: str, ctr: str = "ctr") -> str:
    """The Docker image ID the node's copy of ``reference`` was imported from ("" if absent or unlabelled)."""
    listed = _ctr(address, ctr, "images", "ls", f"name=={reference}")
    for line in listed.stdout.splitlines()[1:]:  # REF TYPE DIGEST SIZE PLATFORMS LABELS
        fields = line.split()
        if fields and fields[0] == reference:
            labels = dict(item.partition("=")[::2] for item in fields[-1].split(","))
            return labels.get(DOCKER_ID_LABEL, "")
    return ""


def load_image(
    image: str, *, address: str, ctr: str = "ctr", docker: str = "docker", timeout: float = 900
) -> LoadResult:
    """Stream ``image`` from the Docker engine into the node's containerd; returns timing and size.

    An image the node already holds under the same name and Docker image ID is not copied again."""
    if not Path(address).exists():
        raise ImageLoadError(
            f"the node's containerd socket {address} does not exist: start the test bed node first "
            "(`python -m testcluster up`)."
        )
    inspect = subprocess.run(
        [docker, "image", "inspect", "--format", "{{.Id}} {{.Size}}", image], capture_output=True, text=True
    )
    if inspect.returncode != 0:
        raise ImageLoadError(
            f"image {image!r} is not in the Docker engine ({inspect.stderr.strip()}); build it first "
            f"(e.g. `docker build -t {image} ...`)."
        )
    docker_id, _, size_text = inspect.stdout.strip().partition(" ")
    size = int(size_text or 0)
    reference = normalize_reference(image)
    start = time.monotonic()
    if docker_id_on_node(reference, address, ctr) == docker_id:
        return LoadResult(image, reference, time.monotonic() - start, size, load_command(image, address, ctr),
                          reused=True)
    # Chained like the shell pipeline: docker's stdout is ctr's stdin, no copy through Python.
    save = subprocess.Popen([docker, "save", image], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    imp = subprocess.Popen(
        [ctr, "-n", CONTAINERD_NAMESPACE, "--address", address, "images", "import", "-"],
        stdin=save.stdout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    assert save.stdout is not None
    save.stdout.close()  # ctr holds the read end now; docker gets SIGPIPE if ctr dies
    try:
        import_out = imp.communicate(timeout=timeout)[0].decode(errors="replace")
        save_err = save.communicate(timeout=60)[1].decode(errors="replace")
    except subprocess.TimeoutExpired as error:
        save.kill()
        imp.kill()
        raise ImageLoadError(f"loading {image} into {address} timed out after {timeout:.0f}s") from error
    if save.returncode != 0:
        raise ImageLoadError(f"`docker save {image}` failed: {save_err.strip()}")
    if imp.returncode != 0:
        raise ImageLoadError(f"`ctr images import` of {image} failed: {import_out.strip()}")
    # The label doubles as the check that the import registered the name the kubelet will ask for.
    labelled = _ctr(address, ctr, "images", "label", reference, f"{DOCKER_ID_LABEL}={docker_id}")
    if labelled.returncode != 0:
        raise ImageLoadError(
            f"import of {image} finished but containerd does not know {reference}: "
            f"{(labelled.stdout + labelled.stderr).strip()} {import_out.strip()}"
        )
    return LoadResult(image, reference, time.monotonic() - start, size, load_command(image, address, ctr))


def list_images(address: str, ctr: str = "ctr") -> list[str]:
    listed = _ctr(address, ctr, "images", "ls", "-q")
    listed.check_returncode()
    return [line for line in listed.stdout.split() if not line.startswith("sha256:")]
