"""The provider modules: parsing real CLI output, naming clusters, sizing minikube, the registry."""

from __future__ import annotations

import json
import pkgutil
from pathlib import Path

import pytest

from todo_runbook import capacity, preflight, providers
from todo_runbook.config import PROVIDERS, RunbookConfig
from todo_runbook.errors import ClusterUnreachableError, ConfigError
from todo_runbook.providers import context, kind, minikube

FIXTURES = Path(__file__).parent / "fixtures"


def recorded(name: str) -> dict[str, object]:
    """A real pinned CLI's answer, recorded with its command, version, exit code, stdout and stderr."""
    data: dict[str, object] = json.loads((FIXTURES / name).read_text())
    return data


def protocol_members() -> set[str]:
    """The Provider protocol's attributes and methods, read from the class (a new member is checked too)."""
    methods = {n for n, v in vars(providers.Provider).items() if callable(v) and not n.startswith("_")}
    return set(providers.Provider.__annotations__) | methods


def test_every_provider_module_is_registered_and_a_choice() -> None:
    modules = {m.name for m in pkgutil.iter_modules(providers.__path__)} - {"base"}
    assert modules == set(providers.REGISTRY), "each module in todo_runbook/providers/ is one provider"
    choices = ("auto", *providers.REGISTRY)
    assert choices == PROVIDERS  # in the registry's order: the order the parameter's help and errors show


def test_every_registered_provider_implements_the_protocol() -> None:
    members = protocol_members()
    assert {"resolve", "build_engine", "prepare_while_building", "builds_own_tools", "tool_versions"} <= members
    for name, provider in providers.REGISTRY.items():
        assert provider.name == name
        missing = {m for m in members if not hasattr(provider, m)}
        assert not missing, f"provider {name} lacks {sorted(missing)}"
        assert set(provider.tool_versions) == set(provider.tools), name  # preflight reads every CLI's version
        assert all(argv[0] == tool for tool, argv in provider.tool_versions.items()), name
        assert all(provider.install_hint for _ in provider.tools), f"{name} needs a CLI but gives no install hint"
        assert isinstance(provider.builds_own_tools, frozenset) and provider.ingress_hint and provider.metrics_hint
    assert [n for n, p in providers.REGISTRY.items() if p.claims_any_context] == ["context"]


def test_preflight_probes_and_hints_every_provider_cli() -> None:
    for provider in providers.REGISTRY.values():
        for tool in provider.tools:
            assert preflight.VERSION_COMMANDS[tool] == provider.tool_versions[tool]
            assert preflight.TOOL_HINTS[tool] == provider.install_hint
            assert preflight.required_tools(["load"], provider.name) >= {tool}
    assert preflight.TOOL_HINTS["minikube"].startswith("https://minikube.sigs.k8s.io/")


def test_unknown_provider_names_the_choices() -> None:
    with pytest.raises(ConfigError) as err:
        providers.get("k3s")
    assert "k3s" in err.value.problem and "minikube" in err.value.remedy


def test_contexts_are_claimed_by_their_provider() -> None:
    config = RunbookConfig(minikube_profile="dev-box")
    assert providers.provider_of_context("todo-testbed", config) == "testbed"
    assert providers.provider_of_context("dev-box", config) == "minikube"
    assert providers.provider_of_context("kind-todo", config) == "kind"
    assert providers.provider_of_context("gke_project_zone_name", config) == "context"


def test_minikube_status_of_a_missing_profile_recorded_from_the_real_cli() -> None:
    status = minikube.parse_status(str(recorded("minikube-status-missing.json")["stdout"]))
    assert not status.exists and not status.running


def test_minikube_profile_list_without_profiles_recorded_from_the_real_cli() -> None:
    assert minikube.parse_profiles(str(recorded("minikube-profile-list-empty.json")["stdout"])) == []


def test_minikube_status_and_profiles_of_a_running_cluster() -> None:
    # The shape minikube prints for a running profile (fields as in the recorded outputs above).
    running = {"Name": "minikube", "Host": "Running", "Kubelet": "Running", "APIServer": "Running",
               "Kubeconfig": "Configured", "Worker": False}
    assert minikube.parse_status(json.dumps(running)).running
    assert minikube.parse_status(json.dumps([running, {**running, "Name": "m02", "Worker": True}])).running
    stopped = {**running, "Host": "Stopped", "APIServer": "Stopped"}
    assert minikube.parse_status(json.dumps(stopped)).exists and not minikube.parse_status(json.dumps(stopped)).running
    listing = {"invalid": [], "valid": [{"Name": "minikube", "Status": "OK",
                                         "Config": {"Driver": "kvm2", "CPUs": 2, "Memory": 4000}}]}
    [profile] = minikube.parse_profiles(json.dumps(listing))
    assert (profile.name, profile.driver, profile.cpus, profile.memory_mib) == ("minikube", "kvm2", 2, 4000)


def test_minikube_start_sizes_a_new_profile_and_never_forces_a_driver_on_an_existing_one() -> None:
    new = minikube.start_argv("todo", new=True, cpus=4, memory_mib=6144)
    assert new == ["minikube", "start", "-p", "todo", "--cpus=4", "--memory=6144mb"]
    assert "--driver=kvm2" in minikube.start_argv("todo", new=True, cpus=4, memory_mib=6144, driver="kvm2")
    assert minikube.start_argv("todo", new=False) == ["minikube", "start", "-p", "todo"]


