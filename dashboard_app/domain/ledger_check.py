"""Verifies every invariant of the credit ledger and says what is wrong and for whom."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import case, func, true
from sqlmodel import Session, col, select

from dashboard_app.domain.credits import GRANT_KINDS
from dashboard_app.models import CreditAccount, CreditEntry, CreditLot, CreditReservation, User


@dataclass(frozen=True)
class Problem:
    user_id: int | None
    email: str
    what: str

    def __str__(self) -> str:
        who = f"member {self.user_id} ({self.email})" if self.user_id is not None else "ledger"
        return f"{who}: {self.what}"


def _scope(user_column, only: int | None):  # type: ignore[no-untyped-def]
    """Every member's rows, or only one member's."""
    return true() if only is None else user_column == only


def _sum(expression):  # type: ignore[no-untyped-def]
    return func.coalesce(func.sum(expression), 0)


def check_ledger(*, session: Session, user_id: int | None = None) -> list[Problem]:
    """Every problem found (for one member, or all); an empty list means it is consistent."""
    only = user_id
    emails = dict(session.exec(select(User.id, User.email).where(_scope(User.id, only))).all())
    problems: list[Problem] = []

    def report(user_id: int | None, what: str) -> None:
        problems.append(Problem(user_id, emails.get(user_id, "?") if user_id else "", what))

    grant_or_positive_adjustment = col(CreditEntry.kind).in_(GRANT_KINDS) | (
        (CreditEntry.kind == "adjustment") & (CreditEntry.amount > 0)
    )
    entry_sums = {
        row[0]: row[1:]
        for row in session.exec(
            select(
                CreditEntry.user_id,
                _sum(CreditEntry.amount),
                _sum(CreditEntry.held_change),
                _sum(case((grant_or_positive_adjustment, CreditEntry.amount), else_=0)),
                _sum(
                    case(
                        (CreditEntry.kind == "spend", -CreditEntry.amount),
                        (CreditEntry.kind == "capture", -CreditEntry.held_change),
                        else_=0,
                    )
                ),
                func.max(CreditEntry.id),
            )
            .where(_scope(CreditEntry.user_id, only))
            .group_by(CreditEntry.user_id)
        )
    }
    lot_sums = dict(
        session.exec(
            select(CreditLot.user_id, _sum(CreditLot.remaining))
            .where(_scope(CreditLot.user_id, only))
            .group_by(CreditLot.user_id)
        ).all()
    )
    held_sums = dict(
        session.exec(
            select(CreditReservation.user_id, _sum(CreditReservation.amount))
            .where(CreditReservation.status == "held")
            .where(_scope(CreditReservation.user_id, only))
            .group_by(CreditReservation.user_id)
        ).all()
    )
    accounts = {
        a.user_id: a
        for a in session.exec(select(CreditAccount).where(_scope(CreditAccount.user_id, only)))
    }

    for user_id in sorted(set(accounts) | set(entry_sums) | set(lot_sums) | set(held_sums)):
        account = accounts.get(user_id)
        if account is None:
            report(user_id, "has ledger entries, lots or holds but no credit account")
            continue
        available, held, lifetime, spent, last_id = entry_sums.get(user_id, (0, 0, 0, 0, None))
        expected = {
            "available": available,
            "reserved": held,
            "lifetime": lifetime,
            "spent": spent,
        }
        for name, value in expected.items():
            actual = getattr(account, name)
            if actual != value:
                report(user_id, f"{name} balance is {actual} but its entries add up to {value}")
        if account.available < 0:
            report(user_id, f"available balance is negative ({account.available})")
        if lot_sums.get(user_id, 0) != account.available:
            report(
                user_id,
                f"credit lots hold {lot_sums.get(user_id, 0)} credits but "
                f"{account.available} are available",
            )
        if held_sums.get(user_id, 0) != account.reserved:
            report(
                user_id,
                f"live holds add up to {held_sums.get(user_id, 0)} but "
                f"{account.reserved} are reserved",
            )
        if last_id is not None:
            last = session.get(CreditEntry, last_id)
            if last is not None and last.balance_after != account.available:
                report(
                    user_id,
                    f"latest entry {last_id} says the balance is {last.balance_after} "
                    f"but the account says {account.available}",
                )

    _check_reservations(session, report, only)
    for key, count in session.exec(
        select(CreditEntry.idempotency_key, func.count())
        .where(_scope(CreditEntry.user_id, only))
        .group_by(CreditEntry.idempotency_key)
        .having(func.count() > 1)
    ):
        report(None, f"idempotency key {key!r} is used by {count} entries")
    return problems


def _check_reservations(session: Session, report, only: int | None) -> None:  # type: ignore[no-untyped-def]
    """Every hold is captured, released or still live, with exactly the entries that says."""
    kinds_by_reference: dict[str, set[str]] = defaultdict(set)
    for kind, reference in session.exec(
        select(CreditEntry.kind, CreditEntry.reference)
        .where(col(CreditEntry.kind).in_(("reserve", "capture", "release")))
        .where(_scope(CreditEntry.user_id, only))
    ):
        kinds_by_reference[reference].add(kind)
    expected = {
        "held": [{"reserve"}],
        "released": [{"reserve", "release"}],
        "captured": [{"reserve", "capture"}, {"reserve", "capture", "release"}],
    }
    for reservation in session.exec(
        select(CreditReservation).where(_scope(CreditReservation.user_id, only))
    ):
        found = kinds_by_reference.pop(reservation.reference, set())
        if found not in expected[reservation.status]:
            report(
                reservation.user_id,
                f"hold {reservation.reference!r} is {reservation.status} but its entries are "
                f"{sorted(found) or 'missing'}",
            )
    for reference in kinds_by_reference:
        report(None, f"entries for hold {reference!r} have no reservation")
