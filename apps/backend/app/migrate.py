"""Apply Alembic migrations under a PostgreSQL advisory lock, so replicas starting together
take turns: the first upgrades the schema, the others wait and then find nothing to do.

Run by hand with ``python -m app.migrate`` (uses DATABASE_URL); the app also runs it at start-up.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, text

# Any fixed 64-bit number works; it only has to be the same in every replica.
MIGRATION_LOCK_ID = 7_426_310_551
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

log = logging.getLogger("app.migrate")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"expected one Alembic head, found {heads}; merge the migration branches")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(engine: Engine) -> str:
    """Upgrade the schema to head while holding the advisory lock; returns the revision now applied."""
    config = alembic_config()
    with engine.connect() as conn:
        # Session-level lock on this connection; waits while another replica migrates.
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_ID})
        try:
            conn.commit()
            before = MigrationContext.configure(conn).get_current_revision()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()
            after = MigrationContext.configure(conn).get_current_revision()
            if before != after:
                log.info("migrations applied", extra={"from_revision": before, "to_revision": after})
            else:
                log.info("schema already at head", extra={"revision": after})
            return after or ""
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_ID})
            conn.commit()


def main() -> int:
    from app.config import ConfigError, load_settings
    from app.logs import configure_logging

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"todo-backend: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    engine = create_engine(settings.database_url, connect_args={"connect_timeout": 10})
    try:
        revision = upgrade_to_head(engine)
    finally:
        engine.dispose()
    print(f"schema at revision {revision}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
