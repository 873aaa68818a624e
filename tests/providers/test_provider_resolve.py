"""How minikube and kind resolve a cluster: stopped and missing clusters, sizing, addons, the ingress address, the
tunnel note, and the hints when the cluster lacks an ingress controller or metrics-server.

The real CLIs need a running cluster, which this machine's tests cannot have. So a STAND-IN script named
`minikube` / `kind` goes first on PATH: it logs the exact argv the provider passed and replays the answer
scripted for that argv. Where a real recording exists (tests/providers/fixtures, from the pinned CLIs) it is
replayed as recorded; the shapes of a running or stopped profile are minikube's JSON fields, written by hand
because recording them needs a minikube driver. The real CLIs' flag parsers check every argv in test_cli_flags.py.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from todo_runbook import providers
from todo_runbook.config import RunbookConfig
from todo_runbook.errors import ClusterUnreachableError
from todo_runbook.providers import context, kind, minikube
from todo_runbook.providers.base import GENERIC_INGRESS_HINT

FIXTURES = Path(__file__).parent / "fixtures"
STAND_IN = """#!{python}
# STAND-IN for the {tool} CLI (tests/providers/test_provider_resolve.py): logs its argv, replays the scripted answer.
import json, pathlib, sys
here = pathlib.Path(__file__).parent
argv = [{tool!r}, *sys.argv[1:]]
with open(here / "calls.jsonl", "a") as log:
    log.write(json.dumps(argv) + "\\n")
for answer in json.loads((here / "answers.json").read_text()):
    if answer["argv"] == argv:
        sys.stdout.write(answer["stdout"])
        sys.stderr.write(answer["stderr"])
        sys.exit(answer["returncode"])
sys.stderr.write(f"stand-in {tool}: no answer scripted for {{argv}}\\n")
sys.exit(64)
"""
# `minikube status -o json` / `minikube profile list -o json` fields, as minikube prints them (written by hand)
RUNNING = {"Name": "todo", "Host": "Running", "Kubelet": "Running", "APIServer": "Running",
           "Kubeconfig": "Configured", "Worker": False}
STOPPED = {**RUNNING, "Host": "Stopped", "Kubelet": "Stopped", "APIServer": "Stopped", "Kubeconfig": "Stopped"}
NODE_IP = "192.168.39.7"


def listing(name: str, status: str, driver: str) -> str:
    return json.dumps({"invalid": [], "valid": [{"Name": name, "Status": status,
                                                  "Config": {"Driver": driver, "CPUs": 2, "Memory": 4000}}]})


class StandIn:
    """The stand-in CLIs in one folder first on PATH, with the answers they replay and the calls they logged."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.answers: list[dict[str, Any]] = []

    def answer(self, argv: list[str], stdout: str = "", stderr: str = "", returncode: int = 0) -> None:
        tool = self.folder / argv[0]
        if not tool.exists():
            tool.write_text(STAND_IN.format(python=sys.executable, tool=argv[0]))
            tool.chmod(0o755)
        self.answers.append({"argv": argv, "stdout": stdout, "stderr": stderr, "returncode": returncode})
        (self.folder / "answers.json").write_text(json.dumps(self.answers))

    def replay(self, fixture: str) -> list[str]:
        """A real CLI's recorded answer, for the very command it was recorded with; returns that argv."""
        recorded = json.loads((FIXTURES / fixture).read_text())
        argv = shlex.split(recorded["command"])
        self.answer(argv, recorded["stdout"], recorded["stderr"], recorded["returncode"])
        return argv

    def calls(self) -> list[list[str]]:
        log = self.folder / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIn:
    folder = tmp_path / "stand-in-bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return StandIn(folder)


