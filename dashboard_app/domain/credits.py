"""The credit ledger service: the only code that writes credit tables.

Every operation locks the member's account row (SELECT ... FOR UPDATE on PostgreSQL; SQLite's
BEGIN IMMEDIATE serialises writers), checks its idempotency key under that lock, expires any
credits that are due, then writes its ledger entries and the new balances together. The caller
owns the transaction: nothing here commits.

Credits arrive in lots (one per grant) that may expire; spending and holds draw from the lots
that expire first. Each entry records its change to the available balance (`amount`) and to the
reserved balance (`held_change`), so both balances are provable from the entries alone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from dashboard_app.domain.errors import DomainError, InsufficientCredits, InvalidInput, NotFound
from dashboard_app.models import CreditAccount, CreditEntry, CreditLot, CreditReservation, User
from dashboard_app.models.base import utcnow
from dashboard_app.models.credits import ENTRY_KINDS

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


@dataclass(frozen=True)
class Clawback:
    entry: CreditEntry
    shortfall: int


# --- Reading ----------------------------------------------------------------------------------


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
        frozen=account.frozen,
    )


def account_version(*, session: Session, user_id: int) -> datetime | None:
    """Changes whenever the member's balances change: cheap to poll for live updates."""
    return session.exec(
        select(CreditAccount.updated_at).where(CreditAccount.user_id == user_id)
    ).first()


@dataclass(frozen=True)
class HistoryPage:
    entries: list[CreditEntry]
    next_cursor: int | None


def history(
    *,
    session: Session,
    user_id: int,
    kind: str | None = None,
    before_id: int | None = None,
    after_id: int | None = None,
    limit: int = 25,
) -> HistoryPage:
    """The member's ledger, newest first. The cursor is an entry id, so entries that arrive
    while the member pages through never shift or repeat what the next page shows;
    `after_id` fetches only what arrived after the newest entry already shown."""
    if kind is not None and kind not in ENTRY_KINDS:
        raise InvalidInput(f"Unknown kind of entry '{kind}'", field="kind")
    limit = max(1, min(limit, 100))
    query = select(CreditEntry).where(CreditEntry.user_id == user_id)
    if kind is not None:
        query = query.where(CreditEntry.kind == kind)
    if before_id is not None:
        query = query.where(col(CreditEntry.id) < before_id)
    if after_id is not None:
        query = query.where(col(CreditEntry.id) > after_id)
    rows = list(session.exec(query.order_by(col(CreditEntry.id).desc()).limit(limit + 1)))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return HistoryPage(entries=rows[:limit], next_cursor=next_cursor)


def spent_per_day(
    *, session: Session, user_id: int, days: int = 30, now: datetime | None = None
) -> list[tuple[date, int]]:
    """Credits spent (directly or by captured holds) on each of the last `days` UTC days."""
    now = now or utcnow()
    first_day = (now - timedelta(days=days - 1)).date()
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=now.tzinfo)
    rows = session.exec(
        select(
            CreditEntry.created_at, CreditEntry.kind, CreditEntry.amount, CreditEntry.held_change
        )
        .where(CreditEntry.user_id == user_id)
        .where(col(CreditEntry.kind).in_(("spend", "capture")))
        .where(CreditEntry.created_at >= since)
    )
    totals: dict[date, int] = defaultdict(int)
    for created_at, kind, amount, held_change in rows:
        totals[created_at.date()] += -amount if kind == "spend" else -held_change
    return [
        (first_day + timedelta(days=i), totals[first_day + timedelta(days=i)]) for i in range(days)
    ]


def next_expiry(
    *, session: Session, user_id: int, now: datetime | None = None
) -> tuple[datetime, int] | None:
    """When the soonest-expiring credits expire, and how many."""
    now = now or utcnow()
    lot = session.exec(
        select(CreditLot)
        .where(CreditLot.user_id == user_id, CreditLot.remaining > 0)
        .where(col(CreditLot.expires_at).is_not(None), col(CreditLot.expires_at) > now)
        .order_by(col(CreditLot.expires_at))
    ).first()
    if lot is None or lot.expires_at is None:
        return None
    same_day = session.exec(
        select(func.coalesce(func.sum(CreditLot.remaining), 0)).where(
            CreditLot.user_id == user_id, CreditLot.expires_at == lot.expires_at
        )
    ).one()
    return lot.expires_at, int(same_day)


