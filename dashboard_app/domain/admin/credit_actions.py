"""Credits and plans an admin gives or takes from one member: grant or revoke credits (never
more than are available), a boost, a comped plan (a paid plan changes through Stripe).

Each checks the actor against the database, needs a reason, refuses a deleted member, happens
once per form (`form_token`) and is audited with who, before, after and the reason. The caller
owns the transaction."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from dashboard_app.domain import credits, plans
from dashboard_app.domain.admin.guard import (
    Done,
    audit_action,
    done_before,
    prepare_member_action,
)
from dashboard_app.domain.billing import live_subscription
from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.errors import InvalidInput
from dashboard_app.models import Boost, CreditEntry, Plan, Subscription
from dashboard_app.models.base import utcnow

MAX_COMP_DAYS = 366


def _ledger_key(action: str, member_id: int, token: str) -> str:
    return f"admin-{action}:{member_id}:{token}"


def _ledger_change(
    session: Session,
    *,
    action: str,
    actor_user_id: object,
    member_id: object,
    amount: int,
    reason: object,
    form_token: object,
) -> Done:
    actor, member, reason_text, token = prepare_member_action(
        session,
        actor_user_id=actor_user_id,
        member_id=member_id,
        reason=reason,
        form_token=form_token,
    )
    assert member.id is not None
    key = _ledger_key(action, member.id, token)
    verb = "granted" if action == "grant" else "revoked"
    if session.exec(select(CreditEntry.id).where(CreditEntry.idempotency_key == key)).first():
        return Done(f"Already {verb}: this form was sent before.", repeated=True)
    before = credits.get_balances(session=session, user_id=member.id).available
    if action == "grant":
        credits.grant_credits(
            session=session,
            user_id=member.id,
            amount=amount,
            idempotency_key=key,
            reason=reason_text,
            reference=f"admin:{actor.id}",
            actor_user_id=actor.id,
        )
    else:
        credits.adjust_credits(
            session=session,
            user_id=member.id,
            amount=-amount,
            idempotency_key=key,
            reason=reason_text,
            actor_user_id=actor.id,
        )
    after = credits.get_balances(session=session, user_id=member.id).available
    audit_action(
        session,
        action=f"admin.credits_{verb}",
        actor=actor,
        member_id=member.id,
        before={"available": before},
        after={"available": after, "amount": amount},
        reason=reason_text,
        form_token=token,
    )
    return Done(f"{amount:,} credits {verb}. Available now: {after:,}.")


def grant_credits(
    *,
    session: Session,
    actor_user_id: object,
    member_id: object,
    amount: int,
    reason: object,
    form_token: object,
) -> Done:
    return _ledger_change(
        session,
        action="grant",
        actor_user_id=actor_user_id,
        member_id=member_id,
        amount=amount,
        reason=reason,
        form_token=form_token,
    )


def revoke_credits(
    *,
    session: Session,
    actor_user_id: object,
    member_id: object,
    amount: int,
    reason: object,
    form_token: object,
) -> Done:
    """Take available credits back; never more than are available (held and frozen credits
    are out of reach)."""
    return _ledger_change(
        session,
        action="revoke",
        actor_user_id=actor_user_id,
        member_id=member_id,
        amount=amount,
        reason=reason,
        form_token=form_token,
    )


def grant_boost(
    *,
    session: Session,
    actor_user_id: object,
    member_id: object,
    boost_code: object,
    reason: object,
    form_token: object,
    catalog: Catalog,
) -> Done:
    actor, member, reason_text, token = prepare_member_action(
        session,
        actor_user_id=actor_user_id,
        member_id=member_id,
        reason=reason,
        form_token=form_token,
    )
    if not isinstance(boost_code, str) or boost_code not in catalog.boosts:
        raise InvalidInput("Choose one of the catalog's boosts", field="boost_code")
    assert member.id is not None
    reference = _ledger_key("boost", member.id, token)
    if session.exec(select(Boost).where(Boost.reference == reference)).first():
        return Done("Already granted: this form was sent before.", repeated=True)
    active = [b.boost_code for b in plans.active_boosts(session=session, user_id=member.id)]
    boost = plans.grant_boost(
        session=session,
        user_id=member.id,
        boost_code=boost_code,
        reference=reference,
        catalog=catalog,
    )
    audit_action(
        session,
        action="admin.boost_granted",
        actor=actor,
        member_id=member.id,
        before={"boosts": active},
        after={"boost": boost_code, "ends_at": boost.ends_at.isoformat()},
        reason=reason_text,
        form_token=token,
    )
    name = catalog.boosts[boost_code].name
    return Done(f"{name} granted until {boost.ends_at:%d %b %Y, %H:%M} UTC.")


def _comps(session: Session, member_id: int) -> list[Subscription]:
    """The member's live comped plans: subscriptions an admin gave, with no Stripe behind."""
    return list(
        session.exec(
            select(Subscription)
            .where(Subscription.user_id == member_id)
            .where(col(Subscription.stripe_subscription_id).is_(None))
            .where(col(Subscription.status).in_(plans.LIVE_SUBSCRIPTION_STATUSES))
        )
    )


