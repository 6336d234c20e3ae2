"""The credit ledger service: the only code that writes credit tables.

Every operation locks the member's account row, checks its idempotency key under that lock,
then writes the ledger entry and the new balances together. The caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from dashboard_app.domain.errors import InvalidInput
from dashboard_app.models import CreditAccount, CreditEntry, CreditLot
from dashboard_app.models.base import utcnow

GRANT_KINDS = ("grant", "purchase", "allowance", "adjustment")


@dataclass(frozen=True)
class Balances:
    available: int
    reserved: int
    lifetime: int
    spent: int


def open_account(*, session: Session, user_id: int) -> CreditAccount:
    account = session.get(CreditAccount, user_id)
    if account is None:
        account = CreditAccount(user_id=user_id)
        session.add(account)
        session.flush()
    return account


def get_balances(*, session: Session, user_id: int) -> Balances:
    account = session.get(CreditAccount, user_id)
    if account is None:
        return Balances(available=0, reserved=0, lifetime=0, spent=0)
    return Balances(
        available=account.available,
        reserved=account.reserved,
        lifetime=account.lifetime,
        spent=account.spent,
    )


def _lock_account(session: Session, user_id: int) -> CreditAccount:
    """The member's account row, locked until the transaction ends (SQLite locks the database)."""
    account = session.exec(
        select(CreditAccount).where(CreditAccount.user_id == user_id).with_for_update()
    ).first()
    if account is None:
        account = open_account(session=session, user_id=user_id)
    session.refresh(account)
    return account


def _existing_entry(session: Session, idempotency_key: str) -> CreditEntry | None:
    return session.exec(
        select(CreditEntry).where(CreditEntry.idempotency_key == idempotency_key)
    ).first()


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
) -> CreditEntry:
    """Add credits once per idempotency key; a repeat returns the first entry unchanged."""
    if kind not in GRANT_KINDS:
        raise InvalidInput(f"'{kind}' is not a kind of grant", field="kind")
    if amount <= 0:
        raise InvalidInput("A grant must be a positive number of credits", field="amount")
    if not idempotency_key:
        raise InvalidInput("A grant needs an idempotency key", field="idempotency_key")
    account = _lock_account(session, user_id)
    existing = _existing_entry(session, idempotency_key)
    if existing is not None:
        return existing
    now = utcnow()
    account.available += amount
    account.lifetime += amount
    account.updated_at = now
    entry = CreditEntry(
        user_id=user_id,
        amount=amount,
        balance_after=account.available,
        kind=kind,
        idempotency_key=idempotency_key,
        reference=reference or idempotency_key,
        actor_user_id=actor_user_id,
        reason=reason,
        expires_at=expires_at,
        created_at=now,
    )
    session.add(account)
    session.add(entry)
    session.flush()
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
