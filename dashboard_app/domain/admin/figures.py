"""The admin overview's figures: sign-ups, active and paying members, revenue, refunds, credits
granted, bought, spent and expired, jobs by status and their failure rate, for today, 7 and 30
days, with a point per day for the charts; webhook events waiting or failed; the last ledger
check and reconciliation.

Each figure is one aggregate query over the last 30 days, grouped by day, that an index covers
(see the models: `ix_credit_entries_created_kind` holds every column the ledger figures read),
so the cost follows the rows of the period, not the size of the ledger; periods are summed from
the days in Python. Members counted once per period (active, paying) take one COUNT(DISTINCT)
per period instead."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import case
from sqlmodel import Session, col, func, select

from dashboard_app.domain.admin.checks import latest_checks
from dashboard_app.models import (
    CreditEntry,
    Generation,
    OperatorCheck,
    Order,
    StripeEvent,
    User,
    UserSession,
)
from dashboard_app.models.base import utcnow

PERIODS = (("Today", 1), ("7 days", 7), ("30 days", 30))
DAYS = 30
PAID_ORDER_STATUSES = ("paid", "partially_refunded", "refunded", "disputed")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


@dataclass
class Day:
    day: date
    signups: int = 0
    revenue: int = 0  # cents
    refunds: int = 0  # cents
    granted: int = 0
    bought: int = 0
    spent: int = 0
    expired: int = 0
    jobs: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Period:
    label: str
    signups: int
    active_members: int
    paying_members: int
    revenue: int
    refunds: int
    granted: int
    bought: int
    spent: int
    expired: int
    jobs: dict[str, int]
    failure_rate: float | None  # failed / (succeeded + failed), None without finished jobs


@dataclass(frozen=True)
class Figures:
    periods: list[Period]
    days: list[Day]
    events_waiting: int
    events_failed: int
    checks: dict[str, OperatorCheck | None]


def _day_of(session: Session, column):  # type: ignore[no-untyped-def]
    """The UTC calendar day of a timestamp column, in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _period_starts(now: datetime) -> dict[str, datetime]:
    today = datetime.combine(now.astimezone(UTC).date(), datetime.min.time(), tzinfo=UTC)
    return {label: today - timedelta(days=days - 1) for label, days in PERIODS}


def _distinct_users(session: Session, column, since: datetime, *conditions) -> int:  # type: ignore[no-untyped-def]
    return int(
        session.exec(
            select(func.count(func.distinct(column))).where(*conditions)  # type: ignore[arg-type]
        ).one()
    )


def credits_per_day(*, session: Session, since: datetime) -> dict[date, dict[str, int]]:
    """Credits granted (grants, allowances, positive adjustments), bought, spent (directly or by
    captured holds) and expired on each UTC day since `since`: one query that the index
    `ix_credit_entries_created_kind` answers alone."""
    entry_day = _day_of(session, CreditEntry.created_at)
    found: dict[date, dict[str, int]] = {}
    for when, kind, amount, positive, held in session.exec(
        select(
            entry_day,
            CreditEntry.kind,
            func.sum(CreditEntry.amount),
            func.sum(case((CreditEntry.amount > 0, CreditEntry.amount), else_=0)),
            func.sum(CreditEntry.held_change),
        )
        .where(CreditEntry.created_at >= since)
        .group_by(entry_day, CreditEntry.kind)
    ):
        moved = found.setdefault(
            _as_date(when), {"granted": 0, "bought": 0, "spent": 0, "expired": 0}
        )
        amount, positive, held = int(amount or 0), int(positive or 0), int(held or 0)
        if kind in ("grant", "allowance"):
            moved["granted"] += amount
        elif kind == "adjustment":
            moved["granted"] += positive
        elif kind == "purchase":
            moved["bought"] += amount
        elif kind == "spend":
            moved["spent"] -= amount
        elif kind == "capture":
            moved["spent"] -= held
        elif kind == "expiry":
            moved["expired"] -= amount
    return found


def overview_figures(*, session: Session, now: datetime | None = None) -> Figures:
    now = now or utcnow()
    starts = _period_starts(now)
    first = starts[PERIODS[-1][0]]
    days = {
        first.date() + timedelta(days=i): Day(first.date() + timedelta(days=i)) for i in range(DAYS)
    }

    def day(value: object) -> Day | None:
        return days.get(_as_date(value))

    for when, moved in credits_per_day(session=session, since=first).items():
        if (found := day(when)) is not None:
            found.granted, found.bought = moved["granted"], moved["bought"]
            found.spent, found.expired = moved["spent"], moved["expired"]

    user_day = _day_of(session, User.created_at)
    for when, count in session.exec(
        select(user_day, func.count()).where(User.created_at >= first).group_by(user_day)
    ):
        if (found := day(when)) is not None:
            found.signups += int(count)

    paid = (col(Order.status).in_(PAID_ORDER_STATUSES), Order.amount_total > 0)
    order_day = _day_of(session, Order.created_at)
    for when, total in session.exec(
        select(order_day, func.sum(Order.amount_total))
        .where(Order.created_at >= first, *paid)
        .group_by(order_day)
    ):
        if (found := day(when)) is not None:
            found.revenue += int(total or 0)

    # Refunds by when the order last changed: the order keeps what was refunded, not when.
    refund_day = _day_of(session, Order.updated_at)
    for when, total in session.exec(
        select(refund_day, func.sum(Order.amount_refunded))
        .where(Order.updated_at >= first, Order.amount_refunded > 0)
        .group_by(refund_day)
    ):
        if (found := day(when)) is not None:
            found.refunds += int(total or 0)

    job_day = _day_of(session, Generation.created_at)
    for when, status, count in session.exec(
        select(job_day, Generation.status, func.count())
        .where(Generation.created_at >= first)
        .group_by(job_day, Generation.status)
    ):
        if (found := day(when)) is not None:
            found.jobs[status] = found.jobs.get(status, 0) + int(count)

    periods = []
    for label, _days in PERIODS:
        since = starts[label]
        inside = [d for d in days.values() if d.day >= since.date()]
        jobs: dict[str, int] = defaultdict(int)
        for d in inside:
            for status, count in d.jobs.items():
                jobs[status] += count
        finished = jobs["succeeded"] + jobs["failed"]
        periods.append(
            Period(
                label=label,
                signups=sum(d.signups for d in inside),
                active_members=_distinct_users(
                    session, UserSession.user_id, since, UserSession.last_seen_at >= since
                ),
                paying_members=_distinct_users(
                    session, Order.user_id, since, Order.created_at >= since, *paid
                ),
                revenue=sum(d.revenue for d in inside),
                refunds=sum(d.refunds for d in inside),
                granted=sum(d.granted for d in inside),
                bought=sum(d.bought for d in inside),
                spent=sum(d.spent for d in inside),
                expired=sum(d.expired for d in inside),
                jobs={status: jobs[status] for status in JOB_STATUSES},
                failure_rate=(jobs["failed"] / finished) if finished else None,
            )
        )
    waiting = dict(
        session.exec(
            select(StripeEvent.status, func.count())
            .where(col(StripeEvent.status).in_(("received", "failed")))
            .group_by(StripeEvent.status)
        ).all()
    )
    return Figures(
        periods=periods,
        days=list(days.values()),
        events_waiting=int(waiting.get("received", 0)),
        events_failed=int(waiting.get("failed", 0)),
        checks=latest_checks(session=session),
    )
