"""Credits held for work in flight (a job), then captured (spent) or released (given back).

A refund that finds too few credits available claims the rest from the member's live holds
(`clawback_owed`): when such a hold settles, the credits it gives back go to the refund and
the credits the job spent are the refund's shortfall, so releasing a hold cannot escape a
refund."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

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


def claim_from_holds(session: Session, account: CreditAccount, amount: int) -> int:
    """Mark up to `amount` credits of the member's live holds, oldest first, as owed to a
    refund; returns how many were claimed. The account must be locked."""
    if amount <= 0:
        return 0
    claimed = 0
    for hold in session.exec(
        select(CreditReservation)
        .where(CreditReservation.user_id == account.user_id, CreditReservation.status == "held")
        .order_by(col(CreditReservation.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    ):
        claim = min(hold.amount - hold.clawback_owed, amount - claimed)
        if claim > 0:
            hold.clawback_owed += claim
            session.add(hold)
            claimed += claim
        if claimed == amount:
            break
    session.flush()
    return claimed


def _give_back(
    session: Session,
    account: CreditAccount,
    reservation: CreditReservation,
    amount: int,
    now: datetime,
) -> None:
    """Return `amount` held credits through a `release` entry: to the lots they came from, or,
    as many as a refund claimed from the hold, to the refund (see `_settle_refund`)."""
    to_refund = min(reservation.clawback_owed, amount)
    return_to_lots(session, reservation.draws, amount - to_refund)
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


def _settle_refund(
    session: Session,
    account: CreditAccount,
    reservation: CreditReservation,
    returned: int,
    now: datetime,
) -> None:
    """What a refund claimed from this hold: the returned credits go to it (they never reached
    the lots) and what the job spent is its shortfall."""
    owed = reservation.clawback_owed
    if not owed:
        return
    taken = min(owed, returned)
    shortfall = owed - taken
    append_entry(
        session,
        account,
        kind="refund_clawback",
        amount=-taken,
        shortfall_change=shortfall,
        key=f"clawback:{reservation.reference}",
        reference=reservation.reference,
        reason=f"Refund: {taken} credits returned by {reservation.reference} taken back"
        + (f" ({shortfall} already spent)" if shortfall else ""),
        now=now,
    )


def _settle(
    session: Session,
    account: CreditAccount,
    reservation: CreditReservation,
    status: str,
    returned: int,
    now: datetime,
) -> CreditReservation:
    _settle_refund(session, account, reservation, returned, now)
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
    return _settle(session, account, reservation, "captured", rest, now)


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
    return _settle(session, account, reservation, "released", reservation.amount, now)
