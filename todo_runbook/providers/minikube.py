"""minikube: start (sized for the release, never forcing a driver on an existing profile), the ingress and
metrics-server addons, `minikube image load`, `minikube ip`."""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import shell
from ..config import RunbookConfig
from ..errors import ClusterUnreachableError, RunbookError
from .base import (
    GENERIC_INGRESS_HINT,
    GENERIC_METRICS_HINT,
    BuildEngine,
    ClusterTarget,
    LoadOutcome,
    Need,
    Say,
    default_kubeconfig,
)

name = "minikube"
tools = ("minikube",)
install_hint = "https://minikube.sigs.k8s.io/docs/start/ (then `minikube start`; the runbook sizes a new profile)"
builds_own_tools: frozenset[str] = frozenset()
claims_any_context = False
# resolve enables both addons; these say what to install when they are still missing
ingress_hint, metrics_hint = GENERIC_INGRESS_HINT, GENERIC_METRICS_HINT
# What minikube itself takes before our release: control plane, CoreDNS, ingress-nginx, metrics-server.
OVERHEAD_CPU_M = 1050
OVERHEAD_MEM_MIB = 2048
# Drivers whose node IP the host cannot reach on macOS and Windows (the node lives inside a VM's Docker).
_UNREACHABLE_IP_DRIVERS = {"docker", "podman"}


@dataclass
class ProfileStatus:
    """`minikube status -o json` of one profile, parsed."""

    exists: bool
    host: str = ""
    apiserver: str = ""
    kubelet: str = ""

    @property
    def running(self) -> bool:
        return self.host == "Running" and self.apiserver == "Running"


@dataclass
class Profile:
    """One valid entry of `minikube profile list -o json`."""

    name: str
    status: str
    driver: str
    cpus: int
    memory_mib: int


def parse_status(text: str) -> ProfileStatus:
    """The status JSON: one object, or a list for multi-node profiles (the first is the control plane)."""
    try:
        data: Any = json.loads(text or "{}")
    except json.JSONDecodeError:
        return ProfileStatus(exists=False)
    if isinstance(data, list):
        data = data[0] if data else {}
    host = str(data.get("Host", ""))
    if not host or host == "Nonexistent":
        return ProfileStatus(exists=False, host=host)
    return ProfileStatus(True, host, str(data.get("APIServer", "")), str(data.get("Kubelet", "")))


def parse_profiles(text: str) -> list[Profile]:
    """`minikube profile list -o json`: {"valid": [...], "invalid": [...]}; an error object means none."""
    try:
        data: Any = json.loads(text or "{}")
    except json.JSONDecodeError:
        return []
    profiles = []
    for entry in data.get("valid") or []:
        cfg = entry.get("Config") or {}
        profiles.append(Profile(str(entry.get("Name", "")), str(entry.get("Status", "")), str(cfg.get("Driver", "")),
                                int(cfg.get("CPUs") or 0), int(cfg.get("Memory") or 0)))
    return profiles


def size_for(cpu_m: int, mem_bytes: int) -> tuple[int, int]:
    """--cpus and --memory (MiB) for a new profile: the release's peak plus minikube's own, at least 2 / 2 GiB."""
    cpus = max(2, math.ceil((cpu_m + OVERHEAD_CPU_M) / 1000))
    mem_mib = max(2048, math.ceil((mem_bytes / 2**20 + OVERHEAD_MEM_MIB) / 512) * 512)
    return cpus, mem_mib


# -- the command lines this provider emits (tests run each through the real minikube's flag parser) --------
def status_argv(profile: str) -> list[str]:
    return ["minikube", "status", "-p", profile, "-o", "json"]


def profile_list_argv() -> list[str]:
    return ["minikube", "profile", "list", "-o", "json"]


def start_argv(profile: str, *, new: bool, cpus: int = 0, memory_mib: int = 0, driver: str = "") -> list[str]:
    """An existing profile keeps its driver and size (minikube refuses to change them); a new one is sized."""
    argv = ["minikube", "start", "-p", profile]
    if new:
        argv += [f"--cpus={cpus}", f"--memory={memory_mib}mb"]
        if driver:
            argv.append(f"--driver={driver}")
    return argv