@pytest.fixture
def on(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Pretend to run on another OS (minikube's tunnel note depends on the host's)."""
    return lambda system: monkeypatch.setattr(minikube.platform, "system", lambda: system)


def resolve_minikube(config: RunbookConfig, said: list[str] | None = None,
                     need: providers.Need = providers.no_need) -> providers.ClusterTarget:
    return minikube.resolve(config, "asked", prepare=True, say=(said if said is not None else []).append, need=need)


def running_profile(cli: StandIn, driver: str = "kvm2", profile: str = "todo") -> None:
    cli.answer(minikube.status_argv(profile), json.dumps({**RUNNING, "Name": profile}))
    cli.answer(minikube.profile_list_argv(), listing(profile, "OK", driver))
    for addon in ("ingress", "metrics-server"):
        cli.answer(minikube.addon_argv(profile, addon), f"The '{addon}' addon is enabled\n")
    cli.answer(minikube.ip_argv(profile), f"{NODE_IP}\n")


# -- minikube ----------------------------------------------------------------------------------------------------
def test_a_stopped_profile_is_refused_with_the_command_that_starts_it(cli: StandIn) -> None:
    cli.answer(minikube.status_argv("todo"), json.dumps(STOPPED), returncode=7)
    cli.answer(minikube.profile_list_argv(), listing("todo", "Stopped", "kvm2"))
    with pytest.raises(ClusterUnreachableError) as err:
        resolve_minikube(RunbookConfig(minikube_profile="todo", start_cluster=False))
    assert err.value.problem == "minikube profile 'todo' is stopped (host: Stopped)"
    assert "run `minikube start -p todo`" in err.value.remedy and "start_cluster=true" in err.value.remedy
    assert [call[1] for call in cli.calls()] == ["status", "profile"]  # looked, started nothing


def test_a_missing_profile_replayed_from_the_real_cli_is_refused(cli: StandIn) -> None:
    status = cli.replay("minikube-status-missing.json")  # exit 85 and minikube's "not found" events
    cli.replay("minikube-profile-list-empty.json")
    profile = status[status.index("-p") + 1]
    with pytest.raises(ClusterUnreachableError) as err:
        resolve_minikube(RunbookConfig(minikube_profile=profile, start_cluster=False))
    assert err.value.problem == f"minikube profile '{profile}' does not exist (host: none)"
    assert f"`minikube start -p {profile}`" in err.value.remedy


def test_a_new_profile_is_created_sized_for_the_release(cli: StandIn) -> None:
    status = cli.replay("minikube-status-missing.json")
    cli.replay("minikube-profile-list-empty.json")
    profile = status[status.index("-p") + 1]
    start = minikube.start_argv(profile, new=True, cpus=3, memory_mib=4096, driver="kvm2")
    cli.answer(start, "Done! kubectl is now configured\n")
    for addon in ("ingress", "metrics-server"):
        cli.answer(minikube.addon_argv(profile, addon))
    cli.answer(minikube.ip_argv(profile), f"{NODE_IP}\n")
    said: list[str] = []
    config = RunbookConfig(minikube_profile=profile, minikube_driver="kvm2")
    target = resolve_minikube(config, said, need=lambda: (1600, 2 * 2**30))
    assert start in cli.calls() and start[-3:] == ["--cpus=3", "--memory=4096mb", "--driver=kvm2"]
    assert any(shlex.join(start) in line for line in said)  # the long wait is announced with its command
    assert target.reason.endswith("it was not running, so the runbook started it")
    assert {"start minikube", "enable the ingress addon", "enable the metrics-server addon"} <= {
        c["purpose"] for c in target.commands}


def test_an_existing_profile_is_started_as_it_is_without_a_size_or_a_driver(cli: StandIn) -> None:
    cli.answer(minikube.status_argv("todo"), json.dumps(STOPPED), returncode=7)
    cli.answer(minikube.profile_list_argv(), listing("todo", "Stopped", "hyperkit"))
    cli.answer(["minikube", "start", "-p", "todo"], "Done!\n")
    for addon in ("ingress", "metrics-server"):
        cli.answer(minikube.addon_argv("todo", addon))
    cli.answer(minikube.ip_argv("todo"), f"{NODE_IP}\n")
    config = RunbookConfig(minikube_profile="todo", minikube_driver="docker")  # ignored: the profile has one
    target = resolve_minikube(config, need=lambda: pytest.fail("an existing profile is not sized"))
    starts = [call for call in cli.calls() if call[1] == "start"]
    assert starts == [["minikube", "start", "-p", "todo"]]
    assert target.ingress_url == f"http://{NODE_IP}"


def test_a_running_profile_gets_its_addons_and_the_node_ip_as_the_ingress_address(cli: StandIn, on: Any) -> None:
    on("Linux")
    running_profile(cli)
    target = resolve_minikube(RunbookConfig(minikube_profile="todo"))
    assert [call[1:3] for call in cli.calls()] == [["status", "-p"], ["profile", "list"], ["addons", "enable"],
                                                   ["addons", "enable"], ["ip", "-p"]]
    assert [c[3] for c in cli.calls() if c[1] == "addons"] == ["ingress", "metrics-server"]
    assert (target.provider, target.context, target.cluster_name) == ("minikube", "todo", "todo")
    assert target.ingress_url == f"http://{NODE_IP}" and target.ingress_note == ""
    assert target.load_method == "minikube image load"
    recorded = {c["purpose"]: c["command"] for c in target.commands}
    assert recorded["the address the ingress answers on"] == "minikube ip -p todo"


@pytest.mark.parametrize(("system", "driver"), [("Darwin", "docker"), ("Windows", "podman")])
def test_a_node_ip_the_host_cannot_reach_says_to_run_the_tunnel(cli: StandIn, on: Any, system: str,
                                                                driver: str) -> None:
    on(system)
    running_profile(cli, driver=driver)
    note = resolve_minikube(RunbookConfig(minikube_profile="todo")).ingress_note
    assert f"minikube's {driver} driver on {system} does not route the node IP {NODE_IP}" in note
    assert "run `minikube tunnel -p todo` and pass ingress_url=http://127.0.0.1" in note and "port-forward" in note
    # the user's own ingress address (the tunnel's) is taken as it is
    given = resolve_minikube(RunbookConfig(minikube_profile="todo", ingress_url="http://127.0.0.1"))
    assert given.ingress_url == "http://127.0.0.1" and given.ingress_note == ""


def test_a_vm_driver_on_macos_is_reachable_and_needs_no_tunnel(cli: StandIn, on: Any) -> None:
    on("Darwin")
    running_profile(cli, driver="hyperkit")
    assert resolve_minikube(RunbookConfig(minikube_profile="todo")).ingress_note == ""


def test_without_prepare_nothing_is_run(cli: StandIn) -> None:
    cli.answer(minikube.status_argv("todo"), json.dumps(RUNNING))
    target = minikube.resolve(RunbookConfig(minikube_profile="todo", build_in_minikube=True), "asked", prepare=False,
                              say=providers.quiet, need=providers.no_need)
    assert cli.calls() == [] and target.load_method == "built in minikube"


def test_building_into_minikube_points_docker_at_its_daemon(cli: StandIn) -> None:
    cli.answer(minikube.docker_env_argv("todo"), 'DOCKER_TLS_VERIFY="1"\nDOCKER_HOST="tcp://192.168.49.2:2376"\n'
                                                 'DOCKER_CERT_PATH="/home/u/.minikube/certs"\n')
    for provider in ("minikube", "auto", "context"):  # auto and a bare context may well be a minikube profile
        engine = providers.build_engine(RunbookConfig(provider=provider, minikube_profile="todo",
                                                      build_in_minikube=True))
        assert engine is not None and engine.env["DOCKER_HOST"] == "tcp://192.168.49.2:2376", provider
        assert engine.label == "minikube's daemon" and engine.command == "eval $(minikube -p todo docker-env)"
    assert providers.build_engine(RunbookConfig(provider="kind", build_in_minikube=True)) is None
    assert providers.build_engine(RunbookConfig(provider="minikube")) is None
    assert [call[1] for call in cli.calls()] == ["docker-env"] * 3


def test_only_the_test_bed_builds_the_runbooks_own_tools() -> None:
    assert providers.tools_built_by(RunbookConfig(provider="testbed")) == {"helm", "kubectl"}
    assert providers.tools_built_by(RunbookConfig(provider="auto")) == {"helm", "kubectl"}  # auto may pick it
    assert providers.tools_built_by(RunbookConfig(provider="kind")) == frozenset()
    assert providers.prepare_while_building(RunbookConfig(provider="kind"), ["build", "load"], print) is None


# -- kind --------------------------------------------------------------------------------------------------------
def test_a_kind_cluster_that_does_not_exist_replayed_from_the_real_cli(cli: StandIn) -> None:
    cli.replay("kind-get-clusters-none.json")  # "No kind clusters found." on stderr, exit 0
    with pytest.raises(ClusterUnreachableError) as err:
        providers.resolve(RunbookConfig(provider="kind", kube_context="kind-todo"))
    assert err.value.problem == "kind cluster 'todo' does not exist (found: none)"
    assert "create it: `kind create cluster --name todo`" in err.value.remedy
    assert "no ingress controller" in err.value.remedy and "kind_cluster=NAME" in err.value.remedy
    assert err.value.reasons == ["provider=kind was asked for"]  # how the provider came to be chosen


def test_a_kind_cluster_of_another_name_is_named_among_those_found(cli: StandIn) -> None:
    cli.answer(kind.get_clusters_argv(), "kind\nstaging\n")  # one name a line, as kind prints them
    with pytest.raises(ClusterUnreachableError) as err:
        kind.resolve(RunbookConfig(kind_cluster="todo"), "asked", prepare=True, say=providers.quiet,
                     need=providers.no_need)
    assert err.value.problem == "kind cluster 'todo' does not exist (found: kind, staging)"
    target = kind.resolve(RunbookConfig(kind_cluster="staging"), "asked", prepare=True, say=providers.quiet,
                          need=providers.no_need)
    assert (target.context, target.cluster_name, target.ingress_url) == ("kind-staging", "staging",
                                                                          "http://127.0.0.1")


def test_a_cluster_without_an_ingress_controller_gets_the_providers_install_hint() -> None:
    ingress_note, notes = providers.missing_addons(kind, has_ingress_class=False, api_groups={"apps", "batch"})
    assert ingress_note.startswith("no IngressClass in the cluster: kind has no ingress controller by default")
    assert "https://kind.sigs.k8s.io/docs/user/ingress/" in ingress_note and "ingress-nginx" in ingress_note
    assert notes == ["no metrics API (metrics.k8s.io): " + kind.METRICS_HINT]
    assert "--kubelet-insecure-tls" in notes[0]
    generic, _ = providers.missing_addons(context, has_ingress_class=False, api_groups={"metrics.k8s.io"})
    assert generic == "no IngressClass in the cluster: " + GENERIC_INGRESS_HINT
    assert providers.missing_addons(kind, has_ingress_class=True, api_groups={"metrics.k8s.io"}) == ("", [])
