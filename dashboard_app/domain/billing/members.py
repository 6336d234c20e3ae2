"""Which member a Stripe object belongs to, and the per-member lock every billing change takes."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from dashboard_app.domain.billing.stripe_objects import int_or_none
from dashboard_app.domain.errors import DomainError, NotFound
from dashboard_app.models import User


class UnknownOrder(DomainError):
    """An event about a payment whose order is not known yet (it may still be on its way):
    the event is retried later rather than dropped."""


def lock_member(session: Session, user_id: int) -> User:
    """The member's row, locked: all billing changes for one member happen one at a time.
    FOR NO KEY UPDATE: rows that refer to the member (ledger entries, orders) are not held up by
    it, or an insert holding the credit account would wait here while the holder of this lock
    waits for the account (a deadlock)."""
    user = session.exec(
        select(User)
        .where(User.id == user_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).first()
    if user is None:
        raise NotFound("No such member")
    return user


def member_for(
    session: Session, *, customer: str | None, metadata: dict[str, Any] | None
) -> int | None:
    if customer:
        user_id = session.exec(select(User.id).where(User.stripe_customer_id == customer)).first()
        if user_id is not None:
            return user_id
    # The metadata we set names the member; trusted only for a member not yet linked to
    # another customer (a customer created just before its id could be stored).
    named = int_or_none((metadata or {}).get("user_id"))
    user = session.get(User, named) if named is not None else None
    if user is not None and user.stripe_customer_id in (None, customer):
        return named
    return None
