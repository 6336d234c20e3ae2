"""Freezing a disputed payment's credits in a handful of plain statements, for the common case
(the webhook of a dispute's first event applies it as it stores the event). Anything out of the
ordinary (a reference already frozen, credits due to expire, nothing available, no account yet)
is left to the careful path in `freezes.freeze_credits`, as `quick_spend` does for spends.

The account row is read FOR UPDATE first (SQLite's BEGIN IMMEDIATE serialises writers), then
the lots in expiring-first order; what is frozen is `min(amount, available)`, drawn soonest
expiry first and remembered on the freeze for a thaw. The entry's key (`freeze:<reference>`) is
unique: a request racing with the same reference meets the winner at that index, gives back
what it drew, and lets the careful path return what the winner froze."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlmodel import Session

from dashboard_app.db import note_changed
from dashboard_app.domain.credits.ledger import MAX_TEXT
from dashboard_app.domain.credits.quick_spend import (
    Sql,
    accounts,
    entries,
    forget_loaded,
    lots,
)
from dashboard_app.models import CreditFreeze
from dashboard_app.models.base import UTCDateTime

freezes = CreditFreeze.__table__  # type: ignore[attr-defined]


def quick_freeze(
    session: Session, *, user_id: int, amount: int, reference: str, reason: str, now: datetime
) -> int | None:
    """Freeze up to `amount` of the member's available credits; returns how many, or None
    having changed nothing (the careful path then decides). Arguments are already checked."""
    session.flush()
    connection = session.connection()
    statements = _statements(connection.dialect)
    stamp = statements.timestamp(now)
    found = statements.account.run(connection, {"user": user_id, "reference": reference}).first()
    if found is None or found.frozen_before or found.available <= 0:
        return None
    frozen = min(amount, found.available)
    draws, needed = [], frozen
    for lot in statements.lots.run(connection, {"user": user_id, "now": stamp}):
        if lot.due:
            return None  # credits to expire first: the careful path writes their entries
        if needed:
            take = min(lot.remaining, needed)
            draws.append([lot.id, take])
            needed -= take
    if needed:
        return None  # the lots disagree with the balance: the careful path raises
    for lot_id, take in draws:
        statements.take_from_lot.run(connection, {"lot": lot_id, "n": take})
    statements.move_to_frozen.run(connection, {"user": user_id, "n": frozen, "now": stamp})
    entry_id = statements.write_entry.run(
        connection,
        {
            "user_id": user_id,
            "amount": -frozen,
            "held_change": 0,
            "frozen_change": frozen,
            "shortfall_change": 0,
            "balance_after": found.available - frozen,
            "kind": "freeze",
            "idempotency_key": f"freeze:{reference}",
            "reference": reference[:255],
            "actor_user_id": None,
            "reason": (reason or f"Frozen for {reference}")[:MAX_TEXT],
            "expires_at": None,
            "created_at": stamp,
        },
    ).scalar()
    if entry_id is None:  # the same reference frozen by a racing request since the first read
        for lot_id, take in draws:
            statements.take_from_lot.run(connection, {"lot": lot_id, "n": -take})
        statements.move_to_frozen.run(connection, {"user": user_id, "n": -frozen, "now": stamp})
        forget_loaded(session, user_id)
        return None
    statements.write_freeze.run(
        connection,
        {
            "user_id": user_id,
            "reference": reference,
            "amount": frozen,
            "remaining": frozen,
            "draws": json.dumps(draws),
            "created_at": stamp,
            "updated_at": stamp,
        },
    )
    forget_loaded(session, user_id)
    note_changed(session, user_id)  # open tabs are told after commit
    return frozen


class _Statements:
    def __init__(self, dialect: Dialect) -> None:
        postgres = dialect.name == "postgresql"
        self.timestamp = UTCDateTime().bind_processor(dialect) or (lambda value: value)
        user, n, now = bindparam("user"), bindparam("n"), bindparam("now")
        frozen_before = exists().where(freezes.c.reference == bindparam("reference"))
        self.account = Sql(
            select(accounts.c.available, frozen_before.label("frozen_before"))
            .where(accounts.c.user_id == user)
            .with_for_update(of=accounts),
            dialect,
        )
        due = lots.c.expires_at.is_not(None) & (lots.c.expires_at <= now)
        self.lots = Sql(
            select(lots.c.id, lots.c.remaining, due.label("due"))
            .where(lots.c.user_id == user, lots.c.remaining > 0)
            .order_by(lots.c.expires_at.is_(None), lots.c.expires_at, lots.c.id)
            .with_for_update(of=lots),
            dialect,
        )
        self.take_from_lot = Sql(
            update(lots)
            .where(lots.c.id == bindparam("lot"))
            .values(remaining=lots.c.remaining - n),
            dialect,
        )
        self.move_to_frozen = Sql(
            update(accounts)
            .where(accounts.c.user_id == user)
            .values(
                available=accounts.c.available - n,
                frozen=accounts.c.frozen + n,
                updated_at=now,
            ),
            dialect,
        )
        insert = postgresql.insert if postgres else sqlite.insert
        self.write_entry = Sql(
            insert(entries)
            .on_conflict_do_nothing(index_elements=[entries.c.idempotency_key])
            .returning(entries.c.id),
            dialect,
            column_keys=[c.name for c in entries.columns if c.name != "id"],
        )
        self.write_freeze = Sql(
            insert(freezes),
            dialect,
            column_keys=[c.name for c in freezes.columns if c.name != "id"],
        )


@cache
def _statements(dialect: Dialect) -> _Statements:
    return _Statements(dialect)
