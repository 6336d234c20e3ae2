"""Verifies every invariant of the credit ledger and says what is wrong and for whom.

The check reads one snapshot: on PostgreSQL it runs in a REPEATABLE READ transaction of its
own, so writers committing while it reads cannot make balances and entries look out of step
(SQLite's transactions are snapshots already). Its queries are a fixed few, whatever the number
of members."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import case, func, text, true
from sqlmodel import Session, col, select

from dashboard_app.domain.credits import GRANT_KINDS
from dashboard_app.models import (
    CreditAccount,
    CreditEntry,
    CreditFreeze,
    CreditLot,
    CreditReservation,
    User,
)

SNAPSHOT_LEVELS = ("repeatable read", "serializable")
# Each balance of the account, how a report names it, and its column in the sums below.
BALANCES = (
    ("available", "available balance"),
    ("reserved", "reserved balance"),
    ("lifetime", "lifetime balance"),
    ("spent", "spent balance"),
    ("frozen", "frozen balance"),
    ("clawback_shortfall", "clawback shortfall"),
)


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


def _begin_snapshot(session: Session) -> None:
    """Make the session's transaction one snapshot on PostgreSQL, or refuse to check."""
    if session.get_bind().dialect.name != "postgresql":
        return
    if not session.in_transaction():
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        return
    level = session.exec(text("SHOW transaction_isolation")).one()[0]  # type: ignore[call-overload]
    if level not in SNAPSHOT_LEVELS:
        raise RuntimeError(
            f"check_ledger needs a REPEATABLE READ snapshot but the session's transaction is "
            f"{level!r}: call it in a session that has not run a query yet"
        )


def check_ledger(*, session: Session, user_id: int | None = None) -> list[Problem]:
    """Every problem found (for one member, or all); an empty list means it is consistent."""
    _begin_snapshot(session)
    only = user_id
    emails = dict(session.exec(select(User.id, User.email).where(_scope(User.id, only))).all())
    problems: list[Problem] = []

    def report(user_id: int | None, what: str) -> None:
        problems.append(Problem(user_id, emails.get(user_id, "?") if user_id else "", what))

    grant_or_positive_adjustment = col(CreditEntry.kind).in_(GRANT_KINDS) | (
        (CreditEntry.kind == "adjustment") & (CreditEntry.amount > 0)
    )
    entry_sums = {
        row[0]: dict(zip([name for name, _ in BALANCES], row[1:], strict=True))
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
                _sum(CreditEntry.frozen_change),
                _sum(CreditEntry.shortfall_change),
            )
            .where(_scope(CreditEntry.user_id, only))
            .group_by(CreditEntry.user_id)
        )
    }
    last_entry = {
        user_id: (entry_id, balance_after)
        for user_id, entry_id, balance_after in session.exec(
            select(CreditEntry.user_id, CreditEntry.id, CreditEntry.balance_after).where(
                col(CreditEntry.id).in_(
                    select(func.max(CreditEntry.id))
                    .where(_scope(CreditEntry.user_id, only))
                    .group_by(CreditEntry.user_id)
                )
            )
        )
    }
    lot_sums = _sums(session, CreditLot.user_id, CreditLot.remaining, only)
    held_sums = _sums(
        session,
        CreditReservation.user_id,
        CreditReservation.amount,
        only,
        CreditReservation.status == "held",
    )
    freeze_sums = _sums(session, CreditFreeze.user_id, CreditFreeze.remaining, only)
    accounts = {
        a.user_id: a
        for a in session.exec(select(CreditAccount).where(_scope(CreditAccount.user_id, only)))
    }

    members = set(accounts) | set(entry_sums) | set(lot_sums) | set(held_sums) | set(freeze_sums)
    for user_id in sorted(members):
        account = accounts.get(user_id)
        if account is None:
            report(user_id, "has ledger entries, lots, holds or freezes but no credit account")
            continue
        sums = entry_sums.get(user_id, dict.fromkeys((name for name, _ in BALANCES), 0))
        for name, label in BALANCES:
            actual = getattr(account, name)
            if actual != sums[name]:
                report(user_id, f"{label} is {actual} but its entries add up to {sums[name]}")
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
        if freeze_sums.get(user_id, 0) != account.frozen:
            report(
                user_id,
                f"freezes still hold {freeze_sums.get(user_id, 0)} credits but "
                f"{account.frozen} are frozen",
            )
        last_id, last_balance = last_entry.get(user_id, (None, account.available))
        if last_balance != account.available:
            report(
                user_id,
                f"latest entry {last_id} says the balance is {last_balance} "
                f"but the account says {account.available}",
            )

    _check_reservations(session, report, only)
    _check_freezes(session, report, only)
    for key, count in session.exec(
        select(CreditEntry.idempotency_key, func.count())
        .where(_scope(CreditEntry.user_id, only))
        .group_by(CreditEntry.idempotency_key)
        .having(func.count() > 1)
    ):
        report(None, f"idempotency key {key!r} is used by {count} entries")
    return problems


def _sums(session: Session, user_column, value, only: int | None, *where) -> dict[int, int]:  # type: ignore[no-untyped-def]
    return dict(
        session.exec(
            select(user_column, _sum(value))
            .where(_scope(user_column, only), *where)
            .group_by(user_column)
        ).all()
    )


def _check_reservations(session: Session, report, only: int | None) -> None:  # type: ignore[no-untyped-def]
    """Every hold is captured, released or still live, with exactly the entries that says; a
    settled hold that a refund claimed from has the clawback entry that settles the claim."""
    kinds_by_reference: dict[str, set[str]] = defaultdict(set)
    clawbacks: set[str] = set()
    for kind, reference, key in session.exec(
        select(CreditEntry.kind, CreditEntry.reference, CreditEntry.idempotency_key)
        .where(
            col(CreditEntry.kind).in_(("reserve", "capture", "release"))
            | col(CreditEntry.idempotency_key).startswith("clawback:")
        )
        .where(_scope(CreditEntry.user_id, only))
    ):
        if kind == "refund_clawback":
            if key == f"clawback:{reference}":
                clawbacks.add(reference)
        elif kind in ("reserve", "capture", "release"):
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
        settled_claim = reservation.status != "held" and reservation.clawback_owed > 0
        if settled_claim != (reservation.reference in clawbacks):
            report(
                reservation.user_id,
                f"hold {reservation.reference!r} ({reservation.status}) owes a refund "
                f"{reservation.clawback_owed} credits but "
                + ("has no clawback entry" if settled_claim else "has a clawback entry"),
            )
    for reference in kinds_by_reference:
        report(None, f"entries for hold {reference!r} have no reservation")


def _check_freezes(session: Session, report, only: int | None) -> None:  # type: ignore[no-untyped-def]
    """Every freeze has the one `freeze` entry that froze what it says it froze."""
    frozen_by_reference = dict(
        session.exec(
            select(CreditEntry.reference, CreditEntry.frozen_change)
            .where(CreditEntry.kind == "freeze")
            .where(_scope(CreditEntry.user_id, only))
        ).all()
    )
    for freeze in session.exec(select(CreditFreeze).where(_scope(CreditFreeze.user_id, only))):
        recorded = frozen_by_reference.pop(freeze.reference, None)
        if recorded != freeze.amount:
            report(
                freeze.user_id,
                f"freeze {freeze.reference!r} froze {freeze.amount} credits but its entry says "
                f"{'nothing' if recorded is None else recorded}",
            )
    for reference in frozen_by_reference:
        report(None, f"the freeze entry for {reference!r} has no freeze")
