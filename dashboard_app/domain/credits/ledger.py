"""The ledger's building blocks: locking a member's account, appending entries, drawing credits
from lots and giving them back. Only the modules of this package call them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from dashboard_app.domain.errors import DomainError, InsufficientCredits, InvalidInput, NotFound
from dashboard_app.models import CreditAccount, CreditEntry, CreditLot, User

GRANT_KINDS = ("grant", "purchase", "allowance")
MAX_CREDITS_PER_OPERATION = 10_000_000
MAX_TEXT = 500


class IdempotencyConflict(DomainError):
    """An idempotency key reused for a different member or operation: a bug in the caller."""


class ReservationSettled(DomainError):
    """A hold that was already captured or released cannot change again."""


class LedgerCorrupt(RuntimeError):
    """The balances and the lots disagree; `ledger check` reports where."""


@dataclass(frozen=True)
class Balances:
    available: int
    reserved: int
    lifetime: int
    spent: int
    frozen: int = 0


def open_account(*, session: Session, user_id: int) -> CreditAccount:
    account = session.get(CreditAccount, user_id)
    if account is None:
        account = CreditAccount(user_id=user_id)
        session.add(account)
        session.flush()
    return account


def check_amount(amount: int) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise InvalidInput("Credits must be a whole number", field="amount")
    if amount <= 0:
        raise InvalidInput("Credits must be a positive whole number", field="amount")
    if amount > MAX_CREDITS_PER_OPERATION:
        raise InvalidInput(
            f"At most {MAX_CREDITS_PER_OPERATION:,} credits can move at once", field="amount"
        )


def check_key(key: str) -> None:
    if not key or len(key) > 255:
        raise InvalidInput("An idempotency key of 1 to 255 characters is required", field="key")


def lock_account(session: Session, user_id: int) -> CreditAccount:
    """The member's account row, locked until the transaction ends."""
    account = session.exec(
        select(CreditAccount)
        .where(CreditAccount.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if account is not None:
        return account
    if session.get(User, user_id) is None:
        raise NotFound("No such member")
    open_account(session=session, user_id=user_id)
    return lock_account(session, user_id)


def existing_entry(
    session: Session, key: str, *, user_id: int, kinds: tuple[str, ...]
) -> CreditEntry | None:
    entry = session.exec(select(CreditEntry).where(CreditEntry.idempotency_key == key)).first()
    if entry is not None and (entry.user_id != user_id or entry.kind not in kinds):
        raise IdempotencyConflict(f"Idempotency key '{key}' was used for another operation")
    return entry


def append_entry(
    session: Session,
    account: CreditAccount,
    *,
    kind: str,
    amount: int,
    key: str,
    now: datetime,
    held_change: int = 0,
    frozen_change: int = 0,
    shortfall_change: int = 0,
    reference: str = "",
    reason: str = "",
    actor_user_id: int | None = None,
    expires_at: datetime | None = None,
) -> CreditEntry:
    """Write one entry and apply each of its changes to the account's balances."""
    account.available += amount
    account.reserved += held_change
    account.frozen += frozen_change
    account.clawback_shortfall += shortfall_change
    account.updated_at = now
    if min(account.available, account.reserved, account.frozen, account.clawback_shortfall) < 0:
        raise LedgerCorrupt(f"balances of member {account.user_id} would go below zero")
    entry = CreditEntry(
        user_id=account.user_id,
        amount=amount,
        held_change=held_change,
        frozen_change=frozen_change,
        shortfall_change=shortfall_change,
        balance_after=account.available,
        kind=kind,
        idempotency_key=key,
        reference=(reference or key)[:255],
        actor_user_id=actor_user_id,
        reason=reason[:MAX_TEXT],
        expires_at=expires_at,
        created_at=now,
    )
    session.add(account)
    session.add(entry)
    session.flush()
    return entry


def _live_lots(session: Session, user_id: int, now: datetime) -> list[CreditLot]:
    """Lots with credits left, soonest expiry first (never-expiring last), locked."""
    return list(
        session.exec(
            select(CreditLot)
            .where(CreditLot.user_id == user_id, CreditLot.remaining > 0)
            .where(col(CreditLot.expires_at).is_(None) | (col(CreditLot.expires_at) > now))
            .order_by(
                col(CreditLot.expires_at).is_(None), col(CreditLot.expires_at), col(CreditLot.id)
            )
            .with_for_update()
        )
    )


def draw_from_lots(
    session: Session, account: CreditAccount, amount: int, now: datetime
) -> list[list[int]]:
    """Take `amount` credits from the lots, soonest expiry first; returns [[lot_id, n], ...]."""
    draws, needed = [], amount
    for lot in _live_lots(session, account.user_id, now):
        take = min(lot.remaining, needed)
        lot.remaining -= take
        session.add(lot)
        draws.append([lot.id, take])
        needed -= take
        if needed == 0:
            return draws
    raise LedgerCorrupt(f"lots of member {account.user_id} hold less than the available balance")


def return_to_lots(session: Session, draws: list[list[int]], amount: int, *, gone: int = 0) -> None:
    """Give `amount` credits back to the lots they were drawn from, latest expiry first, past
    the `gone` credits of those draws that earlier went back or were taken."""
    if amount == 0:
        return
    lots = {
        lot.id: lot
        for lot in session.exec(
            select(CreditLot).where(col(CreditLot.id).in_([d[0] for d in draws])).with_for_update()
        )
    }
    for lot_id, taken in reversed(draws):
        if amount == 0:
            break
        skipped = min(taken, gone)
        gone -= skipped
        give = min(taken - skipped, amount)
        if give:
            lots[lot_id].remaining += give
            session.add(lots[lot_id])
            amount -= give
    if amount:
        raise LedgerCorrupt(f"credits to return exceed what was drawn from lots {draws}")


def refuse_if_short(account: CreditAccount, amount: int, what: str) -> None:
    """Frozen and held credits are outside `available`: only available credits can be used."""
    if amount > account.available:
        frozen = (
            f" ({account.frozen} more are frozen while a payment dispute is open)"
            if account.frozen
            else ""
        )
        raise InsufficientCredits(
            f"{what} needs {amount} credits but only {account.available} are available{frozen}",
            field="amount",
        )
