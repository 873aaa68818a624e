"""Settings from the environment: URL normalisation (incl. Neon's sslmode), clear errors, and
the one-line refusal to start when a required variable is missing."""

from __future__ import annotations

import pytest
from app.config import ConfigError, load_settings, normalize_database_url, redact_url

from .conftest import run_backend_module

SECRET = "s" * 40


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgresql://u:p@db:5432/todo", "postgresql+psycopg://u:p@db:5432/todo"),
        ("postgres://u:p@db/todo", "postgresql+psycopg://u:p@db/todo"),
        ("postgresql+psycopg2://u:p@db/todo", "postgresql+psycopg://u:p@db/todo"),
        (
            "postgresql://u:p@ep-cool-1.eu-central-1.aws.neon.tech/neondb?sslmode=require&channel_binding=require",
            "postgresql+psycopg://u:p@ep-cool-1.eu-central-1.aws.neon.tech/neondb?sslmode=require&channel_binding=require",
        ),
    ],
)
def test_database_url_is_normalised_for_psycopg(raw: str, expected: str) -> None:
    assert normalize_database_url(raw) == expected


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("mysql://u:p@db/todo", "PostgreSQL URL"),
        ("postgresql:///todo", "no host"),
        ("postgresql://u:p@db", "no database"),
    ],
)
def test_bad_database_urls_are_refused_with_the_fix(raw: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        normalize_database_url(raw)


def test_settings_from_environment() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://u:p@db/todo?sslmode=require",
            "JWT_SECRET": SECRET,
            "CORS_ORIGINS": "http://a.test, http://b.test",
            "LOG_LEVEL": "debug",
            "OPENAI_MODEL": "gpt-x",
        }
    )
    assert settings.database_url == "postgresql+psycopg://u:p@db/todo?sslmode=require"
    assert settings.cors_origins == ("http://a.test", "http://b.test")
    assert settings.log_level == "DEBUG"
    assert settings.agent_mode == "local"
    assert (
        load_settings({"DATABASE_URL": "postgresql://u:p@db/x", "JWT_SECRET": SECRET, "OPENAI_API_KEY": "k"}).agent_mode
        == "openai"
    )
    assert SECRET not in repr(settings)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"JWT_SECRET": SECRET}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://u:p@db/x"}, "JWT_SECRET"),
        ({"DATABASE_URL": "postgresql://u:p@db/x", "JWT_SECRET": "short"}, "JWT_SECRET"),
        ({"DATABASE_URL": "postgresql://u:p@db/x", "JWT_SECRET": SECRET, "LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"DATABASE_URL": "postgresql://u:p@db/x", "JWT_SECRET": SECRET, "JWT_TTL_MINUTES": "soon"}, "JWT_TTL_MINUTES"),
    ],
)
def test_invalid_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert str(info.value).startswith(variable)


def test_request_deadlines_from_environment() -> None:
    base = {"DATABASE_URL": "postgresql://u:p@db/x", "JWT_SECRET": SECRET}
    defaults = load_settings(base)
    assert (defaults.request_timeout_seconds, defaults.chat_timeout_seconds) == (None, 120)  # None: the database bound
    chosen = load_settings({**base, "REQUEST_TIMEOUT_SECONDS": "12", "CHAT_TIMEOUT_SECONDS": "60"})
    assert (chosen.request_timeout_seconds, chosen.chat_timeout_seconds) == (12, 60)
    for name in ("REQUEST_TIMEOUT_SECONDS", "CHAT_TIMEOUT_SECONDS"):
        with pytest.raises(ConfigError, match=f"^{name} must be at least 1"):
            load_settings({**base, name: "0"})


def test_redact_url_hides_the_password() -> None:
    assert redact_url("postgresql+psycopg://user:hunter2@db:5432/todo") == "postgresql+psycopg://user:***@db:5432/todo"


@pytest.mark.parametrize("missing", ["DATABASE_URL", "JWT_SECRET"])
def test_uvicorn_refuses_to_start_with_one_clear_line(missing: str) -> None:
    env = {"DATABASE_URL": "postgresql://u:p@127.0.0.1:1/x", "JWT_SECRET": SECRET}
    del env[missing]
    result = run_backend_module("uvicorn", "app.main:app", "--port", "0", env=env)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        f"todo-backend: configuration error: {missing} is not set; " + lines[0].split("is not set; ", 1)[1]
    ]
    assert "Traceback" not in result.stderr + result.stdout


def test_migrate_command_refuses_without_database_url() -> None:
    result = run_backend_module("app.migrate", env={})
    assert result.returncode == 2
    assert result.stderr.strip().startswith("todo-backend: configuration error: DATABASE_URL is not set")
