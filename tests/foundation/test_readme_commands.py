"""Every command the README shows is run here, or named as not runnable on this machine with the reason and the
test that covers its parts.

- `make TARGET [VAR=...]`: the target exists, `make -n` accepts the whole line, and every runbook parameter in
  `PARAMS="..."` (also shown alone) is a real parameter whose value passes the runbook's own validation.
- parameter lists (`provider=kind kind_cluster=<name>`): real parameters, valid values (placeholders aside).
- `python -m testcluster ...` / `python -m todo_runbook ...`: their own argument parsers accept the line.
- `pytest FILE...`: pytest collects those files; `bash FILE`: the script exists and bash parses it.
- the other tools' commands (minikube, kind, helm, docker, go, syft, kubectl, curl, conda, jupyter, scripts/):
  listed in NOT_RUNNABLE_HERE; a README command that is in neither group fails the test, so a new one cannot go
  unchecked. Inline code that wraps a line in the README counts, with its whitespace made single spaces.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from todo_runbook.config import ConfigError, RunbookConfig

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
PLACEHOLDER = re.compile(r"<[^>]+>|\.\.\.|…")
# In a parameter's value also the upper-case names of its parts: registry=HOST[:PORT]/PREFIX.
VALUE_PLACEHOLDER = re.compile(PLACEHOLDER.pattern + r"|\b[A-Z]{3,}\b")

# The commands that need a cluster, a registry or a tool this machine's tests run elsewhere, and where.
NOT_RUNNABLE_HERE = {
    "minikube": "needs a minikube cluster; every minikube command line the providers emit goes through the real "
                "minikube flag parser in tests/providers/test_cli_flags.py",
    "minikube image load": "same as minikube",
    "minikube ip": "same as minikube",
    "minikube tunnel": "runs until stopped, for macOS/Windows drivers; not on this machine",
    "minikube start": "same as minikube",
    "kind load docker-image --name <cluster>": "needs a kind cluster; tests/providers/test_cli_flags.py runs the "
                                               "providers' kind command lines through the real kind parser",
    "kind load docker-image": "same as kind load docker-image --name <cluster>",
    "/usr/bin/time make runbook": "a measurement around `make runbook`, i.e. `python -m todo_runbook run` after "
                                  "setup, which tests/e2e/test_runbook_testbed.py runs; the README quotes its figures",
    "/usr/bin/time bash .ci/run": "a measurement around `bash .ci/run`, which is this very test suite",
    "docker image inspect": "names where the image size comes from; the build step reads the same field through the "
                            "Docker SDK and tests/images asserts the sizes",
    "go env GOPROXY": "a troubleshooting look (which module proxy Go asks); tests/images/test_syft_build.py runs "
                      "the `go install` that needs it, tests/unit/test_sbom.py the error when none answers",
    "kubectl cluster-info": "a troubleshooting look; the test bed's tests run kubectl against a real API server",
    "docker login HOST": "needs the user's registry; tests/registry pushes with credentials from the environment",
    "helm upgrade --install --wait": "what the deploy step runs; tests/e2e runs it on the test bed",
    "helm upgrade": "same as helm upgrade --install",
    "helm upgrade --install": "same as helm upgrade --install --wait",
    "helm uninstall": "what the teardown step runs; tests/e2e runs it on the test bed",
    "syft scan docker:<image> -o spdx-json": "what the build step runs; tests/unit/test_sbom.py and the e2e run",
    "go install github.com/anchore/syft/cmd/syft@v1.57.2": "what todo_runbook.syft_tool.install_syft runs; the "
                                                           "syft_cli fixture runs it (about 8 min cold)",
    "dockerfiles/engine/ensure-docker.sh": "what `make engine` runs when no engine answers",
    "scripts/ensure-chromium.sh": "what the browser step runs when Chromium is missing (Debian packages); the "
                                  "browser and video tests run after it",
    ".venv/bin/papermill notebooks/04-verify.ipynb outputs/verify.ipynb -p run_dir outputs/<run-id> -p namespace "
    "todo-app": "run with a real run folder by tests/e2e/test_readme_papermill.py",
    "/usr/bin/time make …": "how the README's timings were measured",
    "docker save | ctr import": "the test bed provider's image load, which the benchmark's raw side replays; "
                                "tests/e2e runs the load step on the test bed",
    "helm upgrade --wait": "verify's rolling update; tests/e2e runs it on the test bed",
    "kubectl get pods -w": "watches until stopped: how the README's Pending pod during a rollout was seen",
    "minikube delete -p minikube && minikube start -p minikube --cpus=3 --memory=4096mb":
        "recreates the user's profile: the capacity check's remedy for minikube (minikube.grow_hint); both command "
        "lines go through the real minikube parser in tests/providers/test_cli_flags.py",
    "curl --cacert ~/.cache/todo-runbook/tls/ca.crt --resolve todo.local:18443:127.0.0.1 https://todo.local:18443/":
        "needs the test bed's ingress and a run's CA; verify's HTTPS check makes the same verified handshake "
        "(https_verified in tests/e2e/test_runbook_testbed.py)",
    "conda env create -f environment.yml": "no conda here; tests/foundation/test_environment_sync.py keeps "
                                           "environment.yml in step with pyproject.toml",
    "jupyter lab notebooks/": "serves until stopped, as `make lab` does; tests/foundation/test_make_lab.py and "
                              "tests/lab start it",
    "pytest -s": "a pytest flag the README names (show a fixture's output), not a command of its own",
    "scripts/apt-ensure.sh ffmpeg": "installs Debian packages as root; the video tests run after it",
}


def snippets() -> list[str]:
    """Inline `code` (also when it wraps a line: whitespace made single spaces) and the lines of fenced shell blocks
    (comments and blank lines aside)."""
    found = [" ".join(code.split()) for code in re.findall(r"(?<!`)`([^`]+)`(?!`)", README)]
    for block in re.findall(r"```(?:bash|sh)\n(.+?)\n```", README, re.S):
        found += [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]
    return found


def make_commands() -> list[str]:
    commands = []
    for text in snippets():
        # cron lines and the like: the make command inside them
        for match in re.finditer(r"make [a-z-]+(?: [A-Z_]+=(?:\"[^\"]*\"|\S+))*", text):
            if not PLACEHOLDER.search(match.group(0)):
                commands.append(match.group(0))
    return sorted(set(commands))


def parameter_lists() -> list[str]:
    return sorted({t for t in snippets() if re.fullmatch(r"[a-z_]+=\S+( [a-z_]+=\S+)*", t)})


def tool_commands() -> list[str]:
    tools = ("minikube ", "kind ", "kubectl ", "helm ", "docker ", "go ", "syft ", "/usr/bin/time", ".venv/bin/",
             "curl ", "conda ", "jupyter ", "scripts/", "pytest -")
    return sorted({t for t in snippets() if t.startswith(tools) or t == "minikube" or t.endswith(".sh")})


def standalone_params() -> list[str]:
    """`PARAMS="..."` shown on its own (to pass to a make target)."""
    return sorted({m.group(1) for t in snippets() if (m := re.fullmatch(r'PARAMS="([^"]*)"', t))})


def python_module_commands() -> list[str]:
    """`python -m testcluster|todo_runbook ...`; `[--flag]` (optional, as usage lines write it) taken as given."""
    modules = re.compile(r"python -m (testcluster|todo_runbook)\b")
    return sorted({t for t in snippets() if modules.match(t) and not PLACEHOLDER.search(t)})


def pytest_commands() -> list[str]:
    return sorted({t for t in snippets() if re.fullmatch(r"pytest( \S+\.py)+", t)})


def bash_commands() -> list[str]:
    return sorted({t for t in snippets() if re.fullmatch(r"bash \S+", t)})


def check_parameters(assignments: list[str]) -> None:
    values = {}
    for item in assignments:
        name, _, value = item.partition("=")
        values[name] = value
    known = set(RunbookConfig.names())
    assert set(values) <= known, f"unknown parameters {sorted(set(values) - known)} in {assignments}"
    concrete = {k: v for k, v in values.items() if not VALUE_PLACEHOLDER.search(v)}
    try:
        RunbookConfig.from_mapping(concrete)
    except ConfigError as exc:
        raise AssertionError(f"README parameters {concrete} are refused: {exc}") from exc


def test_the_readme_shows_commands_of_every_kind() -> None:
    assert len(make_commands()) >= 6 and parameter_lists() and tool_commands()


@pytest.mark.parametrize("command", make_commands())
def test_each_make_command_is_accepted(command: str) -> None:
    argv = shlex.split(command)
    params = next((a.partition("=")[2] for a in argv if a.startswith("PARAMS=")), "")
    if params:
        check_parameters(params.split())
    # -n: make parses the line, resolves the target and its prerequisites, and prints instead of running.
    result = subprocess.run(["make", "-n", *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{command}: {result.stderr[-2000:]}"
    for item in params.split():
        assert f"-p {item}" in result.stdout, f"{command} does not pass {item} to the runbook:\n{result.stdout}"


@pytest.mark.parametrize("assignments", parameter_lists())
def test_each_parameter_list_is_valid(assignments: str) -> None:
    check_parameters(assignments.split())


def test_a_wrong_parameter_in_the_readme_would_be_caught() -> None:
    with pytest.raises(AssertionError, match="unknown parameters"):
        check_parameters(["provider=kind", "kind_clustr=todo"])
    with pytest.raises(AssertionError, match="refused"):
        check_parameters(["provider=kinda"])


@pytest.mark.parametrize("argv", [["registry", "up", "--auth", "--help"], ["registry", "status", "--help"],
                                  ["up", "--real-nodes", "2", "--help"], ["up", "--real-nodes", "1", "--help"]])
def test_the_testcluster_commands_parse(argv: list[str]) -> None:
    assert "python -m testcluster registry up [--auth]" in README
    assert "python -m testcluster up --real-nodes 2" in README and "--real-nodes 1" in README
    result = subprocess.run([sys.executable, "-m", "testcluster", *argv], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "usage:" in result.stdout, result.stderr[-2000:]


@pytest.mark.parametrize("command", python_module_commands())
def test_each_python_module_command_parses(command: str) -> None:
    # --help: the module's parser reads every argument of the line, then prints its usage instead of running
    argv = shlex.split(command.replace("[", "").replace("]", ""))[1:]
    result = subprocess.run([sys.executable, *argv, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "usage:" in result.stdout, f"{command}: {result.stderr[-2000:]}"


@pytest.mark.parametrize("params", standalone_params())
def test_each_params_value_is_valid(params: str) -> None:
    check_parameters(params.split())


@pytest.mark.parametrize("command", pytest_commands())
def test_each_pytest_command_collects(command: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                             *shlex.split(command)[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and " collected" in result.stdout, f"{command}: {result.stdout[-2000:]}"


@pytest.mark.parametrize("command", bash_commands())
def test_each_bash_script_exists_and_parses(command: str) -> None:
    script = ROOT / command.split()[1]
    assert script.is_file(), f"README runs `{command}`, but {script} does not exist"
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{command}: {result.stderr[-2000:]}"


def test_the_wider_extractor_finds_wrapped_and_new_kinds_of_commands() -> None:
    assert python_module_commands() and pytest_commands() and bash_commands()
    assert any(" --real-nodes 2" in c for c in python_module_commands())


@pytest.mark.parametrize("command", tool_commands())
def test_each_tool_command_is_run_elsewhere_or_says_why_not(command: str) -> None:
    assert command in NOT_RUNNABLE_HERE, (f"README shows `{command}`: run it in a test, or add it to "
                                          "NOT_RUNNABLE_HERE with the reason and the test that covers it")
