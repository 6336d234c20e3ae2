"""Refunds: the rules that run inside the caller's transaction. A refunded payment's credits are
clawed back in proportion to the money refunded so far."""

from __future__ import annotations

from sqlmodel import Session, select

from dashboard_app.domain import credits
from dashboard_app.domain.billing.members import UnknownOrder, lock_member
from dashboard_app.domain.billing.stripe_objects import object_id
from dashboard_app.integrations.stripe_gateway import StripeObject
from dashboard_app.models import Order
from dashboard_app.models.base import utcnow


def order_for_charge(session: Session, charge_id: str | None, payment_intent: str | None) -> Order:
    order = None
    if charge_id:
        order = session.exec(select(Order).where(Order.stripe_charge_id == charge_id)).first()
    if order is None and payment_intent:
        order = session.exec(
            select(Order).where(Order.stripe_payment_intent_id == payment_intent)
        ).first()
    if order is None:
        raise UnknownOrder(f"no order is known yet for charge {charge_id}")
    lock_member(session, order.user_id)
    session.refresh(order)
    return order


def take_back(session: Session, order: Order, amount: int, *, key: str, reason: str) -> None:
    """Claw back `amount` of the order's credits (the ledger stops at zero and records the
    shortfall) and count them on the order."""
    credits.claw_back_credits(
        session=session,
        user_id=order.user_id,
        amount=amount,
        idempotency_key=key,
        reason=reason,
        reference=f"order:{order.id}",
    )
    order.credits_clawed_back += amount


def refund_status(order: Order) -> str:
    if order.status == "disputed":
        return "disputed"
    if order.amount_refunded <= 0:
        return order.status
    return "refunded" if order.amount_refunded >= order.amount_total else "partially_refunded"


def apply_refund(*, session: Session, charge: StripeObject) -> Order:
    """Claw back the credits of a refunded payment in proportion to the amount refunded so far.
    What was already spent cannot be taken back: the shortfall is recorded for admins."""
    order = order_for_charge(session, charge.get("id"), object_id(charge.get("payment_intent")))
    refunded = int(charge.get("amount_refunded") or 0)
    if refunded <= order.amount_refunded:
        return order  # already applied (or an older view of the charge)
    total = order.amount_total or int(charge.get("amount") or 0)
    target = order.credits if total <= 0 else order.credits * min(refunded, total) // total
    owed = target - order.credits_clawed_back
    if owed > 0:
        take_back(
            session,
            order,
            owed,
            key=f"refund:{charge['id']}:{refunded}",
            reason=f"Refund of order #{order.id}",
        )
        if order.credits_frozen:
            thawed = min(order.credits_frozen, owed)
            credits.unfreeze_credits(session=session, user_id=order.user_id, amount=thawed)
            order.credits_frozen -= thawed
    order.amount_refunded = refunded
    order.status = refund_status(order)
    order.stripe_charge_id = order.stripe_charge_id or charge.get("id")
    order.updated_at = utcnow()
    session.add(order)
    session.flush()
    return order
