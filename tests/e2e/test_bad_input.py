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
