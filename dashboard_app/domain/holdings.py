"""Wallet holdings: what a member's preferred wallet holds, as the last good refresh from the
marketplace found it; the refresh itself (at most one in flight per member); freshness; and the
admins' collection summary.

A refresh replaces the member's holdings in one transaction, or, when the marketplace fails,
keeps the last good set and records the error and when it was tried. Holdings read for another
wallet than the profile's current one are never shown."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dashboard_app import db
from dashboard_app.db import session_scope
from dashboard_app.domain import rate_limits
from dashboard_app.domain.errors import NotFound
from dashboard_app.integrations.marketplace import Inventory, MarketplaceError
from dashboard_app.models import Holding, HoldingsSync, Profile, User
from dashboard_app.models.base import utcnow

# A refresh marked in flight this long ago is taken as lost (a worker died mid-refresh).
REFRESH_ABANDONED_AFTER = timedelta(minutes=10)
# After a failed refresh, opening the page does not try again for this long (the button does).
log = logging.getLogger(__name__)
RETRY_AFTER_FAILURE = timedelta(minutes=5)
# Refreshes a member asks for with the button.
MEMBER_REFRESHES = [rate_limits.Window(6, timedelta(minutes=15))]
MAX_ERROR_CHARS = 300
MAX_SHOWN = 500


@dataclass(frozen=True)
class HoldingsView:
    """What the Holdings page shows a member."""

    wallet: str
    holdings: list[Holding] = field(default_factory=list)
    last_synced_at: datetime | None = None
    last_error: str | None = None
    last_attempt_at: datetime | None = None
    refreshing: bool = False
    stale: bool = False
    # Stale, none in flight, and not just tried in vain: the page asks for a refresh itself.
    due: bool = False


@dataclass(frozen=True)
class RefreshOutcome:
    refreshed: bool  # False: the marketplace failed and the last good set was kept
    holdings: int = 0
    skipped: int = 0
    error: str | None = None


@dataclass(frozen=True)
class CollectionFigures:
    collection: str
    members: int
    holdings: int


def member_wallet(*, session: Session, user_id: int) -> str:
    """The member's preferred wallet as the marketplace is asked for it (lower case), or ""."""
    wallet = session.exec(select(Profile.wallet_address).where(Profile.user_id == user_id)).first()
    return (wallet or "").strip().lower()


def _in_flight(sync: HoldingsSync | None, now: datetime) -> bool:
    queued = sync.refresh_queued_at if sync else None
    return queued is not None and now - queued < REFRESH_ABANDONED_AFTER


def _is_current(sync: HoldingsSync | None, wallet: str, chain: str) -> bool:
    """Whether the last good refresh read this wallet on this chain."""
    return (
        sync is not None
        and sync.last_synced_at is not None
        and sync.wallet_address == wallet
        and sync.chain == chain
    )


def holdings_view(
    *,
    session: Session,
    user_id: int,
    chain: str,
    fresh_for: timedelta,
    now: datetime | None = None,
) -> HoldingsView:
    now = now or utcnow()
    wallet = member_wallet(session=session, user_id=user_id)
    if not wallet:
        return HoldingsView(wallet="")
    sync = session.get(HoldingsSync, user_id)
    current = _is_current(sync, wallet, chain)
    holdings = (
        list(
            session.exec(
                select(Holding)
                .where(Holding.user_id == user_id)
                .where(Holding.wallet_address == wallet)
                .where(Holding.chain == chain)
                .order_by(col(Holding.collection), col(Holding.name), col(Holding.id))
                .limit(MAX_SHOWN)
            )
        )
        if current
        else []
    )
    last_synced = sync.last_synced_at if sync and current else None
    stale = last_synced is None or now - last_synced >= fresh_for
    tried = sync.last_attempt_at if sync and sync.wallet_address == wallet else None
    refreshing = _in_flight(sync, now)
    return HoldingsView(
        wallet=wallet,
        holdings=holdings,
        last_synced_at=last_synced,
        # An error from a refresh of another wallet says nothing about this one.
        last_error=sync.last_error if sync and sync.wallet_address in ("", wallet) else None,
        last_attempt_at=sync.last_attempt_at if sync else None,
        refreshing=refreshing,
        stale=stale,
        due=stale and not refreshing and (tried is None or now - tried >= RETRY_AFTER_FAILURE),
    )


