"""Refunds: the rules that run inside the caller's transaction. A refunded payment's credits are
clawed back in proportion to the money refunded so far."""

from __future__ import annotations

from sqlmodel import Session

from dashboard_app.domain.billing.charges import order_for_charge, refund_status, take_back
from dashboard_app.domain.billing.disputes import thaw_order_credits
from dashboard_app.domain.billing.stripe_objects import object_id
from dashboard_app.integrations.stripe_gateway import StripeObject
from dashboard_app.models import Order
from dashboard_app.models.base import utcnow


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
        thaw_order_credits(session, order, min(order.credits_frozen, owed))
    order.amount_refunded = refunded
    order.status = refund_status(order)
    order.stripe_charge_id = order.stripe_charge_id or charge.get("id")
    order.updated_at = utcnow()
    session.add(order)
    session.flush()
    return order