def comp_plan(
    *,
    session: Session,
    actor_user_id: object,
    member_id: object,
    plan_code: object,
    days: object,
    reason: object,
    form_token: object,
    catalog: Catalog,
) -> Done:
    """Put the member on a plan free of charge for `days` days, or (the default plan) end the
    comp. A member paying for a plan through Stripe changes it there, not here."""
    actor, member, reason_text, token = prepare_member_action(
        session,
        actor_user_id=actor_user_id,
        member_id=member_id,
        reason=reason,
        form_token=form_token,
    )
    assert member.id is not None
    if not isinstance(plan_code, str) or plan_code not in catalog.plans:
        raise InvalidInput("Choose one of the catalog's plans", field="plan_code")
    ending = plan_code == catalog.default_plan
    if not ending and (
        not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_COMP_DAYS
    ):
        raise InvalidInput(f"A comped plan lasts 1 to {MAX_COMP_DAYS} days", field="days")
    if done_before(session, member_id=member.id, action="admin.plan_comped", form_token=token):
        return Done("Already done: this form was sent before.", repeated=True)
    paid = live_subscription(session=session, user_id=member.id)
    if paid is not None and paid.stripe_subscription_id is not None:
        raise InvalidInput(
            "This member pays for a plan through Stripe: change it in Stripe (or let them use "
            "Manage subscription), not with a comp.",
            field="plan_code",
        )
    now = utcnow()
    before = plans.current_plan_code(session=session, user_id=member.id, catalog=catalog)
    for comp in _comps(session, member.id):
        comp.status, comp.updated_at = "canceled", now
        comp.current_period_end = min(comp.current_period_end or now, now)
        session.add(comp)
    ends_at = None
    if not ending:
        if session.get(Plan, plan_code) is None:  # the plans table mirrors the catalog
            plans.sync_plans(session=session, catalog=catalog)
        ends_at = now + timedelta(days=days)  # type: ignore[operator]
        session.add(
            Subscription(
                user_id=member.id,
                plan_code=plan_code,
                status="active",
                current_period_end=ends_at,
                cancel_at_period_end=True,
                created_at=now,
                updated_at=now,
            )
        )
    session.flush()
    audit_action(
        session,
        action="admin.plan_comped",
        actor=actor,
        member_id=member.id,
        before={"plan": before},
        after={"plan": plan_code, "ends_at": ends_at.isoformat() if ends_at else None},
        reason=reason_text,
        form_token=token,
    )
    if ending:
        return Done(f"Comped plan ended: back on {catalog.plans[plan_code].name}.")
    return Done(f"{catalog.plans[plan_code].name} comped until {ends_at:%d %b %Y} UTC.")
