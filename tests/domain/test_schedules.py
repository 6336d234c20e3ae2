"""The scheduled jobs' work, run for real against the database (and the Stripe stand-in), and
the record each run leaves."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from dashboard_app.db import session_scope
from dashboard_app.domain import billing, credits
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.schedules import WorkContext, latest_runs, run_job
from dashboard_app.domain.stripe_sync import sync_catalog
from dashboard_app.models import Order, RateLimitHit, ScheduledRun, SignInAttempt
from dashboard_app.models.base import utcnow
from tests.factories import count_rows, create_member
from tests.support.stripe import StripeStandin, paid_checkout

CATALOG = get_catalog()
STARTER = CATALOG.packs["starter"]


def context(engine, gateway=None, **rules) -> WorkContext:
    return WorkContext(engine=engine, catalog=CATALOG, gateway=gateway, now=utcnow(), **rules)


def run(engine, job: str, key: str, gateway=None, **rules) -> ScheduledRun | None:
    return run_job(
        engine=engine,
        job=job,
        context=context(engine, gateway, **rules),
        run_key=key,
        source="cli",
    )


def available(engine, user_id: int) -> int:
    with Session(engine) as session:
        return credits.get_balances(session=session, user_id=user_id).available


def grant_expiring(engine, user_id: int, amount: int, expires_in: timedelta, key: str) -> None:
    granted_at = utcnow() - timedelta(hours=2)
    with session_scope(engine) as session:
        credits.grant_credits(
            session=session,
            user_id=user_id,
            amount=amount,
            idempotency_key=key,
            expires_at=utcnow() + expires_in,
            now=granted_at,
        )


def test_ledger_expiry_takes_out_expired_credits_once_and_records_the_run(engine) -> None:
    due, later = create_member(engine), create_member(engine)
    grant_expiring(engine, due.id, 9, timedelta(hours=-1), "promo-due")
    grant_expiring(engine, later.id, 5, timedelta(days=3), "promo-later")

    first = run(engine, "ledger_expiry", "expiry-1")

    assert first is not None and first.outcome == "succeeded"
    assert first.summary == {"members": 1, "credits_expired": 9}
    assert first.finished_at is not None and first.error is None
    assert (available(engine, due.id), available(engine, later.id)) == (0, 5)
    # The same run repeated (a worker that died after the work) does nothing and adds no row.
    assert run(engine, "ledger_expiry", "expiry-1") is None
    assert count_rows(engine, ScheduledRun) == 1
    # The next run finds nothing left to expire.
    again = run(engine, "ledger_expiry", "expiry-2")
    assert again.summary == {"members": 0, "credits_expired": 0}
    assert available(engine, due.id) == 0


def test_retention_forgets_old_sign_in_attempts_and_keeps_recent_ones(engine) -> None:
    now = utcnow()
    with session_scope(engine) as session:
        for age in (timedelta(days=45), timedelta(days=31), timedelta(days=29), timedelta(0)):
            session.add(SignInAttempt(account_key="a" * 64, created_at=now - age))
        for age in (timedelta(days=3), timedelta(hours=1)):
            session.add(RateLimitHit(action="test", subject="s" * 64, created_at=now - age))
        session.add(
            ScheduledRun(
                job="retention",
                run_key="ancient",
                source="cli",
                outcome="succeeded",
                started_at=now - timedelta(days=120),
            )
        )

    done = run(engine, "retention", "retention-1")

    assert done.outcome == "succeeded"
    assert done.summary == {"sign_in_attempts": 2, "rate_limit_hits": 1, "scheduled_runs": 1}
    with Session(engine) as session:
        kept = session.exec(select(SignInAttempt.created_at)).all()
        assert sorted(now - when < timedelta(days=30) for when in kept) == [True, True]
        assert len(session.exec(select(RateLimitHit)).all()) == 1
        assert [r.run_key for r in session.exec(select(ScheduledRun))] == ["retention-1"]


def test_retention_period_is_a_setting(engine) -> None:
    with session_scope(engine) as session:
        session.add(SignInAttempt(account_key="a" * 64, created_at=utcnow() - timedelta(days=8)))
    kept = run(engine, "retention", "r-30", sign_in_attempts_retention=timedelta(days=30))
    assert kept.summary["sign_in_attempts"] == 0
    pruned = run(engine, "retention", "r-7", sign_in_attempts_retention=timedelta(days=7))
    assert pruned.summary["sign_in_attempts"] == 1
    assert count_rows(engine, SignInAttempt) == 0


@pytest.fixture
def own_stripe():
    """A Stripe stand-in of this test's own (reconciliation walks the whole account)."""
    standin = StripeStandin()
    standin.start()
    billing.forget_prices()
    try:
        gateway = standin.gateway()
        sync_catalog(gateway=gateway, catalog=CATALOG)
        yield gateway
    finally:
        standin.stop()
        billing.forget_prices()


