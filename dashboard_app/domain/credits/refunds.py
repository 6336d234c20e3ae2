"""Taking back the credits of a refunded payment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from dashboard_app.domain.credits.expiry import expire_due
from dashboard_app.domain.credits.ledger import (
    append_entry,
    check_amount,
    check_key,
    draw_from_lots,
    existing_entry,
    lock_account,
)
from dashboard_app.models import CreditEntry
from dashboard_app.models.base import utcnow


@dataclass(frozen=True)
class Clawback:
    entry: CreditEntry
    shortfall: int


def claw_back_credits(
    *,
    session: Session,
    user_id: int,
    amount: int,
    idempotency_key: str,
    reason: str,
    reference: str = "",
    now: datetime | None = None,
) -> Clawback:
    """Take back refunded credits. What was already spent cannot be taken: the balance stops at
    zero and the shortfall is recorded on the account for admins."""
    check_amount(amount)
    check_key(idempotency_key)
    account = lock_account(session, user_id)
    existing = existing_entry(session, idempotency_key, user_id=user_id, kinds=("refund_clawback",))
    if existing is not None:
        return Clawback(entry=existing, shortfall=amount + existing.amount)
    now = now or utcnow()
    expire_due(session, account, now)
    taken = min(amount, account.available)
    if taken:
        draw_from_lots(session, account, taken, now)
    shortfall = amount - taken
    account.clawback_shortfall += shortfall
    entry = append_entry(
        session,
        account,
        kind="refund_clawback",
        amount=-taken,
        key=idempotency_key,
        reference=reference,
        reason=reason + (f" ({shortfall} already spent)" if shortfall else ""),
        now=now,
    )
    return Clawback(entry=entry, shortfall=shortfall)
