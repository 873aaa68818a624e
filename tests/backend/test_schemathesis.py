"""schemathesis, a maintained API fuzzer, against the real backend (uvicorn on a real PostgreSQL)
with a bearer token: every answer must be a documented status with the documented body, headers
and content type, and never a 5xx. Bounded: a few examples per operation, a fixed seed, a timeout."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .conftest import BackendProcess, sign_up

pytestmark = pytest.mark.postgres

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "unsupported_method",
    ]
)
EXAMPLES_PER_OPERATION = 8
RUN_TIMEOUT_SECONDS = 600


def test_schemathesis_conformance(live_backend: BackendProcess, tmp_path: Path) -> None:
    st = Path(sys.executable).with_name("st")
    if not st.exists():
        pytest.fail("schemathesis is not installed: pip install -e '.[test]' (it is in the test extras)")
    with httpx.Client(base_url=live_backend.base_url, timeout=60) as http:
        user = sign_up(http)
        for title in ("first", "second"):  # ids 1 and 2 exist, so generated ids sometimes hit a real task
            assert http.post("/api/tasks", json={"title": title}, headers=user.headers).status_code == 201
    command = [
        str(st),
        "--no-color",
        "run",
        f"{live_backend.base_url}/api/openapi.json",
        "--header",
        f"Authorization: Bearer {user.token}",
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        "15",
        "--request-timeout",
        "30",
        "--report-dir",
        str(tmp_path),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False, cwd=tmp_path
    )
    output = result.stdout + result.stderr
    print(output[-4000:])
    assert result.returncode == 0, output[-12000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", output)
    assert generated and generated.group(1) == generated.group(2) and int(generated.group(1)) > 100, output[-3000:]
