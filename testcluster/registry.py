"""A real registry for the test bed: the CNCF Distribution registry, built from its Go module, on loopback.

``up`` serves it over TLS with a certificate from the test bed's own registry CA (``pki/registry-ca.crt``),
optionally with basic auth (an htpasswd file with a bcrypt hash, a random password kept in a 0600 file), and
makes both clients trust that CA: the Docker engine (``/etc/docker/certs.d/HOST:PORT/ca.crt``, read on every
push) and the node's containerd (``registry-hosts/HOST:PORT/hosts.toml``, the CRI plugin's ``config_path``,
read on every pull). Nothing is imported into the node on this path: the kubelet pulls.

Several instances may run side by side (``name``): each has its own folder, port, storage and pidfile.
``plain_http`` serves without TLS, only to prove that the runbook refuses such a registry.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import ssl
import sys
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

import yaml

from testcluster import procs
from testcluster.build import build
from testcluster.node_components import REGISTRY
from testcluster.node_layout import NodeLayout
from testcluster.paths import Paths
from testcluster.pki import Pki, write_private_file

DEFAULT_PORT = 5443
USERNAME = "todo"
DOCKER_CERTS_DIR = Path("/etc/docker/certs.d")


@dataclass
class RegistryInfo:
    name: str
    address: str  # 127.0.0.1:PORT
    tls: bool
    auth: bool
    ca: str  # the CA that signed its certificate ("" without TLS)
    credentials_file: str  # {"username", "password"} (0600), "" without auth
    pid: int
    log: str
    storage: str


def folder(paths: Paths, name: str) -> Path:
    return paths.cluster_dir / "registries" / name


def pidfile(paths: Paths, name: str) -> Path:
    return folder(paths, name) / "registry.pid"


def config_document(paths: Paths, name: str, port: int, *, tls: bool, auth: bool) -> dict[str, object]:
    base = folder(paths, name)
    http: dict[str, object] = {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16),
                               "headers": {"X-Content-Type-Options": ["nosniff"]}}
    if tls:
        serving = Pki(paths.pki_dir).pair(f"registry-{name}")
        http["tls"] = {"certificate": str(serving.cert), "key": str(serving.key)}
    document: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text"},
        "storage": {"filesystem": {"rootdirectory": str(base / "data")}, "delete": {"enabled": True}},
        "http": http,
    }
    if auth:
        document["auth"] = {"htpasswd": {"realm": f"todo-testbed-{name}", "path": str(base / "htpasswd")}}
    return document


def write_credentials(paths: Paths, name: str) -> Path:
    """A fresh random password for USERNAME: its bcrypt hash in htpasswd, the password in a 0600 file."""
    import bcrypt

    base = folder(paths, name)
    password = secrets.token_urlsafe(18)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    write_private_file(base / "htpasswd", f"{USERNAME}:{hashed}\n")
    credentials = base / "credentials.json"
    write_private_file(credentials, json.dumps({"username": USERNAME, "password": password}) + "\n")
    return credentials


def trust(paths: Paths, address: str, ca: Path) -> None:
    """Make the Docker engine (certs.d) and the node's containerd (hosts.toml) trust the registry's CA."""
    hosts = NodeLayout(paths).registry_hosts_dir / address / "hosts.toml"
    hosts.parent.mkdir(parents=True, exist_ok=True)
    hosts.write_text(f'# Written by testcluster/registry.py: the test bed registry, over TLS with its own CA.\n'
                     f'server = "https://{address}"\n\n[host."https://{address}"]\n'
                     f'  capabilities = ["pull", "resolve"]\n  ca = "{ca}"\n')
    docker_ca = DOCKER_CERTS_DIR / address / "ca.crt"
    try:
        docker_ca.parent.mkdir(parents=True, exist_ok=True)
        docker_ca.write_bytes(ca.read_bytes())
    except PermissionError:  # not root: the engine still pushes to loopback (an insecure registry by default)
        pass


def answers(address: str, ca: Path | None) -> bool:
    """GET /v2/ answers (200, or 401 with auth) over TLS verified by ``ca`` (plain HTTP without one)."""
    context = ssl.create_default_context(cafile=str(ca)) if ca else None
    scheme = "https" if ca else "http"
    try:
        with urllib.request.urlopen(f"{scheme}://{address}/v2/", timeout=3, context=context) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as error:
        return error.code == 401


def up(paths: Paths | None = None, *, name: str = "registry", port: int = DEFAULT_PORT, auth: bool = False,
       plain_http: bool = False, out: TextIO = sys.stdout) -> RegistryInfo:
    """Build (cached) and start one registry; idempotent for a running one with the same settings."""
    paths = paths or Paths.default()
    build([REGISTRY], paths=paths, out=out)
    base = folder(paths, name)
    (base / "data").mkdir(parents=True, exist_ok=True)
    address = f"127.0.0.1:{port}"
    ca: Path | None = None
    if not plain_http:
        pki = Pki(paths.pki_dir)
        ca_pair = pki.ensure_ca("registry-ca", "todo-testbed registry CA")
        pki.issue(f"registry-{name}", ca=ca_pair, common_name=f"todo-testbed {name}",
                  hosts=["127.0.0.1", "localhost"], client=False, server=True)
        ca = ca_pair.cert
        trust(paths, address, ca)
    credentials = write_credentials(paths, name) if auth else None
    config = base / "config.yml"  # private: it holds the registry's own http.secret
    write_private_file(config, yaml.safe_dump(config_document(paths, name, port, tls=not plain_http, auth=auth)))
    recorded = procs.read_pidfile(pidfile(paths, name))
    if recorded is not None and recorded.alive():  # new password or certificate: start it again
        procs.stop(recorded)
    recorded = procs.start(name, [str(paths.binary("registry")), "serve", str(config)],
                           pidfile=pidfile(paths, name), logfile=base / "registry.log")
    procs.wait_until(lambda: answers(address, ca), what=f"registry {name} on {address}", timeout=60, watch=recorded)
    info = RegistryInfo(name, address, not plain_http, auth, str(ca or ""), str(credentials or ""), recorded.pid,
                        recorded.log, str(base / "data"))
    (base / "registry.json").write_text(json.dumps(asdict(info), indent=2) + "\n")
    return info


def down(paths: Paths | None = None, *, name: str = "registry") -> bool:
    """Stop it (by its pidfile) and withdraw the trust ``up`` gave it; the stored images stay for the next
    ``up``. True when one was running."""
    paths = paths or Paths.default()
    stopped = procs.stop_pidfile(pidfile(paths, name))
    try:
        info = json.loads((folder(paths, name) / "registry.json").read_text())
    except (OSError, ValueError):
        return stopped
    if info.get("ca"):
        hosts = NodeLayout(paths).registry_hosts_dir / info["address"]
        shutil.rmtree(hosts, ignore_errors=True)
        docker_ca = DOCKER_CERTS_DIR / info["address"] / "ca.crt"
        with contextlib.suppress(OSError):  # only the file `up` wrote: the same CA
            if docker_ca.read_bytes() == Path(info["ca"]).read_bytes():
                docker_ca.unlink()
                docker_ca.parent.rmdir()
    return stopped


def status(paths: Paths | None = None) -> list[dict[str, object]]:
    paths = paths or Paths.default()
    found = []
    for state in sorted((paths.cluster_dir / "registries").glob("*/registry.json")):
        info = json.loads(state.read_text())
        recorded = procs.read_pidfile(state.parent / "registry.pid")
        found.append({**info, "running": bool(recorded and recorded.alive())})
    return found