def test_reconciliation_repairs_a_lost_webhook_and_records_what_it_did(engine, own_stripe) -> None:
    member = create_member(engine)
    session_id = paid_checkout(engine, own_stripe, member.id)  # its webhook went nowhere
    assert available(engine, member.id) == 0

    done = run(engine, "stripe_reconcile", "reconcile-1", own_stripe)

    assert done.outcome == "succeeded", done.error
    assert done.summary["repaired"] == 1 and done.summary["could_not_repair"] == 0
    assert done.summary["details"] == [f"repaired checkout session {session_id}"]
    assert available(engine, member.id) == STARTER.credits
    again = run(engine, "stripe_reconcile", "reconcile-2", own_stripe)
    assert again.summary["repaired"] == 0
    assert available(engine, member.id) == STARTER.credits


def test_stale_order_refresh_covers_every_member(engine, own_stripe) -> None:
    first, second = create_member(engine), create_member(engine)
    for member in (first, second):
        session_id = paid_checkout(engine, own_stripe, member.id)
        billing.fulfil_checkout(
            engine=engine, gateway=own_stripe, catalog=CATALOG, checkout_session_id=session_id
        )
    with session_scope(engine) as session:
        for order in session.exec(select(Order)):
            order.refreshed_at = utcnow() - timedelta(days=2)
            session.add(order)

    done = run(engine, "stale_orders", "orders-1", own_stripe)

    assert done.outcome == "succeeded", done.error
    assert done.summary == {"refreshed": 2, "failed": 0, "failed_orders": []}
    with Session(engine) as session:
        for order in session.exec(select(Order)):
            assert utcnow() - order.refreshed_at < timedelta(minutes=5)
    assert run(engine, "stale_orders", "orders-2", own_stripe).summary["refreshed"] == 0


def test_a_failed_run_is_recorded_with_its_error_and_runs_again_under_its_key(engine) -> None:
    failed = run(engine, "stripe_reconcile", "reconcile-x")  # no Stripe on this server

    assert failed.outcome == "failed"
    assert "Stripe is not configured" in failed.error
    assert failed.finished_at is not None
    retried = run(engine, "stripe_reconcile", "reconcile-x")
    assert retried is not None and retried.id == failed.id and retried.outcome == "failed"
    with Session(engine) as session:
        latest = latest_runs(session=session)
    assert list(latest) == [
        "stripe_reconcile",
        "ledger_expiry",
        "stale_orders",
        "retention",
        "holdings_refresh",
    ]
    assert latest["stripe_reconcile"].run_key == "reconcile-x"
    assert latest["ledger_expiry"] is None


def test_the_holdings_refresh_reads_every_stale_wallet_and_keeps_failures_apart(
    engine, marketplace
) -> None:
    from dashboard_app.domain import holdings
    from dashboard_app.integrations.marketplace import MarketplaceConfig
    from tests.domain.test_holdings import APES, OTHER_WALLET, WALLET, member_with_wallet
    from tests.factories import synced_holdings
    from tests.support.marketplace import API_KEY, token

    first, second = member_with_wallet(engine, WALLET), member_with_wallet(engine, OTHER_WALLET)
    fresh = create_member(engine)
    synced_holdings(engine, fresh.id, "0x" + "ef" * 20, ("punks", "Punk"))
    marketplace.hold(WALLET, token(APES, "1", "apes"), token(APES, "2", "apes"))
    config = MarketplaceConfig(
        base_url=marketplace.url, api_key=API_KEY, backoff_seconds=0.01, max_attempts=2
    )

    done = run(engine, "holdings_refresh", "holdings-1", marketplace=config)

    assert done.outcome == "succeeded"
    assert done.summary == {
        "members": 2,
        "refreshed": 2,
        "failed": 0,
        "already_running": 0,
        "details": [],
    }
    assert count_rows(engine, holdings.Holding, holdings.Holding.user_id == first) == 2
    assert sorted(r.address for r in marketplace.requests) == sorted([WALLET, OTHER_WALLET])
    # Nothing stale any more: the next run reads nothing; a failing marketplace is recorded
    # per member, who keeps the last good set.
    assert run(engine, "holdings_refresh", "holdings-2", marketplace=config).summary["members"] == 0
    marketplace.behaviour.failing = 100
    later = run(
        engine,
        "holdings_refresh",
        "holdings-3",
        marketplace=config,
        holdings_fresh_for=timedelta(0),
    )
    assert later.outcome == "succeeded"
    assert (later.summary["members"], later.summary["failed"]) == (3, 3)
    assert sorted(line.split(":")[0] for line in later.summary["details"]) == sorted(
        f"member {member}" for member in (first, second, fresh.id)
    )
    assert "The marketplace did not answer" in later.summary["details"][0]
    assert count_rows(engine, holdings.Holding, holdings.Holding.user_id == first) == 2


def test_the_holdings_refresh_without_a_marketplace_fails_with_the_reason(engine) -> None:
    failed = run(engine, "holdings_refresh", "holdings-x")
    assert failed.outcome == "failed"
    assert "No marketplace is configured" in failed.error
