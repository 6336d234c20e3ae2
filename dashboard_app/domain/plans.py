"""Plans, boosts and usage: which limits apply to a member now, and whether work may start."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from dashboard_app.domain.catalog import Catalog, Limits
from dashboard_app.domain.errors import DomainError, InvalidInput
from dashboard_app.models import Boost, Generation, Plan, Subscription, UsageEntry
from dashboard_app.models.base import utcnow

# Subscription statuses under which the plan's limits still apply.
LIVE_SUBSCRIPTION_STATUSES = ("active", "trialing", "past_due")
METRICS = ("exports", "processing_seconds")


class LimitReached(DomainError):
    """Work refused by a plan limit; the message names the limit and when it frees up."""


def month_period(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


def next_month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def sync_plans(*, session: Session, catalog: Catalog) -> None:
    """Mirror the catalog's plans into the plans table (subscriptions refer to them)."""
    for code, config in catalog.plans.items():
        plan = session.get(Plan, code) or Plan(code=code, name=config.name)
        plan.name = config.name
        plan.monthly_credits = config.monthly_credits
        plan.monthly_exports = config.monthly_exports
        plan.monthly_minutes = config.monthly_minutes
        plan.hourly_burst = config.hourly_burst
        plan.concurrent_jobs = config.concurrent_jobs
        plan.stripe_lookup_key = config.stripe_lookup_key
        plan.active = True
        session.add(plan)
    for plan in session.exec(select(Plan).where(col(Plan.code).not_in(list(catalog.plans)))):
        plan.active = False
        session.add(plan)
    session.flush()


def current_plan_code(
    *, session: Session, user_id: int, catalog: Catalog, now: datetime | None = None
) -> str:
    now = now or utcnow()
    subscription = session.exec(
        select(Subscription)
        .where(Subscription.user_id == user_id)
        .where(col(Subscription.status).in_(LIVE_SUBSCRIPTION_STATUSES))
        .where(
            col(Subscription.current_period_end).is_(None)
            | (col(Subscription.current_period_end) > now)
        )
        .order_by(col(Subscription.updated_at).desc())
    ).first()
    if subscription is not None and subscription.plan_code in catalog.plans:
        return subscription.plan_code
    return catalog.default_plan


def active_boosts(*, session: Session, user_id: int, now: datetime | None = None) -> list[Boost]:
    now = now or utcnow()
    return list(
        session.exec(
            select(Boost)
            .where(Boost.user_id == user_id, Boost.starts_at <= now, Boost.ends_at > now)
            .order_by(col(Boost.ends_at))
        )
    )


def effective_limits(catalog: Catalog, plan_code: str, boost_codes: list[str]) -> Limits:
    """The one place limits are resolved: the plan's, raised by every active boost."""
    limits = catalog.plan(plan_code).limits
    for code in boost_codes:
        if code in catalog.boosts:
            limits = limits.plus(catalog.boosts[code].extra)
    return limits


def grant_boost(
    *,
    session: Session,
    user_id: int,
    boost_code: str,
    reference: str,
    catalog: Catalog,
    now: datetime | None = None,
) -> Boost:
    """Start a boost once per reference; a second one of the same kind extends the first."""
    if boost_code not in catalog.boosts:
        raise InvalidInput(f"Unknown boost '{boost_code}'", field="boost_code")
    existing = session.exec(select(Boost).where(Boost.reference == reference)).first()
    if existing is not None:
        return existing
    now = now or utcnow()
    latest_end = session.exec(
        select(func.max(Boost.ends_at)).where(
            Boost.user_id == user_id, Boost.boost_code == boost_code, Boost.ends_at > now
        )
    ).one()
    starts = max(now, latest_end) if latest_end is not None else now
    if starts.tzinfo is None:
        starts = starts.replace(tzinfo=UTC)
    boost = Boost(
        user_id=user_id,
        boost_code=boost_code,
        reference=reference,
        starts_at=starts,
        ends_at=starts + timedelta(days=catalog.boosts[boost_code].days),
        created_at=now,
    )
    session.add(boost)
    session.flush()
    return boost


def record_usage(
    *,
    session: Session,
    user_id: int,
    metric: str,
    quantity: int,
    reference: str,
    now: datetime | None = None,
) -> UsageEntry:
    """Count an export or processing time once per reference, in the month it happened."""
    if metric not in METRICS:
        raise InvalidInput(f"Unknown usage metric '{metric}'", field="metric")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        raise InvalidInput("Usage must be a positive whole number", field="quantity")
    existing = session.exec(select(UsageEntry).where(UsageEntry.reference == reference)).first()
    if existing is not None:
        return existing
    now = now or utcnow()
    entry = UsageEntry(
        user_id=user_id,
        metric=metric,
        quantity=quantity,
        period=month_period(now),
        reference=reference,
        occurred_at=now,
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class Usage:
    exports: int
    processing_minutes: int
    resets_at: datetime


def usage_this_month(*, session: Session, user_id: int, now: datetime | None = None) -> Usage:
    now = now or utcnow()
    totals = dict(
        session.exec(
            select(UsageEntry.metric, func.sum(UsageEntry.quantity))
            .where(UsageEntry.user_id == user_id, UsageEntry.period == month_period(now))
            .group_by(UsageEntry.metric)
        ).all()
    )
    seconds = int(totals.get("processing_seconds", 0) or 0)
    return Usage(
        exports=int(totals.get("exports", 0) or 0),
        processing_minutes=(seconds + 59) // 60,
        resets_at=next_month_start(now),
    )


def check_can_start_job(
    *, session: Session, user_id: int, limits: Limits, now: datetime | None = None
) -> None:
    """Refuse new work beyond the concurrent-jobs or hourly burst limit, saying when it frees."""
    now = now or utcnow()
    if limits.concurrent_jobs == 0 or limits.hourly_burst == 0:
        raise LimitReached("Your plan does not include generation jobs; upgrade to start one.")
    in_flight = session.exec(
        select(func.count())
        .select_from(Generation)
        .where(Generation.user_id == user_id)
        .where(col(Generation.status).in_(("queued", "running")))
    ).one()
    if in_flight >= limits.concurrent_jobs:
        raise LimitReached(
            f"Your plan runs {limits.concurrent_jobs} job(s) at a time and {in_flight} are "
            "in progress; a slot frees up when one of them finishes."
        )
    hour_ago = now - timedelta(hours=1)
    recent = list(
        session.exec(
            select(Generation.created_at)
            .where(Generation.user_id == user_id, Generation.created_at > hour_ago)
            .order_by(col(Generation.created_at))
        )
    )
    if len(recent) >= limits.hourly_burst:
        frees_at = recent[len(recent) - limits.hourly_burst] + timedelta(hours=1)
        raise LimitReached(
            f"Your plan starts at most {limits.hourly_burst} jobs an hour; the next one can "
            f"start at {frees_at.astimezone(UTC):%H:%M} UTC."
        )


def check_can_export(
    *, session: Session, user_id: int, limits: Limits, now: datetime | None = None
) -> None:
    usage = usage_this_month(session=session, user_id=user_id, now=now)
    if usage.exports >= limits.monthly_exports:
        raise LimitReached(
            f"You have used all {limits.monthly_exports} exports of this month; the meter "
            f"resets on {usage.resets_at:%d %B %Y}."
        )
