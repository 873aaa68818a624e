"""Stand-ins for CLIs that cannot be installed here (kubectl-ai, the kagent CLI, Docker Desktop's `docker ai`).

A stand-in is a small script put first on PATH under the real tool's name. It does none of the tool's
work: it records exactly how the runbook called it (argv, working folder, the environment variables
that matter, and the kubeconfig files it was handed, with their permissions) and prints a canned reply.
Tests use it only to check the argv/env the runbook passes, never as evidence that the tool works.
A second kubeconfig helper writes a real two-context kubeconfig to pin from.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

WATCHED_ENV = ("KUBECONFIG", "OPENAI_ENDPOINT", "OPENAI_API_KEY", "OLLAMA_HOST")

_SCRIPT = '''#!{python}
"""Stand-in for {name} (a test double): records its call, prints a canned reply."""
import json, os, pathlib, sys, time
args = sys.argv[1:]
files = [os.environ.get("KUBECONFIG", "")]
if "--kubeconfig" in args:
    files.append(args[args.index("--kubeconfig") + 1])
kubeconfigs = {{f: {{"text": pathlib.Path(f).read_text(), "mode": oct(os.stat(f).st_mode & 0o777)}}
               for f in files if f and os.path.isfile(f)}}
record = {{"argv": args, "cwd": os.getcwd(), "env": {{k: os.environ.get(k) for k in {watched!r}}},
          "kubeconfigs": kubeconfigs,
          "sees": {{p: os.path.isfile(p) for p in {sees!r}}}}}
with open({record!r}, "a") as out:
    out.write(json.dumps(record) + "\\n")
time.sleep({sleep!r})
sys.stdout.write({stdout!r})
sys.stderr.write({stderr!r})
sys.exit({code!r})
'''


class StandIn:
    def __init__(self, folder: Path, name: str) -> None:
        self.name = name
        self.bin = folder / "standin-bin"
        self.record = folder / f"{name}-calls.jsonl"

    def write(self, stdout: str = "", stderr: str = "", code: int = 0, sleep: float = 0,
              sees: tuple[str, ...] = ()) -> StandIn:
        """(Re)write the script; `sees` lists relative paths whose existence it records from its cwd."""
        self.bin.mkdir(exist_ok=True)
        script = self.bin / self.name
        script.write_text(_SCRIPT.format(python=sys.executable, name=self.name, watched=WATCHED_ENV,
                                         sees=list(sees), record=str(self.record), sleep=sleep, stdout=stdout,
                                         stderr=stderr, code=code))
        script.chmod(0o755)
        return self

    def calls(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]


def put_first_on_path(monkeypatch: Any, stand_in: StandIn) -> None:
    monkeypatch.setenv("PATH", f"{stand_in.bin}{os.pathsep}{os.environ.get('PATH', '')}")


def two_context_kubeconfig(folder: Path) -> Path:
    """A kubeconfig whose current context is `other`; `chosen` has its CA in a file beside it (relative path),
    the way kind and minikube write theirs, so pinning must inline it."""
    (folder / "chosen-ca.crt").write_text("-----BEGIN CERTIFICATE-----\nCHOSEN\n-----END CERTIFICATE-----\n")
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "other",
        "clusters": [{"name": "chosen-cluster", "cluster": {"server": "https://127.0.0.1:6443",
                                                            "certificate-authority": "chosen-ca.crt"}},
                     {"name": "other-cluster", "cluster": {"server": "https://10.9.9.9:6443",
                                                           "insecure-skip-tls-verify": True}}],
        "users": [{"name": "chosen-user", "user": {"token": "chosen-token"}},
                  {"name": "other-user", "user": {"token": "other-token"}}],
        "contexts": [{"name": "chosen", "context": {"cluster": "chosen-cluster", "user": "chosen-user",
                                                    "namespace": "todo"}},
                     {"name": "other", "context": {"cluster": "other-cluster", "user": "other-user"}}],
    }
    path = folder / "user-kubeconfig"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