def addon_argv(profile: str, addon: str) -> list[str]:
    return ["minikube", "addons", "enable", addon, "-p", profile]


def ip_argv(profile: str) -> list[str]:
    return ["minikube", "ip", "-p", profile]


def image_load_argv(profile: str, image: str) -> list[str]:
    return ["minikube", "image", "load", image, "-p", profile]


def image_rm_argv(profile: str, image: str) -> list[str]:
    return ["minikube", "image", "rm", image, "-p", profile]


def stop_argv_for(profile: str) -> list[str]:
    return ["minikube", "stop", "-p", profile]


def docker_env_argv(profile: str) -> list[str]:
    """What the runbook reads the variables from: one KEY=value a line."""
    return ["minikube", "docker-env", "-p", profile, "--shell", "none"]


def docker_env_eval_argv(profile: str) -> list[str]:
    """What a person runs (inside `eval $(...)`) to point their shell's docker at minikube's daemon."""
    return ["minikube", "-p", profile, "docker-env"]


def delete_argv(profile: str) -> list[str]:
    return ["minikube", "delete", "-p", profile]


def tunnel_argv(profile: str) -> list[str]:
    return ["minikube", "tunnel", "-p", profile]


def version_argv() -> list[str]:
    return ["minikube", "version", "--short"]


tool_versions = {"minikube": version_argv()}


def command_lines(profile: str = "todo-runbook-check") -> list[list[str]]:
    """Every command line this module can produce (run, recorded, or shown in a hint or remedy), for the
    flag-parser tests."""
    return [status_argv(profile), profile_list_argv(), start_argv(profile, new=False),
            start_argv(profile, new=True, cpus=4, memory_mib=6144, driver="docker"),
            addon_argv(profile, "ingress"), addon_argv(profile, "metrics-server"), ip_argv(profile),
            image_load_argv(profile, "todo-backend:abc"), image_rm_argv(profile, "todo-backend:abc"),
            stop_argv_for(profile), docker_env_argv(profile), docker_env_eval_argv(profile), delete_argv(profile),
            tunnel_argv(profile), version_argv()]


# -- the provider ------------------------------------------------------------------------------------------
def available(config: RunbookConfig) -> tuple[bool, str]:
    return (True, "minikube is installed") if shell.which("minikube") else (False, "minikube is not installed")


def owns_context(context: str, config: RunbookConfig) -> bool:
    return context == config.minikube_profile


def _profile(config: RunbookConfig) -> Profile | None:
    res = shell.run(profile_list_argv(), timeout=60, check=False)
    return next((p for p in parse_profiles(res.stdout) if p.name == config.minikube_profile), None)


def resolve(config: RunbookConfig, reason: str, *, prepare: bool, say: Say, need: Need) -> ClusterTarget:
    profile = config.minikube_profile
    kubeconfig = config.kubeconfig or default_kubeconfig()
    target = ClusterTarget(name, reason, config.kube_context or profile, kubeconfig, cluster_name=profile,
                           load_method="built in minikube" if config.build_in_minikube else "minikube image load")
    if not prepare:
        return target
    status = parse_status(shell.run(status_argv(profile), timeout=60, check=False).stdout)
    existing = _profile(config)
    if not status.running:
        if not config.start_cluster:
            what = "is stopped" if status.exists else "does not exist"
            raise ClusterUnreachableError(f"minikube profile '{profile}' {what} (host: {status.host or 'none'})",
                                          f"run `{shell.command_line(start_argv(profile, new=False))}`, or set "
                                          "start_cluster=true so the runbook starts it, or pick another with "
                                          "minikube_profile=NAME")
        argv = _sized_start(config, existing, need)
        say(f"cluster: starting minikube profile '{profile}': {shell.command_line(argv)}")
        started = shell.run(argv, timeout=900, hint="see `minikube logs`; minikube needs a driver (Docker, "
                                                     "KVM, Hyper-V...) and the CPUs and memory it asks for")
        target.commands.append(shell.recorded(started.command, "start minikube"))
        target.reason += "; it was not running, so the runbook started it"
        existing = _profile(config)
    for addon in ("ingress", "metrics-server"):
        enabled = shell.run(addon_argv(profile, addon), timeout=300)
        target.commands.append(shell.recorded(enabled.command, f"enable the {addon} addon"))
    ip = shell.run(ip_argv(profile), timeout=30).stdout.strip()
    target.commands.append(shell.recorded(shell.command_line(ip_argv(profile)), "the address the ingress answers on"))
    target.ingress_url = config.ingress_url or f"http://{ip}"
    driver = existing.driver if existing else ""
    if not config.ingress_url and platform.system() in ("Darwin", "Windows") and driver in _UNREACHABLE_IP_DRIVERS:
        target.ingress_note = (f"minikube's {driver} driver on {platform.system()} does not route the node IP {ip} "
                               f"to the host: run `{shell.command_line(tunnel_argv(profile))}` and pass "
                               "ingress_url=http://127.0.0.1, else verify uses a port-forward (labelled as such)")
    return target


