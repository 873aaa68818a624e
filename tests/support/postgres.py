"""Fixture plugin: a real, throwaway PostgreSQL server for tests.

Fixtures
--------
``postgres_server`` (session scope)
    Starts one private PostgreSQL cluster for the whole test session: Debian's server binaries
    (installed on demand by ``scripts/ensure-postgres.sh``), ``initdb`` into a temporary folder,
    listening on ``127.0.0.1`` at a free port, password authentication for TCP clients. When the
    tests run as root the cluster runs as the ``postgres`` OS user (PostgreSQL refuses root).
    Yields a :class:`PostgresServer`; the cluster is stopped and its folder removed at the end.

``postgres_url`` (function scope)
    A fresh, empty database on that server for one test, as a ``postgresql://`` URL
    (user, password, host, port, database). Dropped after the test.

Example::

    @pytest.mark.postgres
    def test_something(postgres_url: str) -> None:
        with psycopg.connect(postgres_url) as conn:
            ...

    @pytest.mark.postgres
    def test_two_databases(postgres_server: PostgresServer) -> None:
        first = postgres_server.create_database()
        second = postgres_server.create_database("reports")
        ...

Environment knobs: ``TODO_RUNBOOK_PG_BINDIR`` points at another PostgreSQL ``bin`` folder
(skips the Debian install); ``TODO_RUNBOOK_PG_LISTEN`` sets ``listen_addresses`` (default
``127.0.0.1``; use ``*`` to let containers on a Docker bridge reach the server — the URL still
names 127.0.0.1, so callers substitute the address they route through).

TLS is on when ``openssl`` is installed (a throwaway self-signed certificate), so clients can
test ``?sslmode=require`` the way Neon is used; plain connections still work.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ENSURE_SCRIPT = REPO_ROOT / "scripts" / "ensure-postgres.sh"
SUPERUSER = "postgres"


class PostgresStartError(RuntimeError):
    """The throwaway PostgreSQL cluster could not be created or started."""


@dataclass
class PostgresServer:
    """A running throwaway PostgreSQL cluster (see the module docstring)."""

    host: str
    port: int
    user: str
    password: str
    datadir: Path
    bindir: Path
    log_file: Path
    _created: list[str] = field(default_factory=list, repr=False)

    def url(self, dbname: str = "postgres") -> str:
        """A ``postgresql://`` URL for ``dbname`` as the superuser (works with psycopg and SQLAlchemy)."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{dbname}"

    @property
    def admin_url(self) -> str:
        """URL of the maintenance database ``postgres``."""
        return self.url("postgres")

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a random name unless given) and return its URL."""
        import psycopg
        from psycopg import sql

        name = name or f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._created.append(name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting anyone still attached to it."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if name in self._created:
            self._created.remove(name)

    def server_log(self) -> str:
        """The server's log so far (useful in assertion messages)."""
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _find_bindir() -> Path:
    override = os.environ.get("TODO_RUNBOOK_PG_BINDIR")
    if override:
        bindir = Path(override)
        if not (bindir / "initdb").exists():
            raise PostgresStartError(
                f"TODO_RUNBOOK_PG_BINDIR={override} has no initdb; point it at a PostgreSQL bin folder"
            )
        return bindir
    result = subprocess.run([str(ENSURE_SCRIPT)], capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        reason = message[-1] if message else f"exit {result.returncode}"
        if os.geteuid() != 0:
            pytest.skip(f"PostgreSQL server binaries are missing and cannot be installed without root: {reason}")
        raise PostgresStartError(f"scripts/ensure-postgres.sh failed: {reason}")
    return Path(result.stdout.strip().splitlines()[-1])


def _run_as_owner_kwargs() -> dict[str, object]:
    """PostgreSQL refuses to run as root; when we are root, run its programs as `postgres`."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError as exc:
        raise PostgresStartError(
            "running as root but there is no 'postgres' OS user; install Debian's postgresql package "
            "(scripts/ensure-postgres.sh) or run the tests as a normal user"
        ) from exc
    return {"user": SUPERUSER, "group": SUPERUSER}


ROOT_PREFIX = "todo-pg-"
OWNER_FILE = "owner.pid"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_orphaned_clusters(bindir: Path, base_dir: Path | None = None) -> list[Path]:
    """Stop and delete clusters whose test process died without tearing down (killed by a timeout,
    say). Only folders this module created and whose recorded owner process is gone are touched."""
    removed = []
    parent = Path(base_dir or tempfile.gettempdir())
    for root in parent.glob(ROOT_PREFIX + "*"):
        try:
            owner_pid = int((root / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        if _process_alive(owner_pid):
            continue
        if (root / "data" / "postmaster.pid").exists():
            subprocess.run(
                [str(bindir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "-w", "-t", "30", "stop"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                **_run_as_owner_kwargs(),  # type: ignore[arg-type]
            )
        shutil.rmtree(root, ignore_errors=True)
        removed.append(root)
    return removed


def start_postgres(base_dir: Path | None = None) -> PostgresServer:
    """Create and start a throwaway cluster; the caller must call :func:`stop_postgres`.
    ``base_dir`` (default: the system temp folder) must be reachable by the ``postgres`` user when root."""
    bindir = _find_bindir()
    owner = _run_as_owner_kwargs()
    sweep_orphaned_clusters(bindir, base_dir)
    root = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX, dir=base_dir))
    (root / OWNER_FILE).write_text(f"{os.getpid()}\n")
    datadir = root / "data"
    log_file = root / "server.log"
    password = secrets.token_hex(16)
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    if owner:
        # The temporary folder is root-only (0700); hand it to the server's user.
        os.chmod(root, 0o700)
        for path in (root, pwfile):
            shutil.chown(path, user=SUPERUSER, group=SUPERUSER)
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    init = subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-U",
            SUPERUSER,
            "--encoding=UTF8",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
            "--no-instructions",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
        **owner,  # type: ignore[arg-type]
    )
    pwfile.unlink(missing_ok=True)
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresStartError(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")

    ssl_options = _self_signed_certificate(root, owner)
    listen = os.environ.get("TODO_RUNBOOK_PG_LISTEN", "127.0.0.1")
    if listen != "127.0.0.1":
        with open(datadir / "pg_hba.conf", "a") as hba:
            hba.write("host all all 0.0.0.0/0 scram-sha-256\n")
    last_error = ""
    for _attempt in range(3):  # another process may grab the free port between probe and bind
        port = _free_loopback_port()
        options = " ".join(
            [
                f"-c listen_addresses={listen}",
                f"-c port={port}",
                f"-c unix_socket_directories={root}",
                # A throwaway cluster: durability is not needed, speed is.
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=300",
                "-c shared_buffers=64MB",
                *ssl_options,
            ]
        )
        start = subprocess.run(
            [str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(log_file), "-o", options, "-w", "-t", "60", "start"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=env,
            **owner,  # type: ignore[arg-type]
        )
        if start.returncode == 0:
            server = PostgresServer(
                host="127.0.0.1",
                port=port,
                user=SUPERUSER,
                password=password,
                datadir=datadir,
                bindir=bindir,
                log_file=log_file,
            )
            _wait_until_accepting(server)
            return server
        last_error = (start.stderr.strip() or start.stdout.strip()) + "\n" + _tail(log_file)
    shutil.rmtree(root, ignore_errors=True)
    raise PostgresStartError(f"pg_ctl start failed three times: {last_error}")


def _self_signed_certificate(root: Path, owner: dict[str, object]) -> list[str]:
    """Turn on TLS (like Neon, where clients connect with sslmode=require) when openssl is present.
    Clients may still connect without TLS; the certificate is throwaway and self-signed."""
    if shutil.which("openssl") is None:
        return []
    cert, key = root / "server.crt", root / "server.key"
    made = subprocess.run(
        [
            "openssl",
            "req",
            "-new",
            "-x509",
            "-days",
            "2",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-newkey",
            "rsa:2048",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if made.returncode != 0:
        return []
    os.chmod(key, 0o600)  # PostgreSQL refuses a key others can read
    if owner:
        for path in (cert, key):
            shutil.chown(path, user=SUPERUSER, group=SUPERUSER)
    return ["-c ssl=on", f"-c ssl_cert_file={cert}", f"-c ssl_key_file={key}"]


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait_until_accepting(server: PostgresServer, timeout: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(server.admin_url, connect_timeout=2):
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise PostgresStartError(f"PostgreSQL did not accept connections: {exc}") from exc
            time.sleep(0.1)


def stop_postgres(server: PostgresServer) -> None:
    """Stop the cluster and delete its folder."""
    owner = _run_as_owner_kwargs()
    subprocess.run(
        [str(server.bindir / "pg_ctl"), "-D", str(server.datadir), "-m", "fast", "-w", "-t", "60", "stop"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **owner,  # type: ignore[arg-type]
    )
    shutil.rmtree(server.datadir.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL cluster for the test session (see the module docstring)."""
    server = start_postgres()
    try:
        yield server
    finally:
        stop_postgres(server)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new empty database for this test, as a ``postgresql://`` URL; dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)
