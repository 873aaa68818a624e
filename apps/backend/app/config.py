"""Settings, read from the environment only (12-factor); validated once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MIN_JWT_SECRET_LENGTH = 32
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# /ready answers within this many seconds whether or not the database answers (the kubelet's probe
# timeout must be longer, so a sick database reads as "not ready" rather than as a probe timeout).
READY_BOUND_SECONDS = 2.0


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the variable and the fix."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    jwt_secret: str = field(repr=False)
    openai_api_key: str | None = field(default=None, repr=False)
    openai_model: str = "gpt-4o-mini"
    cors_origins: tuple[str, ...] = ()
    log_level: str = "INFO"
    jwt_ttl_minutes: int = 24 * 60
    max_body_bytes: int = 64 * 1024
    max_message_chars: int = 2000
    history_messages: int = 20
    run_migrations: bool = True
    bcrypt_rounds: int = 12
    max_header_bytes: int = 16 * 1024
    db_connect_timeout_seconds: int = 3
    db_pool_timeout_seconds: int = 2
    db_timeout_seconds: int = 5
    login_failures_per_account: int = 10
    login_failures_per_address: int = 50
    login_window_seconds: int = 300
    # The longest a request waits before its answer starts; None: the database bound
    # (app.db.DbLimits.request_bound_seconds, 8 s with the defaults above).
    request_timeout_seconds: int | None = None
    # POST /api/chat with the OpenAI agent: its model calls take seconds each, so the turn gets its own bound.
    chat_timeout_seconds: int = 120

    @property
    def agent_mode(self) -> str:
        return "openai" if self.openai_api_key else "local"


def normalize_database_url(raw: str) -> str:
    """Accept ``postgres://``, ``postgresql://`` or ``postgresql+<driver>://`` and return a
    SQLAlchemy URL for psycopg 3, keeping query options such as Neon's ``sslmode=require``."""
    value = raw.strip()
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in ("postgres", "postgresql") and not scheme.startswith("postgresql+"):
        raise ConfigError(
            "DATABASE_URL must be a PostgreSQL URL such as postgresql://user:password@host:5432/dbname "
            f"(got scheme {parts.scheme or 'none'!r})"
        )
    if not parts.hostname:
        raise ConfigError("DATABASE_URL has no host; expected postgresql://user:password@host:5432/dbname")
    if not parts.path.strip("/"):
        raise ConfigError("DATABASE_URL has no database name; append /dbname after the host")
    # psycopg rejects options libpq does not know; Neon URLs sometimes carry channel_binding, which libpq knows.
    query = urlencode(parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, query, parts.fragment))


def redact_url(url: str) -> str:
    """The URL without its password, for log lines."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number (got {raw!r})") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum} (got {value})")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from the environment; raises :class:`ConfigError` on the first problem."""
    env = os.environ if env is None else env
    database_url = env.get("DATABASE_URL", "").strip()
    if not database_url:
        raise ConfigError(
            "DATABASE_URL is not set; set it to postgresql://user:password@host:5432/dbname "
            "(add ?sslmode=require for Neon)"
        )
    jwt_secret = env.get("JWT_SECRET", "")
    if not jwt_secret:
        raise ConfigError("JWT_SECRET is not set; set it to a random string, e.g. the output of `openssl rand -hex 32`")
    if len(jwt_secret) < MIN_JWT_SECRET_LENGTH:
        raise ConfigError(
            f"JWT_SECRET is too short ({len(jwt_secret)} characters); HS256 needs at least "
            f"{MIN_JWT_SECRET_LENGTH}, e.g. the output of `openssl rand -hex 32`"
        )
    log_level = env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)} (got {log_level!r})")
    origins = tuple(o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip())
    run_migrations = env.get("RUN_MIGRATIONS", "true").strip().lower() not in ("0", "false", "no")
    return Settings(
        database_url=normalize_database_url(database_url),
        jwt_secret=jwt_secret,
        openai_api_key=env.get("OPENAI_API_KEY", "").strip() or None,
        openai_model=env.get("OPENAI_MODEL", "").strip() or "gpt-4o-mini",
        cors_origins=origins,
        log_level=log_level,
        jwt_ttl_minutes=_int(env, "JWT_TTL_MINUTES", 24 * 60, 1),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", 64 * 1024, 1024),
        max_message_chars=_int(env, "MAX_MESSAGE_CHARS", 2000, 1),
        run_migrations=run_migrations,
        bcrypt_rounds=min(_int(env, "BCRYPT_ROUNDS", 12, 4), 16),
        max_header_bytes=_int(env, "MAX_HEADER_BYTES", 16 * 1024, 1024),
        db_connect_timeout_seconds=_int(env, "DB_CONNECT_TIMEOUT_SECONDS", 3, 2),
        db_pool_timeout_seconds=_int(env, "DB_POOL_TIMEOUT_SECONDS", 2, 1),
        db_timeout_seconds=_int(env, "DB_TIMEOUT_SECONDS", 5, 1),
        login_failures_per_account=_int(env, "LOGIN_FAILURES_PER_ACCOUNT", 10, 1),
        login_failures_per_address=_int(env, "LOGIN_FAILURES_PER_ADDRESS", 50, 1),
        login_window_seconds=_int(env, "LOGIN_WINDOW_SECONDS", 300, 1),
        request_timeout_seconds=_int(env, "REQUEST_TIMEOUT_SECONDS", 0, 1) or None,
        chat_timeout_seconds=_int(env, "CHAT_TIMEOUT_SECONDS", 120, 1),
    )
