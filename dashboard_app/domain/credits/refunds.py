"""Taking back the credits of a refunded payment or a lost dispute."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from dashboard_app.domain.credits.expiry import expire_due
from dashboard_app.domain.credits.freezes import take_frozen
from dashboard_app.domain.credits.holds import claim_from_holds
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
    shortfall: int  # already spent: recorded on the account for admins
    from_holds: int = 0  # claimed from live holds: taken or found short when they settle

    @property
    def from_frozen(self) -> int:
        return -self.entry.frozen_change


def claw_back_credits(
    *,
    session: Session,
    user_id: int,
    amount: int,
    idempotency_key: str,
    reason: str,
    reference: str = "",
    frozen_reference: str | None = None,
    now: datetime | None = None,
) -> Clawback:
    """Take back `amount` refunded credits, once per idempotency key: first those frozen under
    `frozen_reference` (a disputed payment), then available credits, then the member's live
    holds (taken when they settle). What was already spent cannot be taken: the balance stops
    at zero and the shortfall is recorded on the entry and the account for admins."""
    check_amount(amount)
    check_key(idempotency_key)
    account = lock_account(session, user_id)
    existing = existing_entry(session, idempotency_key, user_id=user_id, kinds=("refund_clawback",))
    if existing is not None:
        claimed = amount + existing.amount + existing.frozen_change - existing.shortfall_change
        return Clawback(
            entry=existing, shortfall=existing.shortfall_change, from_holds=max(0, claimed)
        )
    now = now or utcnow()
    expire_due(session, account, now)
    from_frozen = take_frozen(session, account, frozen_reference, amount) if frozen_reference else 0
    taken = min(amount - from_frozen, account.available)
    if taken:
        draw_from_lots(session, account, taken, now)
    from_holds = claim_from_holds(session, account, amount - from_frozen - taken)
    shortfall = amount - from_frozen - taken - from_holds
    notes = [f"{from_holds} to come from held credits"] if from_holds else []
    notes += [f"{shortfall} already spent"] if shortfall else []
    entry = append_entry(
        session,
        account,
        kind="refund_clawback",
        amount=-taken,
        frozen_change=-from_frozen,
        shortfall_change=shortfall,
        key=idempotency_key,
        reference=reference,
        reason=reason + (f" ({'; '.join(notes)})" if notes else ""),
        now=now,
    )
    return Clawback(entry=entry, shortfall=shortfall, from_holds=from_holds)