def test_minikube_size_covers_the_release_and_minikube_itself() -> None:
    # The plan's release: 2+2 pods at 250m plus surge and PostgreSQL is more than a default 2-CPU minikube holds.
    cpus, mem_mib = minikube.size_for(1600, 2 * 2**30)
    assert cpus == 3 and mem_mib == 4096
    assert minikube.size_for(0, 0) == (2, 2048)
    hint = minikube.grow_hint(RunbookConfig(minikube_profile="p"), 1600, 2 * 2**30)
    assert "`minikube delete -p p && minikube start -p p --cpus=3 --memory=4096mb`" in hint


def test_kind_get_clusters_recorded_from_the_real_cli() -> None:
    none = recorded("kind-get-clusters-none.json")
    assert kind.parse_clusters(str(none["stdout"])) == [] and "No kind clusters" in str(none["stderr"])
    assert kind.parse_clusters("kind\ntodo\n") == ["kind", "todo"]


@pytest.mark.parametrize(("params", "expected"), [
    ({}, "kind"),
    ({"kube_context": "kind-todo"}, "todo"),
    ({"kube_context": "kind-todo", "kind_cluster": "other"}, "other"),
])
def test_kind_cluster_name_comes_from_the_context(params: dict[str, str], expected: str) -> None:
    config = RunbookConfig(**params)
    assert kind.cluster_name(config) == expected
    assert kind.load_argv(kind.cluster_name(config), "img:1")[-2:] == ["--name", expected]


def test_kind_without_kind_on_path_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(providers.ToolMissingError) as err:
        providers.resolve(RunbookConfig(provider="kind"))
    assert "kind CLI" in err.value.problem and "go install sigs.k8s.io/kind" in err.value.remedy


def test_a_context_missing_from_the_kubeconfig_is_named(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "a",
        "clusters": [{"name": "a", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "a", "user": {}}],
        "contexts": [{"name": "a", "context": {"cluster": "a", "user": "a"}}]}))
    config = RunbookConfig(provider="context", kube_context="nope", kubeconfig=str(kubeconfig))
    with pytest.raises(ConfigError) as err:
        context.resolve(config, "asked", prepare=True, say=providers.quiet, need=providers.no_need)
    assert "'nope'" in err.value.problem and "a" in err.value.problem and "kube_context" in err.value.remedy
    # the context that exists but whose server is closed: unreachable, with the fix
    with pytest.raises(ClusterUnreachableError) as dead:
        providers.resolve(RunbookConfig(provider="context", kube_context="a", kubeconfig=str(kubeconfig)))
    assert "does not answer" in dead.value.problem and "cluster-info" in dead.value.remedy


def test_capacity_demand_counts_replicas_surge_statefulsets_and_hook_jobs() -> None:
    pod = {"containers": [{"resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}},
                          {"resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}],
           "initContainers": [{"resources": {"requests": {"cpu": "1", "memory": "32Mi"}}}]}
    docs = [
        {"kind": "Deployment", "metadata": {"name": "api"}, "spec": {"replicas": 2, "template": {"spec": pod}}},
        {"kind": "Deployment", "metadata": {"name": "web"},
         "spec": {"replicas": 3, "strategy": {"rollingUpdate": {"maxSurge": 0}},
                  "template": {"spec": {"containers": [{"resources": {"requests": {"cpu": "100m"}}}]}}}},
        {"kind": "StatefulSet", "metadata": {"name": "db"},
         "spec": {"template": {"spec": {"containers": [{"resources": {"requests": {"memory": "1Gi"}}}]}}}},
        {"kind": "Job", "metadata": {"name": "migrate"},
         "spec": {"template": {"spec": {"containers": [{"resources": {"requests": {"cpu": "2"}}}]}}}},
        {"kind": "Service", "metadata": {"name": "api"}}, None,
    ]
    demand = capacity.demand_from_manifests(docs)
    by_name = {w.name: w for w in demand.workloads}
    assert by_name["api"].cpu_m == 1000 and by_name["api"].surge == 1  # init container 1 CPU > 300m summed
    assert by_name["web"].surge == 0 and by_name["db"].replicas == 1
    assert demand.steady_cpu_m == 2 * 1000 + 3 * 100
    assert demand.peak_cpu_m == demand.steady_cpu_m + 2000  # the job's 2 CPUs outweigh the one surge pod
    assert demand.steady_mem_bytes == 2 * 320 * 2**20 + 2**30


def test_capacity_refuses_with_the_numbers_and_the_fix() -> None:
    demand = capacity.Demand([capacity.WorkloadDemand("Deployment", "api", 2, 1, 750, 2**28)])
    nodes = [capacity.NodeRoom("n1", 2000, 8 * 2**30, 1100, 2**30)]
    result = capacity.evaluate(demand, nodes, "minikube start --cpus 4")
    assert not result.fits
    assert "2250m CPU at peak, 900m free" in result.problem and "2000m CPU allocatable" in result.problem
    assert "minikube start --cpus 4" in result.remedy and "backend_replicas=1" in result.remedy
    roomy = capacity.evaluate(demand, [capacity.NodeRoom("n1", 8000, 8 * 2**30, 0, 0)], "")
    assert roomy.fits and roomy.problem == ""