def holdings_page(
    *, session: Session, user_id: int, chain: str, before_id: int | None, limit: int
) -> tuple[list[Holding], int | None]:
    """A page of the member's current holdings (their wallet's, on this chain, from the last good
    refresh), newest row first, and the id to continue before (None on the last page). A refresh
    replaces the rows, so a listing paged across one ends early: `last_synced_at` tells."""
    wallet = member_wallet(session=session, user_id=user_id)
    if not wallet or not _is_current(session.get(HoldingsSync, user_id), wallet, chain):
        return [], None
    query = (
        select(Holding)
        .where(Holding.user_id == user_id)
        .where(Holding.wallet_address == wallet)
        .where(Holding.chain == chain)
    )
    if before_id is not None:
        query = query.where(col(Holding.id) < before_id)
    rows = list(session.exec(query.order_by(col(Holding.id).desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def _sync_row(session: Session, user_id: int) -> HoldingsSync:
    """The member's sync record, locked for this transaction (made on first use)."""
    statement = select(HoldingsSync).where(HoldingsSync.user_id == user_id).with_for_update()
    sync = session.exec(statement).first()
    if sync is not None:
        return sync
    if session.get(User, user_id) is None:
        raise NotFound("No such member.")
    try:
        with session.begin_nested():
            session.add(HoldingsSync(user_id=user_id))
    except IntegrityError:
        pass  # another transaction made it first: wait for it below
    session.expire_all()
    sync = session.exec(statement.execution_options(populate_existing=True)).first()
    assert sync is not None
    return sync


def request_refresh(
    *, session: Session, user_id: int, now: datetime | None = None
) -> datetime | None:
    """Mark a refresh in flight and return its mark (the caller enqueues it after commit), or
    None when one is already in flight for this member."""
    now = now or utcnow()
    sync = _sync_row(session, user_id)
    if _in_flight(sync, now):
        return None
    sync.refresh_queued_at, sync.refresh_started_at = now, None
    session.add(sync)
    session.flush()
    return now


def take_member_refresh(*, session: Session, user_id: int, secret: str) -> None:
    """Count a refresh the member asked for; RateLimited when they asked too often."""
    rate_limits.take(
        session=session,
        action="holdings.refresh",
        subject=rate_limits.subject_key(secret, "holdings", user_id),
        windows=MEMBER_REFRESHES,
        message="You refreshed your holdings several times just now.",
    )


def abandon_refresh(*, session: Session, user_id: int, queued_at: datetime) -> None:
    """Clear a mark whose refresh could not be enqueued."""
    sync = _sync_row(session, user_id)
    if sync.refresh_queued_at == queued_at:
        sync.refresh_queued_at = None
        session.add(sync)


def begin_refresh(*, session: Session, user_id: int, queued_at: datetime | None) -> str | None:
    """The wallet the refresh marked at `queued_at` reads (marked started), or None when that
    refresh was settled already (a repeat after a crash, or superseded). `queued_at` None: a
    refresh run directly (CLI, schedule), always current."""
    sync = _sync_row(session, user_id)
    if queued_at is not None and sync.refresh_queued_at != queued_at:
        return None
    sync.refresh_started_at = utcnow()
    session.add(sync)
    return member_wallet(session=session, user_id=user_id)


def _settle(sync: HoldingsSync, queued_at: datetime | None, now: datetime) -> None:
    sync.last_attempt_at = now
    if queued_at is None or sync.refresh_queued_at == queued_at:
        sync.refresh_queued_at = sync.refresh_started_at = None


def replace_holdings(
    *,
    session: Session,
    user_id: int,
    wallet: str,
    chain: str,
    inventory: Inventory,
    queued_at: datetime | None = None,
    now: datetime | None = None,
) -> int:
    """Make the member's holdings exactly the fetched set (in the caller's transaction)."""
    now = now or utcnow()
    sync = _sync_row(session, user_id)
    if queued_at is not None and sync.refresh_queued_at != queued_at:
        return 0  # superseded (abandoned as too slow, and asked again): the newer one writes
    session.exec(delete(Holding).where(col(Holding.user_id) == user_id))  # type: ignore[call-overload]
    db.note_changed(session, user_id)  # a plain statement: the flush would not tell the tabs
    for nft in inventory.nfts:
        session.add(
            Holding(
                user_id=user_id,
                wallet_address=wallet,
                chain=chain,
                contract=nft.contract,
                token_id=nft.token_id,
                collection=nft.collection,
                name=nft.name,
                image_url=nft.image_url,
                token_metadata=nft.metadata,
                synced_at=now,
            )
        )
    sync.wallet_address, sync.chain = wallet, chain
    sync.last_synced_at, sync.last_error = now, None
    _settle(sync, queued_at, now)
    session.add(sync)
    session.flush()
    return len(inventory.nfts)


def record_failure(
    *,
    session: Session,
    user_id: int,
    error: str,
    queued_at: datetime | None = None,
    now: datetime | None = None,
) -> None:
    """Keep the last good holdings; remember what went wrong and when it was tried."""
    now = now or utcnow()
    sync = _sync_row(session, user_id)
    wallet = member_wallet(session=session, user_id=user_id)
    if sync.wallet_address != wallet:
        sync.wallet_address, sync.last_synced_at = wallet, None
    sync.last_error = error[:MAX_ERROR_CHARS]
    _settle(sync, queued_at, now)
    session.add(sync)


def refresh_holdings(
    *,
    engine: Engine | None,
    fetch: Callable[[str], Inventory],
    user_id: int,
    chain: str,
    queued_at: datetime | None = None,
) -> RefreshOutcome | None:
    """Read the member's wallet from the marketplace (no transaction open meanwhile) and
    replace their holdings, or record the failure. None when this refresh was settled already."""
    with session_scope(engine) as session:
        wallet = begin_refresh(session=session, user_id=user_id, queued_at=queued_at)
    if wallet is None:
        return None

    def failure(message: str) -> RefreshOutcome:
        """The last good set stays; the member is told why and when it was read."""
        with session_scope(engine) as session:
            record_failure(session=session, user_id=user_id, error=message, queued_at=queued_at)
        return RefreshOutcome(refreshed=False, error=message)

    try:
        inventory = fetch(wallet) if wallet else Inventory()
    except MarketplaceError as failed:
        message = str(failed)
        return failure(message[:1].upper() + message[1:])
    try:
        with session_scope(engine) as session:
            count = replace_holdings(
                session=session,
                user_id=user_id,
                wallet=wallet,
                chain=chain,
                inventory=inventory,
                queued_at=queued_at,
            )
    except Exception:  # noqa: BLE001 - whatever the data did, the member is told and not stuck
        log.exception("holdings of member %s could not be stored", user_id)
        return failure("The marketplace's answer could not be stored")
    return RefreshOutcome(refreshed=True, holdings=count, skipped=inventory.skipped)


def stale_members(
    *,
    session: Session,
    chain: str,
    fresh_for: timedelta,
    now: datetime | None = None,
    limit: int = 500,
) -> list[int]:
    """Members with a wallet whose holdings were never read, were read for another wallet or
    chain, or are older than `fresh_for` (oldest first)."""
    now = now or utcnow()
    wallet = func.lower(func.trim(Profile.wallet_address))
    rows = session.exec(
        select(Profile.user_id)
        .join(User, col(User.id) == Profile.user_id)
        .outerjoin(HoldingsSync, col(HoldingsSync.user_id) == Profile.user_id)
        .where(func.trim(Profile.wallet_address) != "")
        .where(col(User.deleted_at).is_(None))
        .where(User.status == "active")
        .where(
            col(HoldingsSync.last_synced_at).is_(None)
            | (col(HoldingsSync.last_synced_at) < now - fresh_for)
            | (col(HoldingsSync.wallet_address) != wallet)
            | (col(HoldingsSync.chain) != chain)
        )
        .order_by(col(HoldingsSync.last_synced_at).asc().nulls_first(), col(Profile.user_id))
        .limit(limit)
    )
    return list(rows)


def collection_summary(*, session: Session, limit: int = 100) -> list[CollectionFigures]:
    """Per collection: how many members hold it and how many tokens, biggest first (holdings of
    members' current wallets only)."""
    rows = session.exec(
        select(
            Holding.collection,
            func.count(func.distinct(Holding.user_id)),
            func.count(col(Holding.id)),
        )
        .join(Profile, col(Profile.user_id) == Holding.user_id)
        .where(col(Holding.wallet_address) == func.lower(func.trim(Profile.wallet_address)))
        .group_by(col(Holding.collection))
        .order_by(
            func.count(func.distinct(Holding.user_id)).desc(),
            func.count(col(Holding.id)).desc(),
            col(Holding.collection),
        )
        .limit(limit)
    )
    return [
        CollectionFigures(collection=name or "(no collection)", members=members, holdings=count)
        for name, members, count in rows
    ]