# --- Writing: the building blocks --------------------------------------------------------------


def _check_amount(amount: int) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise InvalidInput("Credits must be a whole number", field="amount")
    if amount <= 0:
        raise InvalidInput("Credits must be a positive whole number", field="amount")
    if amount > MAX_CREDITS_PER_OPERATION:
        raise InvalidInput(
            f"At most {MAX_CREDITS_PER_OPERATION:,} credits can move at once", field="amount"
        )


def _check_key(key: str) -> None:
    if not key or len(key) > 255:
        raise InvalidInput("An idempotency key of 1 to 255 characters is required", field="key")


def _lock_account(session: Session, user_id: int) -> CreditAccount:
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
    return _lock_account(session, user_id)


def _existing_entry(
    session: Session, key: str, *, user_id: int, kinds: tuple[str, ...]
) -> CreditEntry | None:
    entry = session.exec(select(CreditEntry).where(CreditEntry.idempotency_key == key)).first()
    if entry is not None and (entry.user_id != user_id or entry.kind not in kinds):
        raise IdempotencyConflict(f"Idempotency key '{key}' was used for another operation")
    return entry


def _append(
    session: Session,
    account: CreditAccount,
    *,
    kind: str,
    amount: int,
    key: str,
    now: datetime,
    held_change: int = 0,
    reference: str = "",
    reason: str = "",
    actor_user_id: int | None = None,
    expires_at: datetime | None = None,
) -> CreditEntry:
    account.available += amount
    account.reserved += held_change
    account.updated_at = now
    if account.available < 0 or account.reserved < 0:
        raise LedgerCorrupt(f"balances of member {account.user_id} would go below zero")
    entry = CreditEntry(
        user_id=account.user_id,
        amount=amount,
        held_change=held_change,
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


def _draw(session: Session, account: CreditAccount, amount: int, now: datetime) -> list[list[int]]:
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


def _return_to_lots(session: Session, draws: list[list[int]], amount: int) -> None:
    """Give `amount` credits back to the lots they were drawn from, latest expiry first."""
    lots = {
        lot.id: lot
        for lot in session.exec(
            select(CreditLot).where(col(CreditLot.id).in_([d[0] for d in draws])).with_for_update()
        )
    }
    for lot_id, taken in reversed(draws):
        if amount == 0:
            break
        give = min(taken, amount)
        lots[lot_id].remaining += give
        session.add(lots[lot_id])
        amount -= give


def _expire_due(session: Session, account: CreditAccount, now: datetime) -> list[CreditEntry]:
    """Credits past their expiry leave the balance through `expiry` entries, one per lot."""
    due = session.exec(
        select(CreditLot)
        .where(CreditLot.user_id == account.user_id, CreditLot.remaining > 0)
        .where(col(CreditLot.expires_at).is_not(None), col(CreditLot.expires_at) <= now)
        .order_by(col(CreditLot.id))
        .with_for_update()
    ).all()
    entries = []
    for lot in due:
        # A lot can expire more than once when held credits return to it after its expiry.
        earlier = session.exec(
            select(func.count())
            .select_from(CreditEntry)
            .where(CreditEntry.kind == "expiry", CreditEntry.reference == f"lot:{lot.id}")
        ).one()
        amount = lot.remaining
        lot.remaining = 0
        session.add(lot)
        entries.append(
            _append(
                session,
                account,
                kind="expiry",
                amount=-amount,
                key=f"expiry:lot:{lot.id}:{earlier + 1}",
                reference=f"lot:{lot.id}",
                reason=f"{amount} credits expired",
                now=now,
            )
        )
    return entries


def _prepare(
    session: Session, user_id: int, now: datetime | None
) -> tuple[CreditAccount, datetime]:
    now = now or utcnow()
    account = _lock_account(session, user_id)
    _expire_due(session, account, now)
    return account, now


# --- Writing: the operations --------------------------------------------------------------------


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
    _check_amount(amount)
    _check_key(idempotency_key)
    account = _lock_account(session, user_id)
    existing = _existing_entry(session, idempotency_key, user_id=user_id, kinds=(kind,))
    if existing is not None:
        return existing
    now = now or utcnow()
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("Credits cannot be granted already expired", field="expires_at")
    _expire_due(session, account, now)
    account.lifetime += amount
    entry = _append(
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


def _refuse_if_short(account: CreditAccount, amount: int, what: str) -> None:
    usable = max(0, account.available - account.frozen)
    if amount > usable:
        frozen = (
            f" ({account.frozen} are frozen while a payment dispute is open)"
            if account.frozen
            else ""
        )
        raise InsufficientCredits(
            f"{what} needs {amount} credits but only {usable} are available{frozen}",
            field="amount",
        )


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
    _check_amount(amount)
    _check_key(idempotency_key)
    account = _lock_account(session, user_id)
    existing = _existing_entry(session, idempotency_key, user_id=user_id, kinds=("spend",))
    if existing is not None:
        return existing
    now = now or utcnow()
    _expire_due(session, account, now)
    _refuse_if_short(account, amount, "This")
    _draw(session, account, amount, now)
    account.spent += amount
    return _append(
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
    _check_amount(abs(amount) if isinstance(amount, int) else amount)
    _check_key(idempotency_key)
    account = _lock_account(session, user_id)
    existing = _existing_entry(session, idempotency_key, user_id=user_id, kinds=("adjustment",))
    if existing is not None:
        return existing
    now = now or utcnow()
    _expire_due(session, account, now)
    if amount < 0:
        _refuse_if_short(account, -amount, "Revoking")
        _draw(session, account, -amount, now)
    else:
        account.lifetime += amount
    entry = _append(
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


def reserve_credits(
    *,
    session: Session,
    user_id: int,
    amount: int,
    reference: str,
    reason: str = "",
    now: datetime | None = None,
) -> CreditReservation:
    """Hold credits for work in flight (a job id as `reference`); once per reference."""
    _check_amount(amount)
    _check_key(reference)
    account = _lock_account(session, user_id)
    existing = session.exec(
        select(CreditReservation).where(CreditReservation.reference == reference)
    ).first()
    if existing is not None:
        if existing.user_id != user_id:
            raise IdempotencyConflict(f"Reservation '{reference}' belongs to another member")
        return existing
    now = now or utcnow()
    _expire_due(session, account, now)
    _refuse_if_short(account, amount, "This job")
    draws = _draw(session, account, amount, now)
    _append(
        session,
        account,
        kind="reserve",
        amount=-amount,
        held_change=amount,
        key=f"reserve:{reference}",
        reference=reference,
        reason=reason or f"Held for {reference}",
        now=now,
    )
    reservation = CreditReservation(
        user_id=user_id, reference=reference, amount=amount, draws=draws, created_at=now
    )
    session.add(reservation)
    session.flush()
    return reservation


def _locked_reservation(
    session: Session, reference: str, now: datetime | None
) -> tuple[CreditReservation, CreditAccount, datetime]:
    found = session.exec(
        select(CreditReservation.user_id).where(CreditReservation.reference == reference)
    ).first()
    if found is None:
        raise NotFound(f"No credits are held for '{reference}'")
    account, now = _prepare(session, found, now)
    reservation = session.exec(
        select(CreditReservation)
        .where(CreditReservation.reference == reference)
        .execution_options(populate_existing=True)
    ).one()
    return reservation, account, now


def _give_back(
    session: Session,
    account: CreditAccount,
    reservation: CreditReservation,
    amount: int,
    now: datetime,
) -> None:
    """Return `amount` held credits to the lots they came from, through a `release` entry."""
    _return_to_lots(session, reservation.draws, amount)
    _append(
        session,
        account,
        kind="release",
        amount=amount,
        held_change=-amount,
        key=f"release:{reservation.reference}",
        reference=reservation.reference,
        reason=f"{amount} held credits returned",
        now=now,
    )


def _settle(
    session: Session,
    account: CreditAccount,
    reservation: CreditReservation,
    status: str,
    now: datetime,
) -> CreditReservation:
    reservation.status = status
    reservation.settled_at = now
    session.add(reservation)
    session.flush()
    # Returned credits whose lot expired while they were held leave through an expiry entry.
    _expire_due(session, account, now)
    return reservation


def capture_reservation(
    *,
    session: Session,
    reference: str,
    amount: int | None = None,
    now: datetime | None = None,
) -> CreditReservation:
    """Turn held credits into spent ones (all, or `amount` of them with the rest released)."""
    reservation, account, now = _locked_reservation(session, reference, now)
    if reservation.status == "captured":
        return reservation
    if reservation.status == "released":
        raise ReservationSettled(f"The credits held for '{reference}' were already released")
    captured = reservation.amount if amount is None else amount
    if captured != reservation.amount:
        _check_amount(captured)
        if captured > reservation.amount:
            raise InvalidInput(
                f"Only {reservation.amount} credits are held for '{reference}'", field="amount"
            )
    account.spent += captured
    _append(
        session,
        account,
        kind="capture",
        amount=0,
        held_change=-captured,
        key=f"capture:{reference}",
        reference=reference,
        reason=f"{captured} held credits spent",
        now=now,
    )
    rest = reservation.amount - captured
    if rest:
        _give_back(session, account, reservation, rest, now)
    reservation.captured = captured
    return _settle(session, account, reservation, "captured", now)


def release_reservation(
    *, session: Session, reference: str, now: datetime | None = None
) -> CreditReservation:
    """Give held credits back (a job failed or was cancelled)."""
    reservation, account, now = _locked_reservation(session, reference, now)
    if reservation.status == "released":
        return reservation
    if reservation.status == "captured":
        raise ReservationSettled(f"The credits held for '{reference}' were already spent")
    _give_back(session, account, reservation, reservation.amount, now)
    return _settle(session, account, reservation, "released", now)


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
    _check_amount(amount)
    _check_key(idempotency_key)
    account = _lock_account(session, user_id)
    existing = _existing_entry(
        session, idempotency_key, user_id=user_id, kinds=("refund_clawback",)
    )
    if existing is not None:
        return Clawback(entry=existing, shortfall=amount + existing.amount)
    now = now or utcnow()
    _expire_due(session, account, now)
    taken = min(amount, account.available)
    if taken:
        _draw(session, account, taken, now)
    shortfall = amount - taken
    account.clawback_shortfall += shortfall
    entry = _append(
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


def freeze_credits(*, session: Session, user_id: int, amount: int) -> None:
    """Stop `amount` credits from being spent or held (a disputed payment). The balance does not
    change, so the ledger records nothing; the caller records why (the order and the audit log)."""
    _check_amount(amount)
    account = _lock_account(session, user_id)
    account.frozen += amount
    session.add(account)
    session.flush()


def unfreeze_credits(*, session: Session, user_id: int, amount: int) -> None:
    _check_amount(amount)
    account = _lock_account(session, user_id)
    account.frozen = max(0, account.frozen - amount)
    session.add(account)
    session.flush()


def expire_credits(
    *, session: Session, user_id: int, now: datetime | None = None
) -> list[CreditEntry]:
    """Expire a member's due credits now (every operation also does this first)."""
    account = _lock_account(session, user_id)
    return _expire_due(session, account, now or utcnow())


def users_with_due_expiry(*, session: Session, now: datetime | None = None) -> list[int]:
    now = now or utcnow()
    return list(
        session.exec(
            select(CreditLot.user_id)
            .where(CreditLot.remaining > 0)
            .where(col(CreditLot.expires_at).is_not(None), col(CreditLot.expires_at) <= now)
            .distinct()
        )
    )
