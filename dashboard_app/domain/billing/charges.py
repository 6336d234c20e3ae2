"""The order behind a payment (found by its charge or payment intent, with its member locked),
and taking an order's credits back: what refunds and disputes share."""

from __future__ import annotations

from sqlmodel import Session, select

from dashboard_app.domain import credits
from dashboard_app.domain.billing.members import UnknownOrder, lock_member
from dashboard_app.models import Order


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


def freeze_reference(order: Order) -> str:
    """The ledger's name for the credits an order's dispute froze."""
    return f"dispute:{order.stripe_dispute_id}"


def take_back(session: Session, order: Order, amount: int, *, key: str, reason: str) -> None:
    """Claw back `amount` of the order's credits, those its dispute froze first (the ledger
    stops at zero and records the shortfall), and count them on the order."""
    taken = credits.claw_back_credits(
        session=session,
        user_id=order.user_id,
        amount=amount,
        idempotency_key=key,
        reason=reason,
        reference=f"order:{order.id}",
        frozen_reference=freeze_reference(order) if order.credits_frozen else None,
    )
    order.credits_clawed_back += amount
    order.credits_frozen -= taken.from_frozen


def refund_status(order: Order) -> str:
    if order.status == "disputed":
        return "disputed"
    if order.amount_refunded <= 0:  # nothing refunded (any more: a refund failed)
        return "paid" if order.status in ("refunded", "partially_refunded") else order.status
    return "refunded" if order.amount_refunded >= order.amount_total else "partially_refunded"
