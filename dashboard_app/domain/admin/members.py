"""Members as an admin finds and reads them: search by email or name, filters (plan, status,
role, flagged), cursor paging; and one member's page: profile, balances, ledger, usage, jobs,
library, orders, subscription, sessions, audit trail and flags."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, or_
from sqlmodel import Session, col, func, select

from dashboard_app.domain import audit, billing, credits, plans
from dashboard_app.domain.catalog import Catalog, Limits
from dashboard_app.domain.errors import InvalidInput, NotFound
from dashboard_app.domain.generation import review
from dashboard_app.domain.ids import record_id
from dashboard_app.models import (
    Asset,
    CreditAccount,
    Generation,
    Order,
    Profile,
    Subscription,
    User,
    UserSession,
)
from dashboard_app.models.base import utcnow
from dashboard_app.models.users import ROLES

PAGE_SIZE = 25
STATUSES = ("active", "suspended", "deleted")
FLAGS = {
    "dispute": "Payment disputed",
    "shortfall": "Clawback shortfall",
    "past_due": "Past due",
}
PAST_DUE = ("past_due", "unpaid")


@dataclass(frozen=True)
class MemberFilters:
    text: str = ""
    plan: str = ""
    status: str = ""
    role: str = ""
    flag: str = ""


@dataclass(frozen=True)
class MemberRow:
    id: int
    email: str
    name: str
    role: str
    status: str
    plan: str
    available: int
    flags: list[str]
    joined: datetime


@dataclass(frozen=True)
class MembersPage:
    rows: list[MemberRow]
    next_cursor: int | None


def _live_plan(now: datetime):  # type: ignore[no-untyped-def]
    """The conditions of a subscription that sets a member's plan now."""
    return and_(
        col(Subscription.status).in_(plans.LIVE_SUBSCRIPTION_STATUSES),
        col(Subscription.refused_as_duplicate).is_(False),
        or_(
            col(Subscription.current_period_end).is_(None),
            col(Subscription.current_period_end) > now,
        ),
    )


def status_of(user: User) -> str:
    return "deleted" if user.deleted_at is not None else user.status


def search_members(
    *,
    session: Session,
    filters: MemberFilters,
    catalog: Catalog,
    before_id: int | None = None,
    limit: int = PAGE_SIZE,
    now: datetime | None = None,
) -> MembersPage:
    now = now or utcnow()
    query = (
        select(
            User, Profile.display_name, CreditAccount.available, CreditAccount.clawback_shortfall
        )
        .outerjoin(Profile, col(Profile.user_id) == User.id)
        .outerjoin(CreditAccount, col(CreditAccount.user_id) == User.id)
    )
    text = filters.text.strip().lower()
    if len(text) > 320:
        raise InvalidInput("Search for at most 320 characters", field="text")
    if text:
        if text.lstrip("#").isdigit():
            query = query.where(User.id == int(text.lstrip("#")))
        else:
            query = query.where(
                or_(
                    col(User.email).contains(text, autoescape=True),
                    func.lower(Profile.display_name).contains(text, autoescape=True),
                )
            )
    if filters.status:
        if filters.status not in STATUSES:
            raise InvalidInput("Unknown status", field="status")
        if filters.status == "deleted":
            query = query.where(col(User.deleted_at).is_not(None))
        else:
            query = query.where(User.status == filters.status, col(User.deleted_at).is_(None))
    if filters.role:
        if filters.role not in ROLES:
            raise InvalidInput("Unknown role", field="role")
        query = query.where(User.role == filters.role)
    if filters.plan:
        if filters.plan not in catalog.plans:
            raise InvalidInput("Unknown plan", field="plan")
        on_plan = exists().where(Subscription.user_id == User.id, _live_plan(now))
        if filters.plan == catalog.default_plan:
            others = [code for code in catalog.plans if code != catalog.default_plan]
            query = query.where(~on_plan.where(col(Subscription.plan_code).in_(others)))
        else:
            query = query.where(on_plan.where(Subscription.plan_code == filters.plan))
    if filters.flag:
        if filters.flag not in FLAGS:
            raise InvalidInput("Unknown flag", field="flag")
        if filters.flag == "dispute":
            query = query.where(col(User.billing_flag).is_not(None))
        elif filters.flag == "shortfall":
            query = query.where(CreditAccount.clawback_shortfall > 0)
        else:
            query = query.where(
                exists().where(
                    Subscription.user_id == User.id, col(Subscription.status).in_(PAST_DUE)
                )
            )
    if before_id is not None:
        query = query.where(col(User.id) < before_id)
    limit = max(1, min(limit, 100))
    found = list(session.exec(query.order_by(col(User.id).desc()).limit(limit + 1)))
    more = len(found) > limit
    found = found[:limit]
    ids = [user.id for user, *_ in found]
    plan_of = _plans_of(session, ids, catalog, now)
    past_due = set(
        session.exec(
            select(Subscription.user_id).where(
                col(Subscription.user_id).in_(ids), col(Subscription.status).in_(PAST_DUE)
            )
        )
    )
    rows = []
    for user, name, available, shortfall in found:
        assert user.id is not None
        flags = [
            label
            for key, label in FLAGS.items()
            if (key == "dispute" and user.billing_flag)
            or (key == "shortfall" and (shortfall or 0) > 0)
            or (key == "past_due" and user.id in past_due)
        ]
        rows.append(
            MemberRow(
                id=user.id,
                email=user.email,
                name=name or "",
                role=user.role,
                status=status_of(user),
                plan=catalog.plan(plan_of.get(user.id, catalog.default_plan)).name,
                available=available or 0,
                flags=flags,
                joined=user.created_at,
            )
        )
    return MembersPage(rows=rows, next_cursor=rows[-1].id if more and rows else None)


