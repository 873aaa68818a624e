"""Bad input fails fast with a clear message, and the run's report says so.

These run the real CLI in a subprocess against real failures (a closed port, a PATH without helm);
they need no cluster and finish in seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from markupsafe import escape

from todo_runbook.registry import PASSWORD_ENV, USERNAME_ENV

REPO = Path(__file__).resolve().parents[2]


def run_cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120):
    outputs = tmp_path / "outputs"
    cmd = [sys.executable, "-m", "todo_runbook", "run", "--run-id", "bad", "-p", f"outputs_dir={outputs}", *args]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env or os.environ.copy(),
                          timeout=timeout)
    seconds = time.monotonic() - t0
    run_dir = outputs / "bad"
    summary = json.loads((run_dir / "summary.json").read_text())
    report = (run_dir / "report.html").read_text()
    return proc, summary, report, seconds


def failed_step(summary):
    return next(s for s in summary["steps"] if s["status"] == "failed")


def test_misspelled_parameter(tmp_path):
    proc, summary, report, _ = run_cli(tmp_path, "-p", "helth_requests=10")
    assert proc.returncode == 2
    assert "unknown parameter 'helth_requests'" in proc.stderr and "Did you mean 'health_requests'?" in proc.stderr
    step = failed_step(summary)
    assert step["step"] == "config" and "health_requests" in step["error"]["problem"]
    assert "unknown parameter" in report and "health_requests" in report
    assert summary["status"] == "step failed"


def test_unknown_provider(tmp_path):
    proc, summary, report, _ = run_cli(tmp_path, "-p", "provider=minkube")
    assert proc.returncode == 2
    error = failed_step(summary)["error"]
    assert "'minkube'" in error["problem"] and "Did you mean 'minikube'?" in error["problem"]
    assert "auto, minikube, kind, context, testbed" in error["remedy"]
    assert "minkube" in report


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the with block ends


def dead_kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "dead.kubeconfig"
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: dead
  cluster:
    server: https://127.0.0.1:{_closed_port()}
    insecure-skip-tls-verify: true
users:
- name: dead
  user:
    token: not-a-real-token
contexts:
- name: dead
  context: {{cluster: dead, user: dead}}
current-context: dead
""")
    return path


def test_dead_cluster(tmp_path):
    kubeconfig = dead_kubeconfig(tmp_path)
    proc, summary, report, seconds = run_cli(tmp_path, "--steps", "deploy", "-p", "provider=context",
                                             "-p", f"kubeconfig={kubeconfig}")
    assert proc.returncode == 2
    step = failed_step(summary)
    assert step["step"] == "preflight"
    assert "does not answer" in step["error"]["problem"] and "'dead'" in step["error"]["problem"]
    assert "cluster-info" in step["error"]["remedy"]
    assert [s["status"] for s in summary["steps"] if s["step"] == "deploy"] == ["skipped"]
    assert "does not answer" in report
    assert seconds < 60, f"a dead cluster should fail fast, took {seconds:.0f} s"


def without_registry_credentials(tmp_path: Path) -> dict[str, str]:
    """No credential variables, and a Docker config of the test's own with no login (not this machine's)."""
    env = {k: v for k, v in os.environ.items() if k not in (USERNAME_ENV, PASSWORD_ENV)}
    docker_config = tmp_path / "docker-config"
    docker_config.mkdir()
    (docker_config / "config.json").write_text(json.dumps({"auths": {}}))
    env["DOCKER_CONFIG"] = str(docker_config)
    return env


def registry_preflight_failure(tmp_path: Path, proc, summary, report: str, steps: list[str]) -> dict[str, str]:
    """A run stopped by preflight's registry check: exit 2, no cluster asked, none of `steps` ran. Returns the
    error, for the caller to check what it says about the registry."""
    assert proc.returncode == 2, proc.stderr[-3000:]
    step = failed_step(summary)
    assert step["step"] == "preflight", step
    evidence = tmp_path / "outputs" / "bad" / "evidence"
    preflight = json.loads((evidence / "preflight.json").read_text())
    assert preflight["status"] == "failed" and preflight["error"] == step["error"]
    # The registry is checked before the cluster: the (dead) cluster was never asked, nothing was sized for it.
    assert preflight["result"]["cluster"] is None and "capacity" not in preflight["result"], preflight["result"]
    for name in steps:
        assert [s["status"] for s in summary["steps"] if s["step"] == name] == ["skipped"], summary["steps"]
        recorded = json.loads((evidence / f"{name}.json").read_text()) if (evidence / f"{name}.json").exists() else {}
        assert recorded.get("status") != "ok", (name, recorded)
    assert str(escape(step["error"]["problem"])) in report  # as the report's template prints it
    return dict(step["error"])


