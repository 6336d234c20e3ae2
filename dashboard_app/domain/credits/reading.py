"""What a member's credits look like: balances, history, daily spending and the next expiry."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from dashboard_app.domain.credits.ledger import Balances
from dashboard_app.domain.errors import InvalidInput
from dashboard_app.models import CreditAccount, CreditEntry, CreditLot
from dashboard_app.models.base import utcnow
from dashboard_app.models.credits import ENTRY_KINDS


def get_balances(*, session: Session, user_id: int) -> Balances:
    account = session.get(CreditAccount, user_id)
    if account is None:
        return Balances(available=0, reserved=0, lifetime=0, spent=0)
    return Balances(
        available=account.available,
        reserved=account.reserved,
        lifetime=account.lifetime,
        spent=account.spent,
        frozen=account.frozen,
    )


def account_version(*, session: Session, user_id: int) -> datetime | None:
    """Changes whenever the member's balances change: cheap to poll for live updates."""
    return session.exec(
        select(CreditAccount.updated_at).where(CreditAccount.user_id == user_id)
    ).first()


@dataclass(frozen=True)
class HistoryPage:
    entries: list[CreditEntry]
    next_cursor: int | None


def history(
    *,
    session: Session,
    user_id: int,
    kind: str | None = None,
    before_id: int | None = None,
    after_id: int | None = None,
    limit: int = 25,
) -> HistoryPage:
    """The member's ledger, newest first. The cursor is an entry id, so entries that arrive
    while the member pages through never shift or repeat what the next page shows;
    `after_id` fetches only what arrived after the newest entry already shown."""
    if kind is not None and kind not in ENTRY_KINDS:
        raise InvalidInput(f"Unknown kind of entry '{kind}'", field="kind")
    limit = max(1, min(limit, 100))
    query = select(CreditEntry).where(CreditEntry.user_id == user_id)
    if kind is not None:
        query = query.where(CreditEntry.kind == kind)
    if before_id is not None:
        query = query.where(col(CreditEntry.id) < before_id)
    if after_id is not None:
        query = query.where(col(CreditEntry.id) > after_id)
    rows = list(session.exec(query.order_by(col(CreditEntry.id).desc()).limit(limit + 1)))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return HistoryPage(entries=rows[:limit], next_cursor=next_cursor)


def spent_per_day(
    *, session: Session, user_id: int, days: int = 30, now: datetime | None = None
) -> list[tuple[date, int]]:
    """Credits spent (directly or by captured holds) on each of the last `days` UTC days."""
    now = now or utcnow()
    first_day = (now - timedelta(days=days - 1)).date()
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=now.tzinfo)
    rows = session.exec(
        select(
            CreditEntry.created_at, CreditEntry.kind, CreditEntry.amount, CreditEntry.held_change
        )
        .where(CreditEntry.user_id == user_id)
        .where(col(CreditEntry.kind).in_(("spend", "capture")))
        .where(CreditEntry.created_at >= since)
    )
    totals: dict[date, int] = defaultdict(int)
    for created_at, kind, amount, held_change in rows:
        totals[created_at.date()] += -amount if kind == "spend" else -held_change
    return [
        (first_day + timedelta(days=i), totals[first_day + timedelta(days=i)]) for i in range(days)
    ]


def next_expiry(
    *, session: Session, user_id: int, now: datetime | None = None
) -> tuple[datetime, int] | None:
    """When the soonest-expiring credits expire, and how many (one statement, on the
    member's lots by expiry: every overview load asks)."""
    now = now or utcnow()
    soonest = session.exec(
        select(CreditLot.expires_at, func.sum(CreditLot.remaining))
        .where(CreditLot.user_id == user_id, CreditLot.remaining > 0)
        .where(col(CreditLot.expires_at).is_not(None), col(CreditLot.expires_at) > now)
        .group_by(col(CreditLot.expires_at))
        .order_by(col(CreditLot.expires_at))
        .limit(1)
    ).first()
    if soonest is None or soonest[0] is None:
        return None
    return soonest[0], int(soonest[1])
