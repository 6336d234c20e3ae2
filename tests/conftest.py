"""Shared fixtures: a fresh database per test on SQLite or PostgreSQL (TEST_DATABASE), real Redis,
the app in production mode once per run, and headless Chromium driven by Playwright."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# The test process never reads a developer's .env or data/: settings come from here.
_TEST_DATA_DIR = Path(tempfile.mkdtemp(prefix="dash-test-data-"))
os.environ.update(
    {
        "APP_ENV": "test",
        "DATA_DIR": str(_TEST_DATA_DIR),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": f"sqlite:///{_TEST_DATA_DIR / 'unused.db'}",
    }
)

from sqlalchemy.engine import Engine  # noqa: E402

from dashboard_app.db import build_engine  # noqa: E402
from dashboard_app.domain.catalog import get_catalog  # noqa: E402
from dashboard_app.domain.stripe_sync import sync_catalog  # noqa: E402
from tests.support.databases import PostgresDatabases, SqliteDatabases  # noqa: E402
from tests.support.jwt_issuer import JwtIssuer  # noqa: E402
from tests.support.mail import MailCatcher  # noqa: E402
from tests.support.marketplace import API_KEY as MARKETPLACE_API_KEY  # noqa: E402
from tests.support.marketplace import Marketplace  # noqa: E402
from tests.support.oidc import OidcProvider  # noqa: E402
from tests.support.servers import AppServer, PostgresServer, RedisServer  # noqa: E402
from tests.support.stripe import SECRET_KEY as STRIPE_SECRET_KEY  # noqa: E402
from tests.support.stripe import WEBHOOK_SECRET, StripeStandin  # noqa: E402

TEST_DATABASE = os.environ.get("TEST_DATABASE", "sqlite")
if TEST_DATABASE not in ("sqlite", "postgresql"):
    raise pytest.UsageError("TEST_DATABASE must be 'sqlite' or 'postgresql'")

# The app's scheduled work in browser tests: 1 January, 00:00 UTC.
YEARLY = "0 0 1 1 *"

# The browser tests' reels: 9:16, this tall and this long.
REEL_HEIGHT = 256
REEL_SECONDS = 1.0

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_report_header(config: pytest.Config) -> str:
    return f"database under test: {TEST_DATABASE}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    if TEST_DATABASE != "postgresql":
        yield None
        return
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def databases(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer | None
) -> SqliteDatabases | PostgresDatabases:
    if postgres_server is not None:
        return PostgresDatabases(postgres_server)
    return SqliteDatabases(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture
def db_url(databases: SqliteDatabases | PostgresDatabases) -> Iterator[str]:
    """A freshly migrated database of its own for this test."""
    url = databases.migrated()
    yield url
    databases.drop(url)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = build_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator:
    """The REST API (/api/v1) in this process, on this test's database: tests/support/api.py."""
    from tests.support.api import serve_api

    yield from serve_api(monkeypatch, db_url)


@pytest.fixture
def jwt_api(api, jwt_issuer: JwtIssuer):
    """The `api` fixture, trusting tokens from the test issuer: tests/support/api_callers.py."""
    from tests.support.api_callers import trust_issuer

    return trust_issuer(api, jwt_issuer)


@pytest.fixture(params=["api_key", "jwt"])
def credential(request: pytest.FixtureRequest, jwt_api, engine: Engine, jwt_issuer: JwtIssuer):
    """Run the test twice: callers with a personal API key, then with a JWT of a linked
    subject. `credential(user_id, scope="read")` -> the bearer text."""
    from tests.support.api_callers import credential_for

    return credential_for(request.param, engine, jwt_issuer)


# --- The app and the browser --------------------------------------------------------------------


@pytest.fixture(scope="session")
def mail() -> Iterator[MailCatcher]:
    catcher = MailCatcher()
    catcher.start()
    yield catcher
    catcher.stop()


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    provider = OidcProvider()
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def jwt_issuer() -> Iterator[JwtIssuer]:
    """An identity service on loopback publishing a JWKS; the app trusts its API tokens."""
    issuer = JwtIssuer()
    issuer.start()
    yield issuer
    issuer.stop()


@pytest.fixture(scope="session")
def stripe_standin() -> Iterator[StripeStandin]:
    """localstripe plus Checkout and Billing Portal, with the catalog's prices, for tests that
    call billing services directly (it sends no webhooks)."""
    standin = StripeStandin()
    standin.start()
    sync_catalog(gateway=standin.gateway(), catalog=get_catalog())
    yield standin
    standin.stop()


