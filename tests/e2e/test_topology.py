"""The production topology (dashboard_app/topology.py, what `make run-scaled` starts): two
backend processes behind HAProxy, Redis as Reflex's state manager, a separate job worker. One
member has a tab on each backend; a job and a purchase show in both; one backend is killed and
its tab carries on from the other with the same data."""

from __future__ import annotations

import pickle
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy.engine import Engine

from dashboard_app.db import build_engine, session_scope
from dashboard_app.domain import credits
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.generation import submit
from dashboard_app.domain.ledger_check import check_ledger
from dashboard_app.domain.stripe_sync import sync_catalog
from dashboard_app.engine.client import JobsClient
from dashboard_app.models import Generation, Order
from dashboard_app.topology import BACKEND_COOKIE, Topology
from tests.conftest import REEL_HEIGHT, TEST_DATABASE
from tests.e2e.helpers import sign_in
from tests.factories import DEFAULT_PASSWORD, count_rows, create_member
from tests.support.servers import free_port, wait_for
from tests.support.stripe import SECRET_KEY as STRIPE_SECRET_KEY
from tests.support.stripe import WEBHOOK_SECRET, StripeStandin, paid_checkout

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        TEST_DATABASE != "postgresql",
        reason="the scaled topology runs on PostgreSQL: several processes write one database "
        "and Reflex keeps its state in Redis (SQLite is the one-process embedded setup)",
    ),
]
PACK = get_catalog().packs["starter"]
# The socket records of Reflex's Redis token manager: which backend process holds a tab's socket.
SOCKET_RECORD = "token_manager_socket_record_{token}"


@dataclass
class Scaled:
    topology: Topology
    engine: Engine
    stripe: StripeStandin
    redis: redis.Redis
    jobs: JobsClient
    gates: Path

    @property
    def base_url(self) -> str:
        return self.topology.base_url

    def socket_owner(self, tab: Page) -> str | None:
        """The id of the backend process (Reflex's instance id) holding this tab's socket."""
        token = tab.evaluate("() => window.sessionStorage.getItem('token')")
        record = self.redis.get(SOCKET_RECORD.format(token=token))
        return pickle.loads(record).instance_id if record else None


@pytest.fixture(scope="module")
def scaled(databases, redis_server, mail, oidc_provider, tmp_path_factory) -> Iterator[Scaled]:
    root = tmp_path_factory.mktemp("scaled")
    database_url = databases.migrated()
    stripe = StripeStandin()
    stripe.start()
    sync_catalog(gateway=stripe.gateway(), catalog=get_catalog())
    (root / "gates").mkdir()
    env = {
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_server.url,
        "DATA_DIR": str(root / "data"),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mail.port),
        "SMTP_STARTTLS": "false",
        "OIDC_DISCOVERY_URL": oidc_provider.discovery_url,
        "OIDC_CLIENT_ID": "dashboard-tests",
        "OIDC_CLIENT_SECRET": "dashboard-tests-secret",
        "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": "pk_test_standin",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": stripe.url,
        "STRIPE_RETRY_SECONDS": "0.5",
        "GENERATOR": "tests.support.generators:TopicGatedGenerator",
        "TEST_GATE_DIR": str(root / "gates"),
        "REEL_SECONDS": "1.0",
        "REEL_HEIGHT": str(REEL_HEIGHT),
        "REEL_FPS": "8",
        "JOBS_POLLING_SECONDS": "0.2",
    }
    topology = Topology(
        env=env, run_dir=root / "run", public_port=free_port(), backends=2, workers=1
    )
    stripe.send_webhooks_to(f"{topology.base_url}/api/stripe/webhook")
    topology.start()
    engine = build_engine(database_url)
    client = redis.Redis.from_url(redis_server.url)
    jobs = JobsClient(system_database_url=database_url, schema="dbos")
    try:
        yield Scaled(topology, engine, stripe, client, jobs, root / "gates")
    finally:
        jobs.close()
        client.close()
        topology.stop()
        stripe.stop()
        engine.dispose()


def tab_on(browser, scaled: Scaled, backend: str) -> tuple[BrowserContext, Page]:
    """A browser window whose requests HAProxy sends to `backend` while it is up."""
    context = browser.new_context(base_url=scaled.base_url)
    context.set_default_timeout(20_000)
    context.add_cookies([{"name": BACKEND_COOKIE, "value": backend, "url": scaled.base_url}])
    return context, context.new_page()