def _plans_of(session: Session, ids: list[int], catalog: Catalog, now: datetime) -> dict[int, str]:
    plan_of: dict[int, str] = {}
    if not ids:
        return plan_of
    for user_id, code in session.exec(
        select(Subscription.user_id, Subscription.plan_code)
        .where(col(Subscription.user_id).in_(ids), _live_plan(now))
        .order_by(col(Subscription.updated_at))
    ):
        if code in catalog.plans:
            plan_of[user_id] = code  # the latest update wins, as plans.current_plan_code
    return plan_of


# --- One member ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberDetail:
    user: User
    profile: Profile | None
    status: str
    balances: credits.Balances
    clawback_shortfall: int
    ledger: credits.HistoryPage
    plan_name: str
    plan_is_comp: bool
    plan_ends_at: datetime | None
    limits: Limits
    usage: plans.Usage
    boosts: list[tuple[str, datetime]]
    jobs: list[Generation]
    job_count: int
    library_count: int
    orders: list[Order]
    subscription: Subscription | None
    sessions: list[UserSession]
    trail: list[audit.AuditRecord]
    flags: list[str]


def member_detail(
    *,
    session: Session,
    member_id: object,
    catalog: Catalog,
    ledger_kind: str | None = None,
    ledger_before: int | None = None,
    now: datetime | None = None,
) -> MemberDetail:
    """Everything an admin reads about one member (a deleted one too: the books stay)."""
    now = now or utcnow()
    if record_id(member_id) is None:
        raise NotFound("No such member")
    user = session.get(User, member_id)
    if user is None:
        raise NotFound("No such member")
    account = session.get(CreditAccount, member_id)
    plan_code = plans.current_plan_code(
        session=session, user_id=member_id, catalog=catalog, now=now
    )
    plan_row = session.exec(
        select(Subscription)
        .where(Subscription.user_id == member_id, _live_plan(now))
        .order_by(col(Subscription.updated_at).desc())
    ).first()
    boosts = plans.active_boosts(session=session, user_id=member_id, now=now)
    past_due = billing.past_due(session=session, user_id=member_id)
    shortfall = account.clawback_shortfall if account else 0
    flags = [
        text
        for text, on in (
            (user.billing_flag or "", bool(user.billing_flag)),
            (f"Clawback shortfall: {shortfall} credits", shortfall > 0),
            ("Subscription payment past due", past_due),
        )
        if on
    ]
    return MemberDetail(
        user=user,
        profile=session.get(Profile, member_id),
        status=status_of(user),
        balances=credits.get_balances(session=session, user_id=member_id),
        clawback_shortfall=shortfall,
        ledger=credits.history(
            session=session, user_id=member_id, kind=ledger_kind, before_id=ledger_before
        ),
        plan_name=catalog.plan(plan_code).name,
        plan_is_comp=plan_row is not None and plan_row.stripe_subscription_id is None,
        plan_ends_at=plan_row.current_period_end if plan_row else None,
        limits=plans.member_limits(session=session, user_id=member_id, catalog=catalog, now=now),
        usage=plans.usage_this_month(session=session, user_id=member_id, now=now),
        boosts=[
            (catalog.boosts[b.boost_code].name, b.ends_at)
            for b in boosts
            if b.boost_code in catalog.boosts
        ],
        jobs=review.list_jobs(session=session, user_id=member_id, limit=10).jobs,
        job_count=int(
            session.exec(
                select(func.count()).select_from(Generation).where(Generation.user_id == member_id)
            ).one()
        ),
        library_count=int(
            session.exec(
                select(func.count())
                .select_from(Asset)
                .where(
                    Asset.owner_id == member_id,
                    col(Asset.saved_at).is_not(None),
                    col(Asset.deleted_at).is_(None),
                )
            ).one()
        ),
        orders=billing.list_orders(session=session, user_id=member_id, limit=20).orders,
        subscription=billing.live_subscription(session=session, user_id=member_id),
        sessions=list(
            session.exec(
                select(UserSession)
                .where(UserSession.user_id == member_id, col(UserSession.revoked_at).is_(None))
                .where(UserSession.expires_at > now)
                .order_by(col(UserSession.last_seen_at).desc())
                .limit(20)
            )
        ),
        trail=audit.audit_trail(session=session, subject_user_id=member_id, limit=50),
        flags=flags,
    )
