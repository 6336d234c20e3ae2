"""Holdings refreshes on the job engine: a page, the internal endpoint or the schedule marks a
refresh in flight (one per member at a time) and enqueues it; a worker reads the marketplace.
The network call never runs in a web request."""

from __future__ import annotations

import logging
from datetime import datetime

from dbos import DBOS
from sqlalchemy.engine import Engine

from dashboard_app.db import session_scope
from dashboard_app.domain import holdings
from dashboard_app.engine import runtime
from dashboard_app.engine.client import JobsClient
from dashboard_app.integrations.marketplace import (
    Inventory,
    MarketplaceClient,
    MarketplaceError,
    config_from_settings,
)
from dashboard_app.settings import Settings, get_settings

log = logging.getLogger(__name__)


def workflow_id(user_id: int, queued_at: datetime) -> str:
    return f"holdings-{user_id}-{queued_at.isoformat()}"


def request_refresh(
    *,
    engine: Engine | None,
    client: JobsClient,
    user_id: int,
    member_secret: str | None = None,
) -> bool:
    """Mark a refresh in flight (committed) and enqueue it; False when one is in flight. With
    `member_secret` (the member asked: the page's button or the API) a refresh that is queued
    counts against the member's limit, in the same transaction (RateLimited: nothing marked);
    asking while one runs costs nothing."""
    with session_scope(engine) as session:
        queued_at = holdings.request_refresh(session=session, user_id=user_id)
        if queued_at is not None and member_secret is not None:
            holdings.take_member_refresh(session=session, user_id=user_id, secret=member_secret)
    if queued_at is None:
        return False
    try:
        client.enqueue_holdings_refresh(
            workflow_id=workflow_id(user_id, queued_at),
            user_id=user_id,
            queued_at=queued_at.isoformat(),
        )
    except Exception:
        with session_scope(engine) as session:
            holdings.abandon_refresh(session=session, user_id=user_id, queued_at=queued_at)
        raise
    return True


def fetcher(settings: Settings):  # type: ignore[no-untyped-def]
    """What reads a wallet from the configured marketplace (refuses when none is)."""
    config = config_from_settings(settings)

    def fetch(wallet: str) -> Inventory:
        if config is None:
            raise MarketplaceError("no marketplace is configured on this server")
        with MarketplaceClient(config) as client:
            return client.fetch_holdings(wallet)

    return fetch


def refresh_member(user_id: int, queued_at: str | None) -> str:
    current = runtime.current()
    settings = current.settings or get_settings()
    outcome = holdings.refresh_holdings(
        engine=current.engine,
        fetch=fetcher(settings),
        user_id=user_id,
        chain=settings.marketplace_chain,
        queued_at=datetime.fromisoformat(queued_at) if queued_at else None,
    )
    if outcome is None:
        return "settled already"
    return "refreshed" if outcome.refreshed else "failed"


@DBOS.workflow(name="holdings_refresh")
def holdings_refresh_workflow(user_id: int, queued_at: str) -> str:
    # One step, not retried by DBOS: the client retries the marketplace itself, and a failure is
    # recorded for the member (the last good holdings stay).
    return DBOS.run_step({"name": "refresh"}, refresh_member, user_id, queued_at)
