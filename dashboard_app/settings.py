"""Application settings, read once from the environment and an optional `.env` file."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Values that look like a secret but are copied from documentation.
PLACEHOLDER_SECRETS = frozenset({"", "changethis", "change-me", "changeme", "secret", "dev"})


class SettingsError(RuntimeError):
    """Settings that would make the product unsafe or unable to start."""


class Settings(BaseSettings):
    """Every setting an operator can change; see `.env.example` for the documented list."""

    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env", env_file_encoding="utf-8", extra="ignore"
    )

    app_env: Literal["development", "test", "production"] = "development"
    data_dir: Path = PROJECT_ROOT / "data"
    database_url: str = ""
    redis_url: str | None = None
    secret_key: SecretStr = SecretStr("")
    public_base_url: str = "http://localhost:3000"
    catalog_file: Path | None = None  # default: catalog.toml at the project root
    # Reverse proxies in front of the app that append the client's address to X-Forwarded-For;
    # 0 means clients connect directly and the header is ignored.
    trusted_proxy_hops: int = Field(default=0, ge=0, le=10)

    # Sessions: idle and absolute lifetimes.
    session_idle_minutes: int = Field(default=60 * 24 * 3, gt=0)
    session_absolute_days: int = Field(default=30, gt=0)

    # Failed sign-ins: each try after the third waits longer (base, doubling, at most 8 s);
    # the tenth in 15 minutes locks the account for the rest of that window.
    sign_in_delay_base_seconds: float = Field(default=1.0, ge=0)
    sign_in_lock_after: int = Field(default=10, gt=0)
    sign_in_lock_address_after: int = Field(default=50, gt=0)

    # Mail members can ask for again (password reset, verification, email change), counted per
    # recipient address and per member: this many per window, and per day.
    mail_limit_per_window: int = Field(default=3, gt=0)
    mail_limit_window_minutes: int = Field(default=15, gt=0)
    mail_limit_per_day: int = Field(default=10, gt=0)

    # Stripe (test-mode keys in development; see README).
    stripe_secret_key: SecretStr | None = None
    stripe_publishable_key: str | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str | None = None  # only for test servers standing in for Stripe
    # How often each backend worker retries webhook events that failed or were left unprocessed.
    stripe_retry_seconds: float = Field(default=15.0, gt=0)

    # Single sign-on through any OpenID Connect provider.
    oidc_discovery_url: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_provider_name: str = "Single sign-on"

    # Outgoing mail; without a host, mail is written to data/outbox/ (refused in production).
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    mail_from: str = "Dashboard <no-reply@localhost>"

    # Generation: which generator renders ("builtin", "http", or "package.module:Class" for a
    # plug-in); the built-in one's reel size and length; the external service for "http".
    generator: str = "builtin"
    reel_height: int = Field(default=1920, ge=64, le=3840, multiple_of=16)
    reel_seconds: float = Field(default=6.0, gt=0, le=60)
    reel_fps: int = Field(default=24, ge=1, le=60)
    generator_url: str | None = None
    generator_token: SecretStr | None = None
    generator_timeout_seconds: float = Field(default=10.0, gt=0)
    generator_poll_seconds: float = Field(default=1.0, gt=0)

    # Files: a private folder under DATA_DIR by default, an S3-compatible bucket when set.
    storage_s3_bucket: str | None = None
    storage_s3_endpoint: str | None = None
    storage_s3_region: str = "us-east-1"
    storage_s3_access_key_id: str | None = None
    storage_s3_secret_access_key: SecretStr | None = None
    storage_s3_allow_http: bool = False
    # How long a file link (an app route token or an S3 presigned URL) stays valid.
    file_link_seconds: int = Field(default=300, ge=10, le=86_400)

    # The job engine (DBOS). The web process runs workers unless JOBS_EMBEDDED_WORKER=false;
    # `python -m dashboard_app worker --executor-id ID` runs standalone ones.
    jobs_embedded_worker: bool = True
    jobs_executor_id: str = Field(default="embedded", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    jobs_worker_concurrency: int = Field(default=2, ge=1, le=64)
    # How often each worker process polls the queue. Queued->running waits about half of this
    # divided by the number of worker processes (DBOS 3.4 wakes queues by polling only; LISTEN/
    # NOTIFY wakes events, not queues): 0.25 s keeps p50 under 250 ms and p99 under 1 s even with
    # one worker process (tests/bench/bench_jobs.py); each idle poll is a few small queries.
    jobs_polling_seconds: float = Field(default=0.25, gt=0, le=60)
    # Default: a SQLite file in DATA_DIR next to a SQLite app database, or the app's own
    # PostgreSQL database (schema JOBS_SYSTEM_SCHEMA) when DATABASE_URL is PostgreSQL.
    jobs_system_database_url: str = ""
    jobs_system_schema: str = Field(default="dbos", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    jobs_step_attempts: int = Field(default=3, ge=1, le=10)
    jobs_step_retry_seconds: float = Field(default=2.0, gt=0, le=600)

    # Operations: logs, the slow-query log and the /metrics endpoint.
    # LOG_FORMAT: json (one object a line) or console; default json in production.
    log_format: Literal["json", "console"] | None = None
    # Default: DEBUG in development (every query's duration), INFO elsewhere.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = None
    # Every query slower than this is logged with its duration and shape (never its values);
    # in development every query's duration is logged at debug level too.
    slow_query_ms: float = Field(default=100.0, ge=0)
    # /metrics answers only with `Authorization: Bearer METRICS_TOKEN` when set; unset, it is
    # open outside production and closed (404) in production.
    metrics_token: SecretStr | None = None
    # Where every process of this machine (backend processes, job workers, the CLI) writes its
    # figures for /metrics to add up (prometheus-client's multiprocess mode). Default
    # DATA_DIR/metrics; empty it before the processes start.
    metrics_dir: Path | None = None

    # Scheduled work, run by the job workers (cron, UTC; six fields add seconds; empty turns a
    # job off). Several workers may run: each scheduled instant runs once.
    schedule_stripe_reconcile: str = "30 3 * * *"
    schedule_ledger_expiry: str = "5 * * * *"
    schedule_stale_orders: str = "20 * * * *"
    schedule_retention: str = "45 4 * * *"
    schedule_holdings_refresh: str = "50 * * * *"
    # Nightly reconciliation looks this far back (overlapping runs repair nothing twice).
    reconcile_lookback_hours: int = Field(default=48, gt=0, le=24 * 90)
    # Sign-in attempts are kept this long (the lockout reads the last 15 minutes); old runs of
    # the scheduled work are kept this long too.
    sign_in_attempts_retention_days: int = Field(default=30, gt=0)
    scheduled_runs_retention_days: int = Field(default=90, gt=0)

    # Wallet holdings, fetched from a marketplace API speaking an OpenSea-v2-like contract
    # (integrations/marketplace.py); without a base URL the Holdings page says it is off.
    marketplace_base_url: str | None = None
    marketplace_api_key: SecretStr | None = None
    marketplace_chain: str = Field(default="ethereum", pattern=r"^[a-z0-9_-]{1,40}$")
    marketplace_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # At most this many pages (of up to 50 tokens each) per member and refresh.
    marketplace_max_pages: int = Field(default=20, ge=1, le=200)
    # Holdings older than this refresh in the background when the page is opened, and the
    # scheduled refresh brings every member's up to date.
    holdings_fresh_hours: float = Field(default=6.0, gt=0, le=24 * 30)

    # Internal endpoints (POST /internal/sync/stripe, /internal/sync/holdings) for schedulers
    # outside the app: the X-Internal-Token header must carry this token; empty turns the
    # endpoints off (404).
    internal_api_token: SecretStr = SecretStr("")

    # The REST API (/api/v1): calls per key (or per member for a JWT) per minute; writes
    # (POST, PATCH, DELETE) are counted on their own, against the lower limit.
    api_rate_per_minute: int = Field(default=120, gt=0)
    api_write_rate_per_minute: int = Field(default=30, gt=0)

    # Bearer JWTs on /api/v1 from an external identity service; off while API_JWT_ISSUER is
    # empty. Give the tokens' `iss` and `aud`, and exactly one key source: an HS256 shared
    # secret (at least 32 bytes) or the issuer's JWKS URL (RS256/ES256 keys). A token's subject
    # must be linked to a member (single sign-on with the same issuer, or `link-api-subject`).
    api_jwt_issuer: str = ""
    api_jwt_audience: str = ""
    api_jwt_secret: SecretStr = SecretStr("")
    api_jwt_jwks_url: str = ""
    api_jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)

    @field_validator(
        "schedule_stripe_reconcile",
        "schedule_ledger_expiry",
        "schedule_stale_orders",
        "schedule_retention",
        "schedule_holdings_refresh",
    )
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from croniter import croniter

        value = value.strip()
        if value and not croniter.is_valid(value, second_at_beginning=True):
            raise ValueError(f"{value!r} is not a cron expression (e.g. '30 3 * * *')")
        return value

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'dashboard.db'}"
        if not self.jobs_system_database_url:
            if self.database_url.startswith("sqlite"):
                self.jobs_system_database_url = f"sqlite:///{self.data_dir / 'dbos.sqlite'}"
            else:
                self.jobs_system_database_url = self.database_url
        self.public_base_url = self.public_base_url.rstrip("/")
        if self.log_level is None:
            self.log_level = "DEBUG" if self.app_env == "development" else "INFO"
        if self.metrics_dir is None:
            self.metrics_dir = self.data_dir / "metrics"
        return self

    @property
    def json_logs(self) -> bool:
        return (self.log_format or ("json" if self.is_production else "console")) == "json"

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def secure_cookies(self) -> bool:
        return self.app_env == "production"

    @property
    def private_storage(self) -> Path:
        """Files served only through authorised routes (never under Reflex's /_upload)."""
        return self.data_dir / "private"

    @property
    def stripe_configured(self) -> bool:
        return bool(self.stripe_secret_key and self.stripe_secret_key.get_secret_value())

    @property
    def marketplace_configured(self) -> bool:
        return bool((self.marketplace_base_url or "").strip())

    @property
    def internal_api_enabled(self) -> bool:
        return bool(self.internal_api_token.get_secret_value().strip())

    @property
    def api_jwt_enabled(self) -> bool:
        return bool(self.api_jwt_issuer.strip())

    @property
    def oidc_configured(self) -> bool:
        return bool(self.oidc_discovery_url and self.oidc_client_id)

    def resolved_secret_key(self) -> str:
        """The secret key; generated once and kept in `data/` outside production."""
        value = self.secret_key.get_secret_value()
        if value.strip().lower() not in PLACEHOLDER_SECRETS:
            if self.is_production and len(value) < 32:
                raise SettingsError(
                    "SECRET_KEY must be at least 32 characters in production; generate one "
                    'with: python -c "import secrets; print(secrets.token_urlsafe(48))"'
                )
            return value
        if self.is_production:
            raise SettingsError(
                "SECRET_KEY is missing or a placeholder, and APP_ENV=production. "
                'Set SECRET_KEY to a random value, e.g. python -c "import secrets; '
                'print(secrets.token_urlsafe(48))"'
            )
        key_file = self.data_dir / "secret_key"
        if key_file.exists():
            return key_file.read_text().strip()
        key_file.parent.mkdir(parents=True, exist_ok=True)
        generated = secrets.token_urlsafe(48)
        key_file.write_text(generated)
        key_file.chmod(0o600)
        return generated

    def check_start_up(self) -> None:
        """Refuse settings the server must not start with (raises SettingsError)."""
        self.resolved_secret_key()
        token = self.internal_api_token.get_secret_value().strip()
        if self.is_production and token and len(token) < 32:
            raise SettingsError(
                "INTERNAL_API_TOKEN must be at least 32 characters in production (or empty to "
                'turn the internal endpoints off); generate one with: python -c "import '
                'secrets; print(secrets.token_urlsafe(32))"'
            )
        self._check_api_jwt()
        if self.is_production and not (self.smtp_host or "").strip():
            raise SettingsError(
                "SMTP_HOST is not set, and APP_ENV=production. Members could not receive "
                "verification, password reset or email change links: set SMTP_HOST (and "
                "SMTP_PORT, SMTP_USERNAME, SMTP_PASSWORD, MAIL_FROM) to your mail server."
            )

    def _check_api_jwt(self) -> None:
        if not self.api_jwt_enabled:
            return
        secret = self.api_jwt_secret.get_secret_value()
        jwks_url = self.api_jwt_jwks_url.strip()
        if not self.api_jwt_audience.strip():
            raise SettingsError(
                "API_JWT_AUDIENCE is not set while API_JWT_ISSUER is: set it to the audience "
                "(`aud`) the identity service puts in tokens meant for this API."
            )
        if not secret and not jwks_url:
            raise SettingsError(
                "API_JWT_ISSUER is set but neither API_JWT_SECRET or API_JWT_JWKS_URL is: give "
                "the identity service's HS256 shared secret or its JWKS URL (or unset "
                "API_JWT_ISSUER to turn API tokens off)."
            )
        if secret and jwks_url:
            raise SettingsError(
                "Give API_JWT_SECRET or API_JWT_JWKS_URL, not both: a token is verified with "
                "one kind of key."
            )
        if secret and len(secret.encode()) < 32:
            raise SettingsError(
                "API_JWT_SECRET must be at least 32 bytes; ask the identity service for a "
                "longer shared secret."
            )
        if jwks_url and self.app_env == "production" and not jwks_url.startswith("https://"):
            raise SettingsError(
                "API_JWT_JWKS_URL must be an https:// address in production: keys fetched over "
                "plain http could be swapped on the way."
            )


@lru_cache
def get_settings() -> Settings:
    return Settings()
