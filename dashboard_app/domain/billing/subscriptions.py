"""Subscriptions and their invoices: the rules that run inside the caller's transaction.

A subscription's row mirrors its current state at Stripe; a paid period invoice grants the
plan's allowance under the key `allowance:<invoice id>`, expiring when the period ends."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from dashboard_app.domain import credits
from dashboard_app.domain.audit import record_audit
from dashboard_app.domain.billing.members import UnknownOrder, lock_member, member_for
from dashboard_app.domain.billing.stripe_objects import (
    amount,
    invoice_amount_paid,
    invoice_charge_id,
    invoice_items,
    invoice_payment_intent_id,
    invoice_period_end,
    invoice_price_ids,
    invoice_subscription_id,
    object_id,
    plan_of_subscription,
    subscription_period_end,
    timestamp,
)
from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.plans import LIVE_SUBSCRIPTION_STATUSES, sync_plans
from dashboard_app.integrations.stripe_gateway import StripeObject
from dashboard_app.models import AuditEntry, Order, Plan, Subscription
from dashboard_app.models.base import utcnow
from dashboard_app.models.plans import SUBSCRIPTION_STATUSES

# The invoices that open a paid period (Stripe's `billing_reason`).
PERIOD_REASONS = ("subscription_create", "subscription_cycle")
# Stripe never brings a subscription back from these.
ENDED_STATUSES = ("canceled", "incomplete_expired")


def live_subscription(
    *, session: Session, user_id: int, besides: str | None = None
) -> Subscription | None:
    """The member's live subscription (a refused duplicate is not one), or None; `besides`
    leaves one Stripe subscription out."""
    query = (
        select(Subscription)
        .where(Subscription.user_id == user_id)
        .where(col(Subscription.status).in_(LIVE_SUBSCRIPTION_STATUSES))
        .where(col(Subscription.refused_as_duplicate).is_(False))
    )
    if besides is not None:
        query = query.where(Subscription.stripe_subscription_id != besides)
    return session.exec(query.order_by(col(Subscription.updated_at).desc())).first()


def past_due(*, session: Session, user_id: int) -> bool:
    return (
        session.exec(
            select(Subscription.id)
            .where(Subscription.user_id == user_id)
            .where(col(Subscription.status).in_(("past_due", "unpaid")))
        ).first()
        is not None
    )


def apply_subscription(
    *,
    session: Session,
    subscription: StripeObject,
    catalog: Catalog,
    plans_by_price: dict[str, str],
    read_at: datetime | None = None,
) -> Subscription | None:
    """Store a subscription's state at Stripe (plan, status, period end, cancel at period end),
    as read at `read_at`.

    Reads of one subscription can come back out of order (a slow fetch for an older event after
    a newer one): a read older than the stored one changes nothing, and an ended subscription
    never comes back to life (Stripe never revives one). A second live subscription for a member
    who already has one is marked `refused_as_duplicate`: the caller cancels and refunds it."""
    read_at = read_at or utcnow()
    user_id = member_for(
        session,
        customer=object_id(subscription.get("customer")),
        metadata=subscription.get("metadata"),
    )
    if user_id is None:
        raise UnknownOrder(f"subscription {subscription.get('id')} names no member of ours")
    lock_member(session, user_id)
    row = session.exec(
        select(Subscription)
        .where(Subscription.stripe_subscription_id == subscription["id"])
        .execution_options(populate_existing=True)
    ).first()
    status = str(subscription.get("status") or "")
    if row is not None and _is_stale(row, status, read_at):
        return row
    plan = plan_of_subscription(subscription, catalog, plans_by_price)
    if plan is None:
        if row is None:
            raise UnknownOrder(f"subscription {subscription['id']} is for no plan in the catalog")
        plan = row.plan_code
    if session.get(Plan, plan) is None:  # the plans table mirrors the catalog
        sync_plans(session=session, catalog=catalog)
    if status not in SUBSCRIPTION_STATUSES:
        status = row.status if row is not None else "incomplete"
    row = row or Subscription(user_id=user_id, stripe_subscription_id=subscription["id"])
    if status in LIVE_SUBSCRIPTION_STATUSES and not row.refused_as_duplicate:
        other = live_subscription(session=session, user_id=user_id, besides=subscription["id"])
        row.refused_as_duplicate = other is not None
    row.user_id = user_id
    row.plan_code = plan
    row.status = status
    row.current_period_end = subscription_period_end(subscription)
    row.cancel_at_period_end = bool(
        subscription.get("cancel_at_period_end") or subscription.get("cancel_at")
    )
    row.stripe_state_at = read_at
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row


def _is_stale(row: Subscription, status: str, read_at: datetime) -> bool:
    if row.stripe_state_at is not None and read_at < row.stripe_state_at:
        return True
    return row.status in ENDED_STATUSES and status not in ENDED_STATUSES


def refuse_duplicate(
    *, session: Session, subscription_id: str, refunded_charge: str | None
) -> None:
    """Record that a duplicate subscription was canceled at Stripe (and its payment refunded):
    stored as canceled, and audited once however many deliveries got here."""
    row = session.exec(
        select(Subscription).where(Subscription.stripe_subscription_id == subscription_id)
    ).one()
    lock_member(session, row.user_id)
    session.refresh(row)
    if row.status not in ENDED_STATUSES:
        row.status = "canceled"
        row.stripe_state_at = row.updated_at = utcnow()
        session.add(row)
    action = "billing.duplicate_subscription_refused"
    audited = session.exec(
        select(AuditEntry).where(
            AuditEntry.subject_user_id == row.user_id, AuditEntry.action == action
        )
    ).all()
    if any((entry.after or {}).get("subscription") == subscription_id for entry in audited):
        return
    kept = live_subscription(session=session, user_id=row.user_id, besides=subscription_id)
    record_audit(
        session=session,
        action=action,
        subject_user_id=row.user_id,
        after={
            "subscription": subscription_id,
            "kept": kept.stripe_subscription_id if kept else None,
            "plan": row.plan_code,
            "refunded_charge": refunded_charge,
        },
    )
    session.flush()


def apply_invoice(
    *,
    session: Session,
    invoice: StripeObject,
    catalog: Catalog,
    plans_by_price: dict[str, str],
    failed: bool = False,
    now: datetime | None = None,
) -> Order | None:
    """A subscription invoice becomes an order; once paid, a period's own invoice grants the
    allowance of the plan its Price is for (not the plan the member has by the time it is
    applied), expiring when the period ends."""
    subscription_id = invoice_subscription_id(invoice)
    if subscription_id is None:
        return None  # not a subscription invoice: nothing of ours
    now = now or utcnow()
    user_id = member_for(
        session,
        customer=object_id(invoice.get("customer")),
        metadata=(invoice.get("parent") or {}).get("subscription_details", {}).get("metadata"),
    )
    if user_id is None:
        raise UnknownOrder(f"invoice {invoice.get('id')} names no member of ours")
    lock_member(session, user_id)
    order = session.exec(select(Order).where(Order.stripe_invoice_id == invoice["id"])).first()
    if order is None:
        order = Order(user_id=user_id, kind="subscription", stripe_invoice_id=invoice["id"])
        if invoice.get("created"):
            order.created_at = timestamp(invoice["created"])  # type: ignore[assignment]
    paid = invoice.get("status") == "paid"
    plans = [plans_by_price[p] for p in invoice_price_ids(invoice) if p in plans_by_price]
    plan_code = plans[0] if plans else None
    order.product_code = (plan_code or order.product_code)[:32]
    order.stripe_subscription_id = subscription_id
    order.amount_total = invoice_amount_paid(invoice) if paid else amount(invoice.get("amount_due"))
    order.currency = str(invoice.get("currency") or catalog.currency).lower()[:3]
    order.items = invoice_items(invoice)
    order.receipt_url = invoice.get("hosted_invoice_url") or order.receipt_url
    order.stripe_charge_id = invoice_charge_id(invoice) or order.stripe_charge_id
    order.stripe_payment_intent_id = (
        invoice_payment_intent_id(invoice) or order.stripe_payment_intent_id
    )
    session.add(order)
    session.flush()
    row = session.exec(
        select(Subscription).where(Subscription.stripe_subscription_id == subscription_id)
    ).first()
    if paid:
        allowance = catalog.plans[plan_code].monthly_credits if plan_code in catalog.plans else 0
        if row is not None and row.refused_as_duplicate:
            allowance = 0  # its payment is refunded: one plan, one allowance
        period_end = invoice_period_end(invoice)
        # Only a period's own invoice grants: not a $0 invoice, a proration or a manual one,
        # nor one whose reason Stripe did not give.
        periodic = invoice.get("billing_reason") in PERIOD_REASONS
        if (
            allowance
            and periodic
            and order.amount_total > 0
            and order.credits == 0
            and (period_end is None or period_end > now)
        ):
            credits.grant_credits(
                session=session,
                user_id=user_id,
                amount=allowance,
                kind="allowance",
                idempotency_key=f"allowance:{invoice['id']}",
                reference=f"order:{order.id}",
                reason=f"{catalog.plans[plan_code].name} allowance",  # type: ignore[index]
                expires_at=period_end,
                now=now,
            )
            order.credits = allowance
        if order.status in ("pending", "failed"):
            order.status = "paid"
    elif failed and order.status == "pending":
        order.status = "failed"
    order.updated_at = order.refreshed_at = now
    session.add(order)
    session.flush()
    return order
