"""What the member's overview shows, read in one transaction: balances, plan, meters, chart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

from sqlalchemy import Select, bindparam
from sqlmodel import Session, col, select

from dashboard_app.domain import accounts, credits, plans
from dashboard_app.domain.catalog import Catalog, Limits
from dashboard_app.models import CreditAccount, Profile, User, UserSession
from dashboard_app.models.base import utcnow


@dataclass(frozen=True)
class Shell:
    """Who is signed in with a session token, and what every page's shell shows of them."""

    session_id: int
    user_id: int
    is_admin: bool
    email: str
    display_name: str
    available_credits: int
    email_verified: bool
    theme: str
    # The session's last-seen time is due to be written (accounts.note_session_seen).
    seen_due: bool


@cache
def _shell_query() -> Select:
    """Built once: every event of every tab runs it, and building it cost more than running
    it (SQLAlchemy then finds its compiled form in its cache)."""
    return (
        select(
            UserSession.id,
            UserSession.revoked_at,
            UserSession.expires_at,
            UserSession.last_seen_at,
            User.id,
            User.role,
            User.email,
            User.status,
            User.deleted_at,
            User.email_verified_at,
            CreditAccount.available,
            Profile.display_name,
            Profile.theme,
        )
        .join(User, col(User.id) == UserSession.user_id)
        .outerjoin(CreditAccount, col(CreditAccount.user_id) == User.id)
        .outerjoin(Profile, col(Profile.user_id) == User.id)
        .where(col(UserSession.token_hash) == bindparam("token_hash"))
    )


def shell_for_token(
    *,
    session: Session,
    token: str | None,
    policy: accounts.SessionPolicy,
    now: datetime | None = None,
) -> Shell | None:
    """The live session behind a token with its member, balance and profile, in one
    statement (every event of every tab reads it), under the rules of `resolve_session`."""
    if not token:
        return None
    now = now or utcnow()
    row = session.execute(_shell_query(), {"token_hash": policy.token_hash(token)}).first()
    if row is None:
        return None
    (session_id, revoked_at, expires_at, last_seen_at, user_id, role, email, status) = row[:8]
    (deleted_at, verified_at, available, display_name, theme) = row[8:]
    live = accounts.session_is_live(
        revoked_at=revoked_at,
        expires_at=expires_at,
        last_seen_at=last_seen_at,
        now=now,
        policy=policy,
    )
    if not live or not accounts.member_can_sign_in(status=status, deleted_at=deleted_at):
        return None
    return Shell(
        session_id=session_id,
        user_id=user_id,
        is_admin=role == "admin",
        email=email,
        display_name=accounts.shown_name(display_name or "", email),
        available_credits=available or 0,
        email_verified=verified_at is not None,
        theme=theme or "system",
        seen_due=accounts.seen_is_due(last_seen_at, now),
    )


@dataclass(frozen=True)
class ActiveBoost:
    name: str
    ends_at: datetime


@dataclass(frozen=True)
class MemberOverview:
    balances: credits.Balances
    low_balance: bool
    plan_name: str
    boosts: list[ActiveBoost]
    limits: Limits
    usage: plans.Usage
    spent_per_day: list[tuple[date, int]]
    next_expiry: tuple[datetime, int] | None


def member_overview(
    *, session: Session, user_id: int, catalog: Catalog, now: datetime | None = None
) -> MemberOverview:
    """Reads only: the caller expires due credits first (`credits.expire_credits`), so that
    they leave through an entry before the member sees a balance."""
    now = now or utcnow()
    balances = credits.get_balances(session=session, user_id=user_id)
    plan_code = plans.current_plan_code(session=session, user_id=user_id, catalog=catalog, now=now)
    boosts = plans.active_boosts(session=session, user_id=user_id, now=now)
    return MemberOverview(
        balances=balances,
        low_balance=balances.available < catalog.low_balance_threshold,
        plan_name=catalog.plan(plan_code).name,
        boosts=[
            ActiveBoost(name=catalog.boosts[b.boost_code].name, ends_at=b.ends_at)
            for b in boosts
            if b.boost_code in catalog.boosts
        ],
        limits=plans.effective_limits(catalog, plan_code, [b.boost_code for b in boosts]),
        usage=plans.usage_this_month(session=session, user_id=user_id, now=now),
        spent_per_day=credits.spent_per_day(session=session, user_id=user_id, now=now),
        next_expiry=credits.next_expiry(session=session, user_id=user_id, now=now),
    )
