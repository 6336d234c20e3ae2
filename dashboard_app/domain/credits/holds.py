"""Credits held for work in flight (a job), then captured (spent) or released (given back)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from dashboard_app.domain.credits.expiry import expire_due, lock_and_expire
from dashboard_app.domain.credits.ledger import (
    IdempotencyConflict,
    ReservationSettled,
    append_entry,
    check_amount,
    check_key,
    draw_from_lots,
    lock_account,
    refuse_if_short,
    return_to_lots,
)
from dashboard_app.domain.errors import InvalidInput, NotFound
from dashboard_app.models import CreditAccount, CreditReservation
from dashboard_app.models.base import utcnow


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
    check_amount(amount)
    check_key(reference)
    account = lock_account(session, user_id)
    existing = session.exec(
        select(CreditReservation).where(CreditReservation.reference == reference)
    ).first()
    if existing is not None:
        if existing.user_id != user_id:
            raise IdempotencyConflict(f"Reservation '{reference}' belongs to another member")
        return existing
    now = now or utcnow()
    expire_due(session, account, now)
    refuse_if_short(account, amount, "This job")
    draws = draw_from_lots(session, account, amount, now)
    append_entry(
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
    account, now = lock_and_expire(session, found, now)
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
    return_to_lots(session, reservation.draws, amount)
    append_entry(
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
    expire_due(session, account, now)
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
        check_amount(captured)
        if captured > reservation.amount:
            raise InvalidInput(
                f"Only {reservation.amount} credits are held for '{reference}'", field="amount"
            )
    account.spent += captured
    append_entry(
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
