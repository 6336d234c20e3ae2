"""Refunds: the rules that run inside the caller's transaction.

A payment's credits are clawed back in proportion to the money its refunds give back, counting
only refunds that did not fail or get canceled. When that amount goes down (a refund failed or
was canceled after it was applied), the credits that were taken for it come back. Each change
is keyed by the set of refunds it counts, so a new refund after a failed one is applied again.
"""

from __future__ import annotations

import hashlib

from sqlmodel import Session, col, func, select

from dashboard_app.domain import credits
from dashboard_app.domain.billing.charges import order_for_charge, refund_status, take_back
from dashboard_app.domain.billing.stripe_objects import amount, object_id
from dashboard_app.integrations.stripe_gateway import StripeObject
from dashboard_app.models import CreditEntry, Order
from dashboard_app.models.base import utcnow

# A refund in these states gave (or will give) the money back.
COUNTED_REFUND_STATUSES = ("succeeded", "pending", "requires_action")


def refunded_amount(charge: StripeObject, refunds: list[StripeObject] | None) -> tuple[int, str]:
    """(money given back, a name for which refunds count) from the charge's refunds; from the
    charge's own `amount_refunded` when its refunds are not at hand."""
    if refunds is None:
        total = amount(charge.get("amount_refunded"))
        return total, str(total)
    counted = [r for r in refunds if r.get("status") in COUNTED_REFUND_STATUSES]
    ids = ",".join(sorted(str(r.get("id")) for r in counted))
    return sum(amount(r.get("amount")) for r in counted), hashlib.sha256(ids.encode()).hexdigest()[
        :16
    ]


def apply_refund(
    *, session: Session, charge: StripeObject, refunds: list[StripeObject] | None = None
) -> Order:
    """Bring the payment's order to the money its refunds give back now. What was already spent
    cannot be taken back (the ledger records the shortfall); a failed refund returns only what
    was taken for it."""
    order = order_for_charge(session, charge.get("id"), object_id(charge.get("payment_intent")))
    refunded, counted = refunded_amount(charge, refunds)
    if refunded == order.amount_refunded:
        return order  # already applied
    total = order.amount_total or amount(charge.get("amount"))
    if total > 0:
        target = order.credits * min(refunded, total) // total
    else:
        target = order.credits if refunded else 0
    lost_dispute = order.dispute_status == "lost"  # the dispute took everything already
    owed = target - order.credits_clawed_back
    if owed > 0:
        take_back(
            session,
            order,
            owed,
            key=f"refund:{charge['id']}:{refunded}:{counted}",
            reason=f"Refund of order #{order.id}",
        )  # credits frozen by a dispute on this payment are taken first
    elif owed < 0 and not lost_dispute:
        _give_back(session, order, -owed, key=f"refund-returned:{charge['id']}:{counted}")
    order.amount_refunded = refunded
    order.status = refund_status(order)
    order.stripe_charge_id = order.stripe_charge_id or charge.get("id")
    order.updated_at = utcnow()
    session.add(order)
    session.flush()
    return order


def _give_back(session: Session, order: Order, credits_owed: int, *, key: str) -> None:
    """A refund failed or was canceled: return its credits, but never more than the refunds of
    this order actually took (what was already spent was never taken)."""
    reference = f"order:{order.id}"
    taken = -session.exec(
        select(func.coalesce(func.sum(CreditEntry.amount), 0)).where(
            CreditEntry.user_id == order.user_id,
            CreditEntry.kind == "refund_clawback",
            CreditEntry.reference == reference,
            col(CreditEntry.idempotency_key).startswith("refund:"),
        )
    ).one()
    returned = session.exec(
        select(func.coalesce(func.sum(CreditEntry.amount), 0)).where(
            CreditEntry.user_id == order.user_id,
            CreditEntry.reference == reference,
            col(CreditEntry.idempotency_key).startswith("refund-returned:"),
        )
    ).one()
    back = min(credits_owed, int(taken) - int(returned))  # SUM is a Decimal on PostgreSQL
    if back > 0:
        credits.grant_credits(
            session=session,
            user_id=order.user_id,
            amount=back,
            kind="purchase",
            idempotency_key=key,
            reference=reference,
            reason=f"Refund of order #{order.id} did not go through: credits returned",
        )
    order.credits_clawed_back -= credits_owed
