"""The second real node shares nothing host-wide with the first: every name, port, folder, socket, cgroup and
pidfile differs (two kubelets on one machine would otherwise evict, clean up or kill each other's pods)."""

from __future__ import annotations

from testcluster.node_layout import ALL_BRIDGES, NodeLayout
from testcluster.node_runtime import cni_conflist
from testcluster.paths import Paths


def _owned(layout: NodeLayout) -> set[str]:
    return {str(d) for d in layout.owned_dirs()} | {str(layout.containerd_socket), str(layout.state_file)}


def test_the_second_node_differs_from_the_first_in_everything_host_wide(tmp_path) -> None:
    first, second = NodeLayout(Paths(tmp_path)), NodeLayout(Paths(tmp_path), 2)
    assert (first.node_name, second.node_name) == ("todo-testbed-node", "todo-testbed-node-2")
    assert (first.bridge, second.bridge) == ALL_BRIDGES
    assert first.kubelet_port != second.kubelet_port and first.kubelet_healthz_port != second.kubelet_healthz_port
    assert first.process("kubelet") == "kubelet" and second.process("kubelet") == "kubelet-2"
    assert not _owned(first) & _owned(second)
    # No folder of one node lies inside the other's (down would unmount or delete the other's state).
    for mine in first.owned_dirs():
        for theirs in second.owned_dirs():
            assert not str(theirs).startswith(str(mine) + "/") and not str(mine).startswith(str(theirs) + "/")
    assert first.kubepods_cgroup == "kubepods" and second.kubepods_cgroup == "todo-testbed-node-2/kubepods"
    assert first.pod_logs_dir is None and second.pod_logs_dir is not None
    assert second.pod_logs_dir.is_relative_to(second.root)


def test_each_node_has_its_own_cni_network_on_its_own_bridge(tmp_path) -> None:
    second = NodeLayout(Paths(tmp_path), 2)
    conf = cni_conflist(second, "10.244.3.0/24", "10.244.3.1")
    bridge = conf["plugins"][0]
    assert conf["name"] == "todo-testbed-2" and bridge["bridge"] == "todotb1"
    assert bridge["ipam"]["dataDir"] == str(second.cni_ipam_dir)
