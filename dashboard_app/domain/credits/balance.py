"""Credits in and out at once: grants (bonuses, purchases, plan allowances), spending and an
admin's adjustments."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from dashboard_app.domain.credits.expiry import expire_due
from dashboard_app.domain.credits.ledger import (
    GRANT_KINDS,
    append_entry,
    check_amount,
    check_key,
    draw_from_lots,
    existing_entry,
    lock_account,
    refuse_if_short,
)
from dashboard_app.domain.credits.quick_spend import quick_spend
from dashboard_app.domain.errors import InvalidInput
from dashboard_app.models import CreditEntry, CreditLot
from dashboard_app.models.base import utcnow


def grant_credits(
    *,
    session: Session,
    user_id: int,
    amount: int,
    idempotency_key: str,
    kind: str = "grant",
    reason: str = "",
    reference: str = "",
    actor_user_id: int | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> CreditEntry:
    """Add credits (a grant, purchase or plan allowance) once per idempotency key."""
    if kind not in GRANT_KINDS:
        raise InvalidInput(f"'{kind}' is not a kind of grant", field="kind")
    check_amount(amount)
    check_key(idempotency_key)
    account = lock_account(session, user_id)
    existing = existing_entry(session, idempotency_key, user_id=user_id, kinds=(kind,))
    if existing is not None:
        return existing
    now = now or utcnow()
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("Credits cannot be granted already expired", field="expires_at")
    expire_due(session, account, now)
    account.lifetime += amount
    entry = append_entry(
        session,
        account,
        kind=kind,
        amount=amount,
        key=idempotency_key,
        reference=reference,
        reason=reason,
        actor_user_id=actor_user_id,
        expires_at=expires_at,
        now=now,
    )
    session.add(
        CreditLot(
            user_id=user_id,
            entry_id=entry.id,
            amount=amount,
            remaining=amount,
            expires_at=expires_at,
            created_at=now,
        )
    )
    session.flush()
    return entry


def spend_credits(
    *,
    session: Session,
    user_id: int,
    amount: int,
    idempotency_key: str,
    reason: str = "",
    reference: str = "",
    actor_user_id: int | None = None,
    now: datetime | None = None,
) -> CreditEntry:
    """Spend credits at once; refused, changing nothing, when fewer are available."""
    check_amount(amount)
    check_key(idempotency_key)
    now = now or utcnow()
    quick = quick_spend(
        session,
        user_id=user_id,
        amount=amount,
        key=idempotency_key,
        reference=reference,
        reason=reason,
        actor_user_id=actor_user_id,
        now=now,
    )
    if quick is not None:
        return quick
    # The careful path: a repeat, too few credits, credits due to expire, or no account yet.
    account = lock_account(session, user_id)
    existing = existing_entry(session, idempotency_key, user_id=user_id, kinds=("spend",))
    if existing is not None:
        return existing
    expire_due(session, account, now)
    refuse_if_short(account, amount, "This")
    draw_from_lots(session, account, amount, now)
    account.spent += amount
    return append_entry(
        session,
        account,
        kind="spend",
        amount=-amount,
        key=idempotency_key,
        reference=reference,
        reason=reason,
        actor_user_id=actor_user_id,
        now=now,
    )


def adjust_credits(
    *,
    session: Session,
    user_id: int,
    amount: int,
    idempotency_key: str,
    reason: str,
    actor_user_id: int | None,
    now: datetime | None = None,
) -> CreditEntry:
    """An admin's correction: positive adds credits, negative revokes available credits."""
    if not reason.strip():
        raise InvalidInput("Say why the balance is being adjusted", field="reason")
    check_amount(abs(amount) if isinstance(amount, int) else amount)
    check_key(idempotency_key)
    account = lock_account(session, user_id)
    existing = existing_entry(session, idempotency_key, user_id=user_id, kinds=("adjustment",))
    if existing is not None:
        return existing
    now = now or utcnow()
    expire_due(session, account, now)
    if amount < 0:
        refuse_if_short(account, -amount, "Revoking")
        draw_from_lots(session, account, -amount, now)
    else:
        account.lifetime += amount
    entry = append_entry(
        session,
        account,
        kind="adjustment",
        amount=amount,
        key=idempotency_key,
        reason=reason,
        actor_user_id=actor_user_id,
        now=now,
    )
    if amount > 0:
        session.add(
            CreditLot(
                user_id=user_id, entry_id=entry.id, amount=amount, remaining=amount, created_at=now
            )
        )
        session.flush()
    return entry
