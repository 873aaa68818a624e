"""Offline Kubernetes test bed: real components built from Go modules, run on loopback.

`python -m testcluster build | up | down | status` (see README.md). From Python::

    from testcluster import controlplane
    info = controlplane.up()          # idempotent; returns ClusterInfo (kubeconfig, context, server, ...)
    controlplane.down()               # stops every process it started, removes run state
"""

from testcluster.paths import CONTEXT_NAME, Paths, cache_root

__all__ = ["CONTEXT_NAME", "Paths", "cache_root"]
