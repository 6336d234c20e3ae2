"""Credits frozen while a payment is disputed: out of reach until they are thawed (the dispute
is won) or taken back (lost; see `claw_back_credits(frozen_reference=...)`).

A freeze works like a hold: it draws the credits from their lots through a `freeze` entry (the
available balance goes down, the frozen balance up by as much), and a thaw returns them to the
lots they came from through a `thaw` entry, where credits whose lot expired meanwhile expire."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from dashboard_app.domain.credits.expiry import expire_due
from dashboard_app.domain.credits.ledger import (
    IdempotencyConflict,
    append_entry,
    check_amount,
    check_key,
    draw_from_lots,
    existing_entry,
    lock_account,
    return_to_lots,
)
from dashboard_app.domain.credits.quick_freeze import quick_freeze
from dashboard_app.domain.errors import NotFound
from dashboard_app.models import CreditAccount, CreditFreeze
from dashboard_app.models.base import utcnow


def freeze_credits(
    *,
    session: Session,
    user_id: int,
    amount: int,
    reference: str,
    reason: str,
    now: datetime | None = None,
) -> int:
    """Freeze up to `amount` of the member's available credits, once per `reference` (e.g.
    `dispute:dp_123`); returns the credits frozen. A repeat returns what that reference froze
    and writes nothing, even when nothing could be frozen the first time."""
    check_amount(amount)
    check_key(reference)
    now = now or utcnow()
    quick = quick_freeze(
        session, user_id=user_id, amount=amount, reference=reference, reason=reason, now=now
    )
    if quick is not None:
        return quick
    # The careful path: a repeat, nothing available, credits due to expire, or no account yet.
    account = lock_account(session, user_id)
    existing = _find(session, reference)
    if existing is not None:
        if existing.user_id != user_id:
            raise IdempotencyConflict(f"Freeze '{reference}' belongs to another member")
        return existing.amount
    expire_due(session, account, now)
    frozen = min(amount, account.available)
    draws = draw_from_lots(session, account, frozen, now) if frozen else []
    append_entry(
        session,
        account,
        kind="freeze",
        amount=-frozen,
        frozen_change=frozen,
        key=f"freeze:{reference}",
        reference=reference,
        reason=reason or f"Frozen for {reference}",
        now=now,
    )
    session.add(
        CreditFreeze(
            user_id=user_id,
            reference=reference,
            amount=frozen,
            remaining=frozen,
            draws=draws,
            created_at=now,
            updated_at=now,
        )
    )
    session.flush()
    return frozen


def thaw_credits(
    *,
    session: Session,
    reference: str,
    amount: int | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> int:
    """Give back up to `amount` (all by default) of what `reference` still holds frozen;
    returns the credits thawed. Thawing everything is safe to retry (a repeat finds nothing
    left and writes nothing); a partial thaw that may be retried passes an `idempotency_key`,
    and a repeat returns what that key thawed."""
    if amount is not None:
        check_amount(amount)
    if idempotency_key is not None:
        check_key(idempotency_key)
    found = session.exec(select(CreditFreeze.user_id).where(CreditFreeze.reference == reference))
    user_id = found.first()
    if user_id is None:
        raise NotFound(f"No credits are frozen for '{reference}'")
    account = lock_account(session, user_id)
    freeze = _find(session, reference, lock=True)
    assert freeze is not None
    if idempotency_key is not None:
        done = existing_entry(session, idempotency_key, user_id=user_id, kinds=("thaw",))
        if done is not None:
            return -done.frozen_change
    now = now or utcnow()
    expire_due(session, account, now)
    thawed = freeze.remaining if amount is None else min(amount, freeze.remaining)
    if thawed == 0:
        return 0
    gone = freeze.amount - freeze.remaining
    return_to_lots(session, freeze.draws, thawed, gone=gone)
    freeze.remaining -= thawed
    freeze.updated_at = now
    session.add(freeze)
    append_entry(
        session,
        account,
        kind="thaw",
        amount=thawed,
        frozen_change=-thawed,
        key=idempotency_key or f"thaw:{reference}:{gone + thawed}",
        reference=reference,
        reason=f"{thawed} frozen credits returned",
        now=now,
    )
    # Thawed credits whose lot expired while they were frozen leave through an expiry entry.
    expire_due(session, account, now)
    return thawed


def take_frozen(session: Session, account: CreditAccount, reference: str, amount: int) -> int:
    """Take up to `amount` of what `reference` holds frozen for the (locked) member, for a
    clawback entry to record; returns how many were taken. They left the lots when frozen."""
    freeze = _find(session, reference, lock=True)
    if freeze is None or freeze.user_id != account.user_id:
        raise NotFound(f"No credits of this member are frozen for '{reference}'")
    taken = min(amount, freeze.remaining)
    freeze.remaining -= taken
    session.add(freeze)
    return taken


def _find(session: Session, reference: str, *, lock: bool = False) -> CreditFreeze | None:
    query = select(CreditFreeze).where(CreditFreeze.reference == reference)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.exec(query).first()
