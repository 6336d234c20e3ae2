"""Holdings refreshes on real DBOS workers against the stand-in marketplace: enqueued, run by a
worker, one in flight per member, a failure recorded with the last good set kept."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from dashboard_app.db import session_scope
from dashboard_app.domain import holdings
from dashboard_app.engine import holdings as holdings_engine
from tests.domain.test_holdings import APES, PUNKS, WALLET, member_with_wallet
from tests.engine.conftest import Jobs, engine_settings
from tests.support.marketplace import API_KEY, Marketplace, token
from tests.support.servers import wait_for


@pytest.fixture
def market_jobs(jobs: Jobs, marketplace: Marketplace, db_url: str, tmp_path) -> Jobs:  # type: ignore[no-untyped-def]
    jobs.runtime.settings = engine_settings(
        db_url,
        tmp_path,
        marketplace_base_url=marketplace.url,
        marketplace_api_key=API_KEY,
        marketplace_timeout_seconds=2,
    )
    return jobs


def view(jobs: Jobs, member: int) -> holdings.HoldingsView:
    with session_scope(jobs.engine) as session:
        return holdings.holdings_view(
            session=session, user_id=member, chain="ethereum", fresh_for=timedelta(hours=6)
        )


def settled(jobs: Jobs, member: int) -> bool:
    seen = view(jobs, member)
    return not seen.refreshing and seen.last_attempt_at is not None


def test_a_refresh_runs_in_a_worker(market_jobs: Jobs, marketplace: Marketplace) -> None:
    member = member_with_wallet(market_jobs.engine)
    marketplace.hold(WALLET, token(APES, "1", "apes"), token(PUNKS, "2", "punks"))

    assert holdings_engine.request_refresh(
        engine=market_jobs.engine, client=market_jobs.client, user_id=member
    )
    assert view(market_jobs, member).refreshing is True

    wait_for(lambda: settled(market_jobs, member), timeout=30, what="the refresh to end")
    assert [h.token_id for h in view(market_jobs, member).holdings] == ["1", "2"]


def test_a_second_request_while_one_runs_starts_nothing(
    market_jobs: Jobs, marketplace: Marketplace
) -> None:
    member = member_with_wallet(market_jobs.engine)
    marketplace.hold(WALLET, token(APES, "1", "apes"))
    gate = threading.Event()
    marketplace.behaviour.gate = gate
    try:
        assert holdings_engine.request_refresh(
            engine=market_jobs.engine, client=market_jobs.client, user_id=member
        )
        wait_for(lambda: len(marketplace.requests) == 1, timeout=30, what="the worker to ask")
        assert not holdings_engine.request_refresh(
            engine=market_jobs.engine, client=market_jobs.client, user_id=member
        )
    finally:
        gate.set()
    wait_for(lambda: settled(market_jobs, member), timeout=30, what="the refresh to end")
    assert len(marketplace.requests) == 1
    # Once it has ended, the member can ask again.
    assert holdings_engine.request_refresh(
        engine=market_jobs.engine, client=market_jobs.client, user_id=member
    )


def test_a_failing_marketplace_is_recorded(market_jobs: Jobs, marketplace: Marketplace) -> None:
    member = member_with_wallet(market_jobs.engine)
    marketplace.behaviour.failing = 1000
    marketplace.behaviour.retry_after = "0"

    holdings_engine.request_refresh(
        engine=market_jobs.engine, client=market_jobs.client, user_id=member
    )

    wait_for(lambda: settled(market_jobs, member), timeout=60, what="the refresh to end")
    seen = view(market_jobs, member)
    assert seen.holdings == [] and seen.last_synced_at is None
    assert seen.last_error is not None and "HTTP 500" in seen.last_error