def _sized_start(config: RunbookConfig, existing: Profile | None, need: Need) -> list[str]:
    if existing:  # its driver and size are fixed at creation; capacity is checked once it answers
        return start_argv(config.minikube_profile, new=False)
    cpus, mem_mib = size_for(*need())
    return start_argv(config.minikube_profile, new=True, cpus=cpus, memory_mib=mem_mib, driver=config.minikube_driver)


def grow_hint(config: RunbookConfig, cpu_m: int, mem_bytes: int) -> str:
    """An existing profile keeps its size (minikube refuses to change it): recreate it, sized as a new one."""
    cpus, mem_mib = size_for(cpu_m, mem_bytes)
    p = config.minikube_profile
    start = start_argv(p, new=True, cpus=cpus, memory_mib=mem_mib, driver=config.minikube_driver)
    return f"recreate the profile bigger: `{shell.command_line(delete_argv(p))} && {shell.command_line(start)}`"


def load_image(target: ClusterTarget, image: str, config: RunbookConfig) -> LoadOutcome:
    if config.build_in_minikube:
        return {"image": image, "method": "built in minikube's Docker daemon", "seconds": 0.0, "command": ""}
    res = shell.run(image_load_argv(config.minikube_profile, image), timeout=900)
    return {"image": image, "method": "minikube image load", "seconds": res.seconds, "command": res.command}


def remove_image(target: ClusterTarget, image: str, config: RunbookConfig) -> list[shell.CommandResult]:
    return [shell.run(image_rm_argv(config.minikube_profile, image), timeout=120, check=False)]


def stop_argv(target: ClusterTarget, config: RunbookConfig) -> list[str] | None:
    return stop_argv_for(config.minikube_profile)


def build_engine(config: RunbookConfig) -> BuildEngine | None:
    """With build_in_minikube: minikube's own daemon, through the variables `eval $(minikube docker-env)` sets."""
    if not config.build_in_minikube:
        return None
    profile = config.minikube_profile
    return BuildEngine(read_docker_env(profile), "minikube's daemon",
                       f"eval $({shell.command_line(docker_env_eval_argv(profile))})",
                       "point docker at minikube's daemon: no load step needed")


def prepare_while_building(config: RunbookConfig, steps: Sequence[str], say: Say) -> str | None:
    return None  # resolve starts a stopped profile itself, before the build


def read_docker_env(profile: str) -> dict[str, str]:
    """The variables `minikube docker-env` prints for a profile."""
    res = shell.run(docker_env_argv(profile), timeout=60)
    env = {}
    for line in res.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            env[key.strip()] = value.strip().strip('"')
    if "DOCKER_HOST" not in env:
        raise RunbookError(f"`minikube docker-env` gave no DOCKER_HOST: {res.stdout[:200]}",
                           "minikube's docker-env works with the docker and podman drivers only; set "
                           "build_in_minikube=false to build locally and load the images instead")
    return env
