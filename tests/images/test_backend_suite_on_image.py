"""The backend's own HTTP-level tests, run against the slim runtime image instead of the source tree.

The image ships bytecode only, a FROM-scratch runtime and the h11 parser flags in its ENTRYPOINT: a module
it lacks, a shared library it does not carry or a setting it drops shows up here, where the same tests pass
from source. tests/backend/live.py starts each live backend as `docker run` of the image when
TODO_RUNBOOK_BACKEND_IMAGE names it; the tests and their PostgreSQL (loopback) are unchanged.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dockerfiles.image_build import BuiltImage
from tests.backend.live import IMAGE_ENV, IMAGE_LOG_ENV

from .conftest import REPO_ROOT

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.slow]
# Every test file whose tests talk to a live backend process over HTTP (the others import the app in-process).
SUITES = ["tests/backend/test_text_fields.py", "tests/backend/test_mcp_http.py", "tests/backend/test_lists.py",
          "tests/backend/test_accounts.py", "tests/backend/test_processes.py"]


def test_the_backends_live_tests_pass_against_the_slim_image(cold_builds: dict[str, BuiltImage],
                                                             docker_client: Any, tmp_path: Path) -> None:
    image = cold_builds["backend"].tag
    started = tmp_path / "containers.txt"
    env = {**os.environ, IMAGE_ENV: image, IMAGE_LOG_ENV: str(started)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "postgres", *SUITES],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800)
    tail = proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    passed = re.search(r"(\d+) passed", proc.stdout)
    assert passed and int(passed.group(1)) >= 10, tail
    # the live backends really were the image: live.py listed each `docker run` it started
    containers = started.read_text().split() if started.exists() else []
    assert len(containers) >= 8 and all(c.startswith("todo-backend-test-") for c in containers), containers
