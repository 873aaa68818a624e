"""Alembic migrations from an empty database, idempotence, and replicas racing to migrate."""

from __future__ import annotations

import threading

import psycopg
import pytest
from app.config import normalize_database_url
from app.migrate import MIGRATION_LOCK_ID, current_revision, head_revision, upgrade_to_head
from sqlalchemy import create_engine, inspect

from .conftest import JWT_SECRET, run_backend_module

pytestmark = pytest.mark.postgres


def test_upgrade_from_empty_creates_the_schema(postgres_url: str) -> None:
    engine = create_engine(normalize_database_url(postgres_url))
    try:
        assert current_revision(engine) is None
        assert upgrade_to_head(engine) == head_revision()
        tables = set(inspect(engine).get_table_names())
        assert {"users", "tasks", "conversations", "messages", "alembic_version"} <= tables
        task_columns = {c["name"] for c in inspect(engine).get_columns("tasks")}
        assert {"id", "user_id", "title", "description", "completed", "due_date", "completed_at"} <= task_columns
        # A second run changes nothing and reports the same head.
        assert upgrade_to_head(engine) == head_revision()
    finally:
        engine.dispose()


def test_concurrent_upgrades_take_turns(postgres_url: str) -> None:
    """Eight "replicas" migrate the same empty database at once: all succeed, one schema results."""
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def replica() -> None:
        engine = create_engine(normalize_database_url(postgres_url))
        try:
            barrier.wait()
            results.append(upgrade_to_head(engine))
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=replica) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert results == [head_revision()] * 8
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*), min(version_num) FROM alembic_version").fetchone() == (1, head_revision())
        # The lock is released afterwards, so a later deploy is not blocked.
        assert conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone() == (0,)


def test_a_held_lock_makes_migration_wait(postgres_url: str) -> None:
    """While another session holds the migration lock, upgrade_to_head waits instead of racing."""
    engine = create_engine(normalize_database_url(postgres_url))
    done = threading.Event()
    with psycopg.connect(postgres_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
        worker = threading.Thread(target=lambda: (upgrade_to_head(engine), done.set()))
        worker.start()
        assert not done.wait(1.5), "migration ran although another replica held the lock"
        holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
        worker.join(timeout=60)
    assert done.is_set()
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_sslmode_require_connects_over_tls(postgres_url: str) -> None:
    """Neon-style URLs (?sslmode=require) work unchanged; the test server speaks TLS."""
    engine = create_engine(normalize_database_url(postgres_url + "?sslmode=require"))
    try:
        upgrade_to_head(engine)
        with engine.connect() as conn:
            from sqlalchemy import text

            assert conn.execute(text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).scalar() is True
    finally:
        engine.dispose()


def test_migrate_command(postgres_url: str) -> None:
    env = {"DATABASE_URL": postgres_url, "JWT_SECRET": JWT_SECRET}
    for _ in range(2):  # the second run finds nothing to do
        result = run_backend_module("app.migrate", env=env, timeout=300)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().endswith(f"schema at revision {head_revision()}")
    password = postgres_url.split(":")[2].split("@")[0]
    assert password not in result.stdout + result.stderr
