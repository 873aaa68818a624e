"""The frontend's own unit tests (vitest) run as part of the single pytest run."""

from __future__ import annotations

import re
import subprocess

from tests.frontend.conftest import FRONTEND_DIR, node_env


def test_npm_test_passes(frontend_dependencies: str) -> None:
    result = subprocess.run([frontend_dependencies, "test"], cwd=FRONTEND_DIR, env=node_env(CI="1"),
                            capture_output=True, text=True, timeout=600, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"`npm test` failed in {FRONTEND_DIR}:\n{output[-6000:]}"
    # Guard against a run that "passes" because it found nothing to run.
    summary = re.search(r"Tests\s+(\d+) passed", re.sub(r"\x1b\[[0-9;]*m", "", output))
    assert summary is not None, f"no vitest summary in the output:\n{output[-3000:]}"
    assert int(summary.group(1)) >= 20, f"only {summary.group(1)} unit tests ran"
