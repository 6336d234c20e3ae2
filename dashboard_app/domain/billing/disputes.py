"""Disputes: the rules that run inside the caller's transaction.

Each call brings the order to the dispute's state at Stripe (the caller fetched it), so Stripe's
events can arrive in any order: the first sight of a dispute opens it (flags the member, writes
the "dispute opened" audit entry, freezes what is left of that payment's credits); a closed
dispute is then closed once (thawing the credits, and taking them back under the key
`dispute:<dispute id>` when it was lost).
"""

from __future__ import annotations

from sqlmodel import Session

from dashboard_app.domain import credits
from dashboard_app.domain.audit import record_audit
from dashboard_app.domain.billing.charges import (
    freeze_reference,
    order_for_charge,
    refund_status,
    take_back,
)
from dashboard_app.domain.billing.stripe_objects import object_id
from dashboard_app.integrations.stripe_gateway import StripeObject
from dashboard_app.models import Order, User
from dashboard_app.models.base import utcnow

# Stripe's dispute statuses that are final; the others (needs_response, under_review and their
# `warning_` forms for inquiries) are open.
CLOSED_STATUSES = ("won", "lost", "warning_closed", "prevented")


def apply_dispute(*, session: Session, dispute: StripeObject, order: Order | None = None) -> Order:
    """Bring the disputed payment's order to `dispute`'s current state at Stripe."""
    if order is None:
        order = order_for_charge(
            session, object_id(dispute.get("charge")), object_id(dispute.get("payment_intent"))
        )
    dispute_id = str(dispute["id"])
    if order.stripe_dispute_id not in (None, dispute_id):
        return order  # a second dispute on one charge is not possible at Stripe
    user = session.get(User, order.user_id)
    assert user is not None
    status = str(dispute.get("status") or "")
    if order.stripe_dispute_id is None:
        order.stripe_dispute_id = dispute_id
        _open_dispute(session, order, user, dispute)
    if order.dispute_status in CLOSED_STATUSES:
        return order  # closed before: a final state does not change
    if status in CLOSED_STATUSES:
        _close_dispute(session, order, dispute)
    order.dispute_status = status[:32]
    order.updated_at = utcnow()
    session.add_all([order, user])
    session.flush()
    return order


def open_dispute(*, session: Session, dispute: StripeObject) -> Order:
    """Apply a dispute's first event from its own payload: the first sight of the dispute opens
    it (as `apply_dispute` would); an order that has seen the dispute already changes nothing,
    because the state the later events fetched from Stripe is newer than this payload."""
    order = order_for_charge(
        session, object_id(dispute.get("charge")), object_id(dispute.get("payment_intent"))
    )
    if order.stripe_dispute_id is not None:
        return order
    return apply_dispute(session=session, dispute=dispute, order=order)


def freeze_order_credits(session: Session, order: Order, amount: int) -> None:
    """Freeze up to `amount` of the order's credits while its dispute is open: the ledger
    freezes at most what is still available, once per dispute, and says how many."""
    if amount <= 0:
        return
    order.credits_frozen += credits.freeze_credits(
        session=session,
        user_id=order.user_id,
        amount=amount,
        reference=freeze_reference(order),
        reason=f"Frozen while the payment of order #{order.id} is disputed",
    )


def thaw_order_credits(session: Session, order: Order) -> None:
    """Give back what the order's dispute still holds frozen (won, or more frozen than a lost
    dispute took back)."""
    if order.credits_frozen > 0:
        order.credits_frozen -= credits.thaw_credits(
            session=session, reference=freeze_reference(order)
        )


def _open_dispute(session: Session, order: Order, user: User, dispute: StripeObject) -> None:
    order.status = "disputed"
    left = order.credits - order.credits_clawed_back - order.credits_frozen
    freeze_order_credits(session, order, left)
    reason = dispute.get("reason") or "no reason given"
    user.billing_flag = f"Payment of order #{order.id} disputed ({reason})"[:500]
    record_audit(
        session=session,
        action="billing.dispute_opened",
        subject_user_id=order.user_id,
        after={"order": order.id, "dispute": dispute["id"], "frozen": order.credits_frozen},
    )


def _close_dispute(session: Session, order: Order, dispute: StripeObject) -> None:
    outcome = str(dispute.get("status") or "")
    left = order.credits - order.credits_clawed_back
    if outcome == "lost":
        if left > 0:
            take_back(
                session,
                order,
                left,
                key=f"dispute:{dispute['id']}",
                reason=f"Dispute lost on order #{order.id}",
            )
        order.status = "refunded"
    else:
        order.status = "paid"
        order.status = refund_status(order)
    # A lost dispute took the frozen credits back first (take_back); what is left thaws.
    thaw_order_credits(session, order)
    record_audit(
        session=session,
        action="billing.dispute_closed",
        subject_user_id=order.user_id,
        after={"order": order.id, "dispute": dispute["id"], "outcome": outcome},
    )
