"""What the member's overview shows, read in one transaction: balances, plan, meters, chart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session

from dashboard_app.domain import credits, plans
from dashboard_app.domain.catalog import Catalog, Limits
from dashboard_app.models.base import utcnow


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
    now = now or utcnow()
    # Credits past their expiry leave through an entry before the member sees a balance.
    credits.expire_credits(session=session, user_id=user_id, now=now)
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
