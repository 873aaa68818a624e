"""containerd pulls from the test bed registry with the hosts.toml `registry up` writes (the CA) and the
credentials: a private containerd (own socket, root and state under a temp folder, not the test bed's node)
and `ctr images pull --hosts-dir`, which resolves hosts the way the node's CRI plugin does with config_path."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from testcluster.node_layout import NodeLayout
from todo_runbook import registry, registry_push

from .conftest import registry_credentials
from .test_push import at

pytestmark = [pytest.mark.docker]


@pytest.fixture
def private_containerd(tmp_path: Path):
    if not shutil.which("containerd") or not shutil.which("ctr"):
        pytest.skip("Debian's containerd is not installed (scripts/apt-ensure.sh containerd)")
    base = Path("/run") / f"todo-registry-test-{tmp_path.name[-12:]}"
    socket = base / "containerd.sock"
    config = tmp_path / "containerd.toml"
    config.write_text(f'version = 2\nroot = "{tmp_path / "root"}"\nstate = "{base / "state"}"\n'
                      'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                      f'[grpc]\n  address = "{socket}"\n[ttrpc]\n  address = "{socket}.ttrpc"\n')
    log = (tmp_path / "containerd.log").open("w")
    proc = subprocess.Popen(["containerd", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(["ctr", "--address", str(socket), "version"], capture_output=True).returncode != 0:
            assert time.monotonic() < deadline and proc.poll() is None, (tmp_path / "containerd.log").read_text()
            time.sleep(0.2)
        yield str(socket)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        shutil.rmtree(base, ignore_errors=True)


def ctr_pull(socket: str, hosts_dir: Path, reference: str, user: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ctr", "--address", socket, "-n", "k8s.io", "images", "pull", "--hosts-dir",
                           str(hosts_dir), "--user", user, reference], capture_output=True, text=True, timeout=120)


def test_containerd_pulls_the_pushed_digest_trusting_the_registry_ca(docker_client: Any, private_containerd,
                                                                     auth_registry, scratch_image, registry_paths,
                                                                     tmp_path):
    target = at(auth_registry, "pull")
    creds = registry_credentials(auth_registry)
    outcome = registry_push.push(docker_client, target, scratch_image,
                                 registry.Credentials(creds["username"], creds["password"], "environment"))
    hosts_dir = NodeLayout(registry_paths).registry_hosts_dir
    # Without the hosts.toml containerd cannot pull (for a loopback host it even falls back to plain HTTP, which
    # the TLS registry refuses): the node's access comes from that file.
    untrusted = ctr_pull(private_containerd, tmp_path / "no-hosts", outcome.image, f"todo:{creds['password']}")
    assert untrusted.returncode != 0, untrusted.stdout
    wrong = ctr_pull(private_containerd, hosts_dir, outcome.image, "todo:wrong-password")
    assert wrong.returncode != 0 and ("401" in wrong.stderr or "unauthorized" in wrong.stderr.lower()), wrong.stderr
    pulled = ctr_pull(private_containerd, hosts_dir, outcome.image, f"todo:{creds['password']}")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    listed = subprocess.run(["ctr", "--address", private_containerd, "-n", "k8s.io", "images", "ls"],
                            capture_output=True, text=True, check=True).stdout
    line = next(row for row in listed.splitlines() if row.startswith(outcome.image))
    assert outcome.digest in line  # the manifest containerd pulled is the one the push recorded