def available(scaled: Scaled, member_id: int) -> int:
    with session_scope(scaled.engine) as session:
        return credits.get_balances(session=session, user_id=member_id).available


def start_held_job(scaled: Scaled, member_id: int, title: str) -> int:
    """A reel submitted as the Create page submits it, held by its generator until the gate
    opens; only the worker process can run it (the backends run no embedded worker)."""
    catalog = get_catalog()
    with session_scope(scaled.engine) as session:
        generation = submit.submit_generation(
            session=session,
            user_id=member_id,
            catalog=catalog,
            idempotency_key=f"topology-{uuid.uuid4().hex}",
            title=title,
            topic="Morning habits gate-topology",
            platform="tiktok",
            preset="neon",
            format="video",
            variants=1,
        ).generation
        workflow_id = submit.workflow_id(generation)
        generation_id, attempt = generation.id, generation.attempt
    scaled.jobs.enqueue_generation(
        workflow_id=workflow_id,
        generation_id=generation_id,
        attempt=attempt,
        timeout_seconds=catalog.generation.job_timeout_seconds,
    )
    return generation_id


def generation_status(scaled: Scaled, generation_id: int) -> str:
    with session_scope(scaled.engine) as session:
        return session.get(Generation, generation_id).status


def test_two_backends_a_job_a_purchase_and_a_backend_killed(browser, scaled: Scaled) -> None:
    member = create_member(scaled.engine, credits_granted=100)
    windows = {name: tab_on(browser, scaled, name) for name in ("backend-1", "backend-2")}
    tabs = {name: page for name, (_, page) in windows.items()}
    try:
        for tab in tabs.values():
            sign_in(tab, member.email, DEFAULT_PASSWORD)
            expect(tab.get_by_test_id("balance-available")).to_have_text("100")
        # Each socket is held by a different backend process (Reflex's own record in Redis).
        owners = {name: scaled.socket_owner(tab) for name, tab in tabs.items()}
        assert None not in owners.values() and owners["backend-1"] != owners["backend-2"]

        # A job, run by the worker process: both tabs see it running, then done and charged.
        generation_id = start_held_job(scaled, member.id, "Calm mornings")
        for tab in tabs.values():
            expect(tab.get_by_test_id("running-job")).to_contain_text("Calm mornings")
        (scaled.gates / "topology").touch()
        wait_for(
            lambda: generation_status(scaled, generation_id) not in ("queued", "running"),
            timeout=60,
            what="the job to finish",
        )
        after_job = available(scaled, member.id)
        assert after_job < 100
        for tab in tabs.values():
            expect(tab.get_by_test_id("running-job")).to_have_count(0)
            expect(tab.get_by_test_id("balance-available")).to_have_text(str(after_job))

        # A purchase paid on the Stripe stand-in; its webhook reaches a backend through HAProxy.
        paid_checkout(scaled.engine, scaled.stripe.gateway(), member.id)
        for tab in tabs.values():
            expect(tab.get_by_test_id("balance-available")).to_have_text(
                str(after_job + PACK.credits)
            )

        # The process holding the first tab dies; the tab reconnects through HAProxy to the
        # other one, is still signed in and shows the same figures.
        scaled.topology.backend("backend-1").kill()
        wait_for(
            lambda: scaled.socket_owner(tabs["backend-1"]) == owners["backend-2"],
            timeout=30,
            what="the first tab's socket to move to the second backend",
        )
        assert scaled.socket_owner(tabs["backend-2"]) == owners["backend-2"]
        survivor = tabs["backend-1"]
        expect(survivor.get_by_test_id("balance-available")).to_have_text(
            str(after_job + PACK.credits)
        )
        expect(survivor.get_by_test_id("header-credits")).to_have_text(
            str(after_job + PACK.credits)
        )

        # And it keeps updating: a second purchase shows in both tabs.
        paid_checkout(scaled.engine, scaled.stripe.gateway(), member.id)
        total = after_job + 2 * PACK.credits
        for tab in tabs.values():
            expect(tab.get_by_test_id("balance-available")).to_have_text(str(total))
        assert count_rows(scaled.engine, Order, Order.user_id == member.id) == 2
        with session_scope(scaled.engine) as session:
            assert check_ledger(session=session, user_id=member.id) == []
    finally:
        for context, _ in windows.values():
            context.close()
