"""Settings: a secret is generated once in development and required in production."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dashboard_app.settings import Settings, SettingsError
from tests.support.servers import PROJECT_ROOT


@pytest.fixture(autouse=True)
def _no_secret_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SECRET_KEY", "SMTP_HOST", "TRUSTED_PROXY_HOPS"):
        monkeypatch.delenv(name, raising=False)


def make(tmp_path, **values) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, **values)


def test_development_generates_a_secret_once_and_keeps_it(tmp_path) -> None:
    first = make(tmp_path, app_env="development").resolved_secret_key()
    second = make(tmp_path, app_env="development").resolved_secret_key()
    assert first == second
    assert len(first) >= 32
    assert (tmp_path / "secret_key").read_text() == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("secret", ["", "changethis", "CHANGE-ME"])
def test_production_refuses_a_missing_or_placeholder_secret(tmp_path, secret: str) -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        make(tmp_path, app_env="production", secret_key=secret).resolved_secret_key()
    assert not (tmp_path / "secret_key").exists()


def test_production_refuses_a_short_secret(tmp_path) -> None:
    with pytest.raises(SettingsError, match="at least 32"):
        make(tmp_path, app_env="production", secret_key="short-but-real").resolved_secret_key()


def test_production_accepts_a_real_secret(tmp_path) -> None:
    secret = "x" * 48
    assert make(tmp_path, app_env="production", secret_key=secret).resolved_secret_key() == secret


def start_server_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Load the server's configuration (rxconfig) in a process of its own, with these settings."""
    return subprocess.run(
        [sys.executable, "-c", "import rxconfig"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_default_database_is_sqlite_in_the_data_folder(tmp_path) -> None:
    settings = make(tmp_path, database_url="")
    assert settings.database_url == f"sqlite:///{tmp_path / 'dashboard.db'}"


def test_server_start_up_stops_with_a_clear_message_without_a_production_secret(tmp_path) -> None:
    env = {
        **os.environ,
        "APP_ENV": "production",
        "SECRET_KEY": "changethis",
        "DATA_DIR": str(tmp_path),
    }
    result = start_server_config(env)
    assert result.returncode != 0
    assert "Configuration error: SECRET_KEY is missing or a placeholder" in result.stderr


def test_production_refuses_to_start_without_a_mail_server(tmp_path) -> None:
    settings = make(tmp_path, app_env="production", secret_key="x" * 48)
    with pytest.raises(SettingsError, match="SMTP_HOST"):
        settings.check_start_up()
    # Outside production, mail without a server goes to the outbox folder.
    make(tmp_path, app_env="development").check_start_up()


def test_production_starts_with_a_mail_server(tmp_path) -> None:
    make(
        tmp_path, app_env="production", secret_key="x" * 48, smtp_host="smtp.example.com"
    ).check_start_up()


def test_server_start_up_stops_with_a_clear_message_without_a_mail_server(tmp_path) -> None:
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("SMTP_")},
        "APP_ENV": "production",
        "SECRET_KEY": "a-real-secret-" + "x" * 40,
        "DATA_DIR": str(tmp_path),
    }
    result = start_server_config(env)
    assert result.returncode != 0
    assert "Configuration error: SMTP_HOST is not set" in result.stderr


def test_sqlite_database_folder_is_created_on_first_use(tmp_path) -> None:
    from sqlalchemy import text

    from dashboard_app.db import build_engine

    engine = build_engine(f"sqlite:///{tmp_path / 'not-yet' / 'deeper' / 'app.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()
    assert (tmp_path / "not-yet" / "deeper" / "app.db").exists()


def test_the_job_engine_keeps_its_system_tables_beside_the_app_database(tmp_path) -> None:
    embedded = make(tmp_path)
    assert embedded.jobs_system_database_url == f"sqlite:///{tmp_path / 'dbos.sqlite'}"
    url = "postgresql://dashboard@db.internal/dashboard"
    at_scale = make(tmp_path, database_url=url)
    assert (at_scale.jobs_system_database_url, at_scale.jobs_system_schema) == (url, "dbos")
    assert make(tmp_path, jobs_system_database_url="sqlite:////x.db").jobs_system_database_url == (
        "sqlite:////x.db"
    )


def test_schedules_are_cron_expressions_and_empty_turns_a_job_off(tmp_path) -> None:
    from pydantic import ValidationError

    assert make(tmp_path).schedule_ledger_expiry == "5 * * * *"
    assert make(tmp_path, schedule_retention="*/10 * * * * *").schedule_retention
    assert make(tmp_path, schedule_retention=" ").schedule_retention == ""
    with pytest.raises(ValidationError, match="not a cron expression"):
        make(tmp_path, schedule_stripe_reconcile="every night")


def test_the_internal_token_is_off_when_empty_and_long_in_production(tmp_path) -> None:
    assert not make(tmp_path).internal_api_enabled
    assert make(tmp_path, internal_api_token="x" * 40).internal_api_enabled
    production = {"app_env": "production", "secret_key": "s" * 48, "smtp_host": "mail"}
    with pytest.raises(SettingsError, match="INTERNAL_API_TOKEN"):
        make(tmp_path, internal_api_token="short", **production).check_start_up()
    make(tmp_path, internal_api_token="t" * 32, **production).check_start_up()
    make(tmp_path, **production).check_start_up()


def test_api_tokens_are_off_without_an_issuer(tmp_path) -> None:
    settings = make(tmp_path)
    assert not settings.api_jwt_enabled
    assert settings.api_jwt_leeway_seconds == 30
    settings.check_start_up()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "API_JWT_SECRET or API_JWT_JWKS_URL"),
        (
            {"api_jwt_secret": "k" * 32, "api_jwt_jwks_url": "https://id.example/jwks"},
            "not both",
        ),
        ({"api_jwt_secret": "k" * 31}, "at least 32 bytes"),
        ({"api_jwt_jwks_url": "https://id.example/jwks", "api_jwt_audience": ""}, "AUDIENCE"),
        (
            {
                "api_jwt_jwks_url": "http://id.example/jwks",
                "app_env": "production",
                "secret_key": "s" * 48,
                "public_base_url": "https://dashboard.example",
            },
            "https://",
        ),
    ],
)
def test_an_issuer_needs_one_key_source_a_long_secret_and_an_audience(
    tmp_path, values, message: str
) -> None:
    settings = make(
        tmp_path, api_jwt_issuer="https://id.example", **{"api_jwt_audience": "api", **values}
    )
    with pytest.raises(SettingsError, match=message):
        settings.check_start_up()


@pytest.mark.parametrize(
    "values", [{"api_jwt_secret": "k" * 32}, {"api_jwt_jwks_url": "https://id.example/jwks"}]
)
def test_an_issuer_with_one_key_source_turns_api_tokens_on(tmp_path, values) -> None:
    settings = make(tmp_path, api_jwt_issuer="https://id.example", api_jwt_audience="api", **values)
    settings.check_start_up()
    assert settings.api_jwt_enabled


def test_server_start_up_stops_with_a_clear_message_for_a_short_token_secret(tmp_path) -> None:
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path),
        "API_JWT_ISSUER": "https://id.example",
        "API_JWT_AUDIENCE": "api",
        "API_JWT_SECRET": "too-short",
    }
    result = start_server_config(env)
    assert result.returncode != 0
    assert "Configuration error: API_JWT_SECRET must be at least 32 bytes" in result.stderr
