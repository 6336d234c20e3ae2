"""A member's orders: the list, one order, and which snapshots are due a refresh from Stripe."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from dashboard_app.domain.errors import NotFound
from dashboard_app.domain.ids import record_id
from dashboard_app.models import Order
from dashboard_app.models.base import utcnow

ORDER_FRESHNESS = timedelta(hours=12)
ORDERS_PAGE_SIZE = 20
FIRST_REFRESH_RETRY = timedelta(minutes=5)
LONGEST_REFRESH_RETRY = timedelta(days=1)


@dataclass(frozen=True)
class OrdersPage:
    orders: list[Order]
    next_before_id: int | None


def list_orders(
    *, session: Session, user_id: int, before_id: int | None = None, limit: int = ORDERS_PAGE_SIZE
) -> OrdersPage:
    query = select(Order).where(Order.user_id == user_id)
    if before_id is not None:
        query = query.where(col(Order.id) < before_id)
    rows = list(session.exec(query.order_by(col(Order.id).desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return OrdersPage(orders=rows, next_before_id=rows[-1].id if more and rows else None)


def get_order(*, session: Session, user_id: int, order_id: object) -> Order:
    if record_id(order_id) is None:
        raise NotFound("No such order")
    order = session.get(Order, order_id)
    if order is None or order.user_id != user_id:
        raise NotFound("No such order")
    return order


def snapshot_is_fresh(order: Order, now: datetime | None = None) -> bool:
    """Whether the order's snapshot was brought up to date from Stripe within the window."""
    now = now or utcnow()
    return order.refreshed_at is not None and order.refreshed_at >= now - ORDER_FRESHNESS


def snapshot_is_due(order: Order, now: datetime | None = None) -> bool:
    """One order as `stale_order_ids` judges them: its snapshot is older than the freshness
    window (or was never refreshed), and a failed refresh's backoff has passed."""
    now = now or utcnow()
    return not snapshot_is_fresh(order, now) and (
        order.refresh_after is None or order.refresh_after <= now
    )


def stale_order_ids(
    *,
    session: Session,
    user_id: int | None,
    now: datetime | None = None,
    limit: int = ORDERS_PAGE_SIZE,
) -> list[int]:
    """Orders whose snapshot is older than the freshness window, leaving out those whose last
    refresh failed until their backoff has passed, newest first.

    For one member: among their newest `limit` orders (those the orders page shows first);
    older orders are refreshed when they are opened, and the page's first load stays one short
    index read however many orders the member has. For everyone (`user_id` None, the scheduled
    refresh): the newest `limit` stale orders."""
    now = now or utcnow()
    cutoff = now - ORDER_FRESHNESS
    limit = max(1, min(limit, 500))
    query = (
        select(Order.id)
        .where(col(Order.refreshed_at).is_(None) | (col(Order.refreshed_at) < cutoff))
        .where(col(Order.refresh_after).is_(None) | (col(Order.refresh_after) <= now))
        .order_by(col(Order.id).desc())
    )
    if user_id is None:
        return list(session.exec(query.limit(limit)))
    newest = (
        select(Order.id)
        .where(Order.user_id == user_id)
        .order_by(col(Order.id).desc())
        .limit(limit)
        .subquery()
    )
    return list(session.exec(query.where(col(Order.id).in_(select(newest.c.id)))))


def note_refresh_failed(*, session: Session, order_id: int, now: datetime | None = None) -> None:
    """A refresh from Stripe failed: the next try waits, twice as long after each failure."""
    order = session.get(Order, order_id)
    if order is None:
        return
    order.refresh_failures += 1
    wait = FIRST_REFRESH_RETRY * 2 ** min(order.refresh_failures - 1, 20)
    order.refresh_after = (now or utcnow()) + min(wait, LONGEST_REFRESH_RETRY)
    session.add(order)
