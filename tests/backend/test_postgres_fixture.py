"""The shared PostgreSQL fixture itself: fresh databases, TLS, and cleanup after a killed run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from tests.support.postgres import PostgresServer, sweep_orphaned_clusters

pytestmark = pytest.mark.postgres
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_each_test_gets_an_empty_database(postgres_url: str, postgres_server: PostgresServer) -> None:
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE scratch (id int)")
    other = postgres_server.create_database()
    with psycopg.connect(other) as conn:
        assert conn.execute("SELECT to_regclass('public.scratch')").fetchone() == (None,)
    postgres_server.drop_database(other.rsplit("/", 1)[1])


def test_clusters_of_a_killed_run_are_swept(postgres_server: PostgresServer) -> None:
    # Not pytest's tmp_path: its parents are private to root, and the server runs as `postgres`.
    base = Path(tempfile.mkdtemp(prefix="todo-pg-sweep-test-"))
    os.chmod(base, 0o755)
    try:
        _kill_and_sweep(base, postgres_server)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _kill_and_sweep(tmp_path: Path, postgres_server: PostgresServer) -> None:
    starter = (
        "import sys, time; sys.path.insert(0, sys.argv[1]);"
        "from pathlib import Path; from tests.support.postgres import start_postgres;"
        "server = start_postgres(Path(sys.argv[2])); print(server.datadir, flush=True); time.sleep(600)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", starter, str(REPO_ROOT), str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    datadir = Path(child.stdout.readline().strip())  # type: ignore[union-attr]
    pid = int((datadir / "postmaster.pid").read_text().splitlines()[0])
    os.kill(child.pid, signal.SIGKILL)  # no teardown runs, as when a timeout kills pytest
    child.wait(timeout=30)
    assert datadir.exists()
    removed = sweep_orphaned_clusters(postgres_server.bindir, tmp_path)
    assert removed == [datadir.parent]
    assert not datadir.parent.exists()
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists(), "the orphaned postmaster is still running"
    # The live session cluster is untouched.
    with psycopg.connect(postgres_server.admin_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