@pytest.fixture(scope="session")
def marketplace_server() -> Iterator[Marketplace]:
    server = Marketplace()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def marketplace(marketplace_server: Marketplace) -> Iterator[Marketplace]:
    """The stand-in marketplace, empty and well-behaved at the start of each test."""
    marketplace_server.reset()
    yield marketplace_server
    marketplace_server.reset()


@dataclass
class RunningApp:
    base_url: str
    engine: Engine
    server: AppServer
    data_dir: Path
    secret_key: str
    stripe: StripeStandin
    gates: Path

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def open_gate(self, name: str) -> None:
        """Let renders whose topic says `gate-NAME` (or `fail-NAME`) go on."""
        (self.gates / name).touch()


@pytest.fixture(scope="session")
def app(
    tmp_path_factory: pytest.TempPathFactory,
    databases: SqliteDatabases | PostgresDatabases,
    mail: MailCatcher,
    oidc_provider: OidcProvider,
    jwt_issuer: JwtIssuer,
    marketplace_server: Marketplace,
    request: pytest.FixtureRequest,
) -> Iterator[RunningApp]:
    """The app in production mode; on PostgreSQL runs, with Redis as Reflex's state manager."""
    root = tmp_path_factory.mktemp("app")
    database_url = databases.migrated()
    stripe = StripeStandin()
    stripe.start()
    sync_catalog(gateway=stripe.gateway(), catalog=get_catalog())
    env = {
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "DATA_DIR": str(root / "data"),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mail.port),
        "SMTP_STARTTLS": "false",
        "OIDC_DISCOVERY_URL": oidc_provider.discovery_url,
        "OIDC_CLIENT_ID": "dashboard-tests",
        "OIDC_CLIENT_SECRET": "dashboard-tests-secret",
        "OIDC_PROVIDER_NAME": "Test SSO",
        # API bearer tokens from the test identity service (tests/support/jwt_issuer.py).
        "API_JWT_ISSUER": jwt_issuer.issuer,
        "API_JWT_AUDIENCE": jwt_issuer.audience,
        "API_JWT_JWKS_URL": jwt_issuer.jwks_url,
        # Failed sign-ins are still slowed down, by milliseconds instead of seconds.
        "SIGN_IN_DELAY_BASE_SECONDS": "0.05",
        # Stripe: the app's own stand-in, which delivers its webhooks to the app.
        "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": "pk_test_standin",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": stripe.url,
        "STRIPE_RETRY_SECONDS": "0.5",
        # Generation: short, small reels keep the browser tests quick; the built-in generator
        # renders them, held back by words in the topic when a test needs to watch a render
        # (tests/support/generators.py, TopicGatedGenerator).
        "GENERATOR": "tests.support.generators:TopicGatedGenerator",
        "TEST_GATE_DIR": str(root / "gates"),
        "REEL_SECONDS": str(REEL_SECONDS),
        "REEL_HEIGHT": str(REEL_HEIGHT),
        "REEL_FPS": "8",
        "JOBS_POLLING_SECONDS": "0.2",
        "INTERNAL_API_TOKEN": secrets.token_urlsafe(32),
        # Scheduled work once a year: a run firing mid-test would change what a test reads.
        "SCHEDULE_STRIPE_RECONCILE": YEARLY,
        "SCHEDULE_LEDGER_EXPIRY": YEARLY,
        "SCHEDULE_STALE_ORDERS": YEARLY,
        "SCHEDULE_RETENTION": YEARLY,
        "SCHEDULE_HOLDINGS_REFRESH": YEARLY,
        # Holdings: the stand-in marketplace, with short waits between retries.
        "MARKETPLACE_BASE_URL": marketplace_server.url,
        "MARKETPLACE_API_KEY": MARKETPLACE_API_KEY,
        "MARKETPLACE_TIMEOUT_SECONDS": "5",
    }
    (root / "gates").mkdir()
    if TEST_DATABASE == "postgresql":
        env["REDIS_URL"] = request.getfixturevalue("redis_server").url
    server = AppServer(env=env, log_path=root / "app.log")
    stripe.send_webhooks_to(f"{server.base_url}/api/stripe/webhook")
    server.start()
    engine = build_engine(database_url)
    yield RunningApp(
        base_url=server.base_url,
        engine=engine,
        server=server,
        data_dir=root / "data",
        secret_key=env["SECRET_KEY"],
        stripe=stripe,
        gates=root / "gates",
    )
    server.stop()
    stripe.stop()
    engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import expect, sync_playwright

    # Assertions wait for their condition; on a loaded 2-core CI machine a page can take longer
    # than Playwright's default 5 s to show a change, so give every expectation 15 s.
    expect.set_options(timeout=15_000)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app: RunningApp) -> Iterator[object]:
    """A new browser context (no cookies) per test."""
    context = browser.new_context(base_url=app.base_url)
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()