def _registry_nobody_answers(tmp_path: Path, steps: str):
    port = _closed_port()
    return port, run_cli(tmp_path, "--steps", steps, "-p", "provider=context",
                         "-p", f"kubeconfig={dead_kubeconfig(tmp_path)}", "-p", f"registry=127.0.0.1:{port}/todo",
                         env=without_registry_credentials(tmp_path))


def test_a_registry_that_does_not_answer_stops_the_run_at_preflight(tmp_path):
    """Needs helm and kubectl on PATH (as test_dead_cluster), no engine and no cluster: the kubeconfig's cluster
    is dead too, so an error naming the registry proves the registry is checked first."""
    port, (proc, summary, report, seconds) = _registry_nobody_answers(tmp_path, "deploy")
    error = registry_preflight_failure(tmp_path, proc, summary, report, ["deploy"])
    assert f"registry 127.0.0.1:{port} does not answer at 127.0.0.1:{port}" in error["problem"]
    assert "'dead'" not in error["problem"]
    assert "registry=HOST[:PORT]/PREFIX" in error["remedy"] and "testcluster registry up" in error["remedy"]
    assert seconds < 60, f"an unanswering registry should fail fast, took {seconds:.0f} s"


@pytest.mark.docker
def test_nothing_is_built_loaded_or_deployed_when_the_registry_does_not_answer(tmp_path, docker_client):
    """The build and load steps' preflight asks the Docker engine (docker_client makes sure one answers)."""
    port, (proc, summary, report, _) = _registry_nobody_answers(tmp_path, "build,load,deploy")
    error = registry_preflight_failure(tmp_path, proc, summary, report, ["build", "load", "deploy"])
    assert f"registry 127.0.0.1:{port} does not answer" in error["problem"]
    assert not (tmp_path / "outputs" / "bad" / "01-build.ipynb").exists()  # the build notebook never ran


def test_missing_helm(tmp_path):
    # A PATH with the tools the deploy step needs, except helm; a cache root without helm either.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("kubectl", "docker"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    env = dict(os.environ, PATH=f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin",
               TODO_RUNBOOK_CACHE=str(tmp_path / "cache"))
    if shutil.which("helm", path=env["PATH"]):
        pytest.skip("helm is installed system-wide (/usr/bin or /bin); cannot hide it")
    kubeconfig = dead_kubeconfig(tmp_path)
    proc, summary, report, seconds = run_cli(tmp_path, "--steps", "deploy", "-p", "provider=context",
                                             "-p", f"kubeconfig={kubeconfig}", env=env)
    assert proc.returncode == 2
    error = failed_step(summary)["error"]
    assert "helm" in error["problem"] and "missing" in error["problem"]
    assert "make tools" in error["remedy"]
    assert "helm" in report and "missing" in report
    assert seconds < 60


def test_a_broken_jupyter_kernel_fails_the_step_with_the_fix(tmp_path):
    """A kernel spec whose interpreter is gone (a moved virtualenv): the step fails with what to do, no traceback."""
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(tmp_path / "gone" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (moved away)", "language": "python"}))
    env = {**os.environ, "JUPYTER_PATH": str(tmp_path / "jupyter")}
    proc, summary, report, _ = run_cli(tmp_path, "--steps", "build", env=env)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    error = failed_step(summary)["error"]
    assert failed_step(summary)["step"] == "build"
    assert error["problem"].startswith("the Jupyter kernel for step build did not start: FileNotFoundError")
    assert "make setup" in error["remedy"]
    assert "the Jupyter kernel for step build did not start" in report
