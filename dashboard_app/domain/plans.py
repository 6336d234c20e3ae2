"""Plans, boosts and usage: which limits apply to a member now, and whether work may start."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from dashboard_app.domain import rate_limits
from dashboard_app.domain.catalog import Catalog, Limits
from dashboard_app.domain.errors import DomainError, InvalidInput, NotFound
from dashboard_app.models import Boost, Generation, Plan, Subscription, UsageEntry, User
from dashboard_app.models.base import utcnow
from dashboard_app.models.jobs import IN_FLIGHT

# Subscription statuses under which the plan's limits still apply.
LIVE_SUBSCRIPTION_STATUSES = ("active", "trialing", "past_due")
METRICS = ("exports", "processing_seconds")


class LimitReached(DomainError):
    """Work refused by a plan limit; the message names the limit and when it frees up.
    `limit` is the limit's name in the catalog; `frees_at` is when it frees, when known."""

    def __init__(self, message: str, *, limit: str = "", frees_at: datetime | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.frees_at = frees_at


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


def member_limits(
    *, session: Session, user_id: int, catalog: Catalog, now: datetime | None = None
) -> Limits:
    """The limits that apply to the member now: their plan's, raised by their active boosts."""
    now = now or utcnow()
    plan_code = current_plan_code(session=session, user_id=user_id, catalog=catalog, now=now)
    boosts = active_boosts(session=session, user_id=user_id, now=now)
    return effective_limits(catalog, plan_code, [boost.boost_code for boost in boosts])


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
    asset_id: int | None = None,
) -> UsageEntry:
    """Count an export (of `asset_id`) or processing time once per reference, in the month it
    happened."""
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
        asset_id=asset_id,
        occurred_at=now,
    )
    session.add(entry)
    session.flush()
    return entry


def usage_recorded(*, session: Session, reference: str) -> bool:
    return (
        session.exec(select(UsageEntry.id).where(UsageEntry.reference == reference)).first()
        is not None
    )


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


def lock_member(session: Session, user_id: int) -> None:
    """Hold the member's user row until the transaction ends: every start of work for one
    member queues behind it (PostgreSQL: FOR NO KEY UPDATE, which lets rows that merely refer
    to the member be written meanwhile; SQLite's BEGIN IMMEDIATE serialises)."""
    found = session.exec(
        select(User.id).where(User.id == user_id).with_for_update(key_share=True)
    ).first()
    if found is None:
        raise NotFound("No such member")


def take_job_slot(
    *, session: Session, user_id: int, limits: Limits, now: datetime | None = None
) -> None:
    """Admit one more job for the member or raise LimitReached, atomically: the member's row is
    locked, then the jobs in flight are counted and the hourly burst is recorded under that
    lock, so two starts racing for the last slot cannot both win. The caller then creates the
    job in the same transaction (a rollback gives the slot and the burst use back)."""
    now = now or utcnow()
    if limits.concurrent_jobs == 0 or limits.hourly_burst == 0:
        raise LimitReached(
            "Your plan does not include generation jobs; upgrade to start one.",
            limit="concurrent_jobs",
        )
    lock_member(session, user_id)
    in_flight = session.exec(
        select(func.count())
        .select_from(Generation)
        .where(Generation.user_id == user_id)
        .where(col(Generation.status).in_(IN_FLIGHT))
    ).one()
    if in_flight >= limits.concurrent_jobs:
        jobs = "job" if limits.concurrent_jobs == 1 else "jobs"
        raise LimitReached(
            f"Your plan runs {limits.concurrent_jobs} {jobs} at a time and {in_flight} "
            "in progress; a slot frees up when one of them finishes.",
            limit="concurrent_jobs",
        )
    try:
        rate_limits.take(
            session=session,
            action="generation.start",
            subject=f"member:{user_id}",
            windows=[rate_limits.Window(limits.hourly_burst, timedelta(hours=1))],
            now=now,
        )
    except rate_limits.RateLimited as limited:
        raise LimitReached(
            f"Your plan starts at most {limits.hourly_burst} jobs an hour; the next one can "
            f"start at {limited.retry_at.astimezone(UTC):%H:%M} UTC.",
            limit="hourly_burst",
            frees_at=limited.retry_at,
        ) from None


def check_monthly_pool(
    *, session: Session, user_id: int, limits: Limits, now: datetime | None = None
) -> Usage:
    """Refuse new work once the month's processing minutes (the plan's pool) are used up."""
    usage = usage_this_month(session=session, user_id=user_id, now=now)
    if usage.processing_minutes >= limits.monthly_minutes:
        raise LimitReached(
            f"You have used all {limits.monthly_minutes} minutes of processing of this month; "
            f"the pool refills on {usage.resets_at:%d %B %Y}.",
            limit="monthly_minutes",
            frees_at=usage.resets_at,
        )
    return usage


def check_can_export(
    *, session: Session, user_id: int, limits: Limits, now: datetime | None = None
) -> None:
    usage = usage_this_month(session=session, user_id=user_id, now=now)
    if usage.exports >= limits.monthly_exports:
        raise LimitReached(
            f"You have used all {limits.monthly_exports} exports of this month; the meter "
            f"resets on {usage.resets_at:%d %B %Y}.",
            limit="monthly_exports",
            frees_at=usage.resets_at,
        )
