"""Disputes: the rules that run inside the caller's transaction. A dispute flags the member and
freezes what is left of that payment's credits; a lost dispute takes them back under the key
`dispute:<dispute id>`, a won one thaws them."""

from __future__ import annotations

from sqlmodel import Session

from dashboard_app.domain import credits
from dashboard_app.domain.audit import record_audit
from dashboard_app.domain.billing.refunds import order_for_charge, refund_status, take_back
from dashboard_app.domain.billing.stripe_objects import object_id
from dashboard_app.integrations.stripe_gateway import StripeObject
from dashboard_app.models import Order, User
from dashboard_app.models.base import utcnow


def apply_dispute(*, session: Session, dispute: StripeObject, closed: bool = False) -> Order:
    """A dispute flags the member and freezes what is left of that payment's credits; a lost
    dispute takes them back, a won one thaws them."""
    order = order_for_charge(
        session, object_id(dispute.get("charge")), object_id(dispute.get("payment_intent"))
    )
    dispute_id = str(dispute["id"])
    if order.stripe_dispute_id not in (None, dispute_id):
        return order  # a second dispute on one charge is not possible at Stripe
    user = session.get(User, order.user_id)
    assert user is not None
    opened_now = order.stripe_dispute_id is None
    order.stripe_dispute_id = dispute_id
    if not closed:
        if opened_now:
            _open_dispute(session, order, user, dispute)
    elif opened_now or order.status == "disputed":  # not closed before (either order)
        _close_dispute(session, order, dispute)
    order.updated_at = utcnow()
    session.add_all([order, user])
    session.flush()
    return order


def _open_dispute(session: Session, order: Order, user: User, dispute: StripeObject) -> None:
    order.status = "disputed"
    left = order.credits - order.credits_clawed_back
    if left > 0:
        credits.freeze_credits(session=session, user_id=order.user_id, amount=left)
        order.credits_frozen = left
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
    if order.credits_frozen:
        credits.unfreeze_credits(
            session=session, user_id=order.user_id, amount=order.credits_frozen
        )
        order.credits_frozen = 0
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
    record_audit(
        session=session,
        action="billing.dispute_closed",
        subject_user_id=order.user_id,
        after={"order": order.id, "dispute": dispute["id"], "outcome": outcome},
    )
