"""A spend in three statements, for the common case: the account row is updated only when enough
credits are available (which also locks it), the lots that expire first give up the credits in
one UPDATE, and the entry goes in with INSERT ... ON CONFLICT DO NOTHING on its idempotency key
(on PostgreSQL the last two are one statement). Anything out of the ordinary (too few credits, a
key already used, credits due to expire, no account yet) is left to the careful path in
`balance.spend_credits`, which locks, expires and explains.

Why this keeps the ledger's guarantees:
- No overspend: `available >= n` is checked by the UPDATE that takes the row lock (PostgreSQL
  re-checks it on the newest row version after waiting; SQLite's BEGIN IMMEDIATE serialises
  writers), and the CHECK constraints hold the database to it.
- Lots are read after that lock is taken, in a statement of their own (a fresh snapshot on
  PostgreSQL), and every writer of a member's lots holds the account lock first. The draw only
  happens when no lot is due to expire and the live lots cover the spend, so expiring-first
  order and the expiry entries are the careful path's business.
- Idempotency: a key already in the ledger sends the spend to the careful path before anything
  is written; two requests racing with one key meet at the unique index, and the loser gives
  its credits back to the lots it drew from (under the lock it still holds) and returns the
  winner's entry through the careful path. Entries are only ever inserted.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, case, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult, Dialect
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session

from dashboard_app.db import note_changed
from dashboard_app.domain.credits.ledger import MAX_TEXT
from dashboard_app.models import CreditAccount, CreditEntry, CreditLot
from dashboard_app.models.base import UTCDateTime

accounts: Table = CreditAccount.__table__  # type: ignore[attr-defined, assignment]
entries: Table = CreditEntry.__table__  # type: ignore[attr-defined, assignment]
lots: Table = CreditLot.__table__  # type: ignore[attr-defined, assignment]


def quick_spend(
    session: Session,
    *,
    user_id: int,
    amount: int,
    key: str,
    reference: str,
    reason: str,
    actor_user_id: int | None,
    now: datetime,
) -> CreditEntry | None:
    """Spend `amount` in three statements (two on PostgreSQL), or return None having changed
    nothing (the careful path then decides). Arguments are already checked."""
    session.flush()  # pending ORM changes go first, as the careful path's autoflush would send
    connection = session.connection()
    dialect = connection.dialect
    postgres = dialect.name == "postgresql"
    statements = _statements(dialect)
    stamp = statements.timestamp(now)
    params = {"user": user_id, "n": amount, "key": key, "now": stamp}
    available = statements.take_from_account.run(connection, params).scalar()
    if available is None:
        return None
    values = {
        "user_id": user_id,
        "amount": -amount,
        "held_change": 0,
        "frozen_change": 0,
        "shortfall_change": 0,
        "balance_after": available,
        "kind": "spend",
        "idempotency_key": key,
        "reference": (reference or key)[:255],
        "actor_user_id": actor_user_id,
        "reason": reason[:MAX_TEXT],
        "expires_at": None,
        "created_at": now,
    }
    if postgres:
        # One round trip for the lots and the entry: both after the account lock, so the
        # statement's snapshot already holds every committed change to this member's lots.
        drawn = connection.exec_driver_sql(
            DRAW_AND_WRITE_ENTRY_POSTGRES, {**values, **params, "created_at": stamp}
        ).all()
        entry_id = drawn[0].entry_id if drawn else None
    else:
        drawn = statements.draw.run(connection, params).all()
        entry_id = (
            statements.write_entry.run(connection, {**values, "created_at": stamp}).scalar()
            if drawn
            else None
        )
    if not drawn:  # a lot is due to expire, or the lots fall short of the balance
        _undo(session, user_id, amount, [])
        return None
    # PostgreSQL says how much each lot gave (SQLite's RETURNING cannot name the CTE's columns,
    # and there no racing request can make this spend give them back).
    draws = [(row.id, row.take) for row in drawn] if postgres else []
    if entry_id is None:
        # The same key committed by a racing request since the first statement looked.
        if not postgres:  # pragma: no cover - BEGIN IMMEDIATE lets no writer in between
            raise RuntimeError("an idempotency key appeared inside a SQLite write transaction")
        _undo(session, user_id, amount, draws)
        return None
    forget_loaded(session, user_id)
    note_changed(session, user_id)  # open tabs are told after commit
    entry = _loaded_entry({**values, "id": entry_id})
    make_transient_to_detached(entry)
    session.add(entry)  # persistent, as the careful path's entry would be; nothing to write
    return entry


# The draw of `_draw` and the entry's INSERT in one statement (PostgreSQL runs a data-modifying
# CTE once, whatever reads it): the entry is written only when the lots gave the credits, and
# each row returned names a lot, what it gave and the new entry's id (NULL when the key was
# taken by a racing request meanwhile).
DRAW_AND_WRITE_ENTRY_POSTGRES = """
WITH live AS (
    SELECT id, remaining,
           sum(remaining) OVER (ORDER BY expires_at IS NULL, expires_at, id) AS upto
    FROM credit_lots
    WHERE user_id = %(user)s::INTEGER AND remaining > 0
      AND (expires_at IS NULL OR expires_at > %(now)s::TIMESTAMPTZ)
), drawn AS (
    UPDATE credit_lots
    SET remaining = credit_lots.remaining
        - LEAST(live.remaining, %(n)s::BIGINT - (live.upto - live.remaining))
    FROM live
    WHERE credit_lots.id = live.id AND live.upto - live.remaining < %(n)s::BIGINT
      AND (SELECT max(upto) FROM live) >= %(n)s::BIGINT
      AND NOT EXISTS (
          SELECT 1 FROM credit_lots AS due
          WHERE due.user_id = %(user)s::INTEGER AND due.remaining > 0
            AND due.expires_at IS NOT NULL AND due.expires_at <= %(now)s::TIMESTAMPTZ)
    RETURNING credit_lots.id,
              LEAST(live.remaining, %(n)s::BIGINT - (live.upto - live.remaining)) AS take
), entry AS (
    INSERT INTO credit_entries (user_id, amount, held_change, frozen_change, shortfall_change,
                                balance_after, kind, idempotency_key, reference, actor_user_id,
                                reason, expires_at, created_at)
    SELECT %(user_id)s::INTEGER, %(amount)s::BIGINT, 0, 0, 0, %(balance_after)s::BIGINT,
           %(kind)s::VARCHAR, %(idempotency_key)s::VARCHAR, %(reference)s::VARCHAR,
           %(actor_user_id)s::INTEGER, %(reason)s::VARCHAR, NULL, %(created_at)s::TIMESTAMPTZ
    WHERE EXISTS (SELECT 1 FROM drawn)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
)
SELECT drawn.id, drawn.take, (SELECT id FROM entry) AS entry_id FROM drawn
"""


class Sql:
    """A statement compiled once for one dialect and sent as driver SQL (the engine's events
    still see it): building, hashing and looking up SQLAlchemy constructs on every spend cost
    more than running them. Parameters are plain ints and strings, and timestamps already
    turned into what the column stores (`_Statements.timestamp`)."""

    def __init__(self, statement, dialect: Dialect, column_keys: list[str] | None = None) -> None:  # type: ignore[no-untyped-def]
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        self.sql = str(compiled)
        self.order = list(compiled.positiontup or ()) if compiled.positional else None
        # The statement's own constants (`remaining > 0`) are parameters too.
        self.constants = {k: v for k, v in compiled.params.items() if v is not None}

    def run(self, connection: Connection, params: dict[str, Any]) -> CursorResult[Any]:
        params = {**self.constants, **params}
        if self.order is None:
            return connection.exec_driver_sql(self.sql, params)
        return connection.exec_driver_sql(self.sql, tuple(params[name] for name in self.order))


class _Statements:
    def __init__(self, dialect: Dialect) -> None:
        postgres = dialect.name == "postgresql"
        self.timestamp = UTCDateTime().bind_processor(dialect) or (lambda value: value)
        user, n, now = bindparam("user"), bindparam("n"), bindparam("now")
        self.take_from_account = Sql(
            update(accounts)
            .where(
                accounts.c.user_id == user,
                accounts.c.available >= n,
                ~exists().where(entries.c.idempotency_key == bindparam("key")),
            )
            .values(
                available=accounts.c.available - n,
                spent=accounts.c.spent + n,
                updated_at=now,
            )
            .returning(accounts.c.available),
            dialect,
        )
        self.draw = Sql(_draw(user, n, now, postgres=postgres), dialect)
        insert = postgresql.insert if postgres else sqlite.insert
        self.write_entry = Sql(
            insert(entries)
            .on_conflict_do_nothing(index_elements=[entries.c.idempotency_key])
            .returning(entries.c.id),
            dialect,
            column_keys=[c.name for c in entries.columns if c.name != "id"],
        )


@cache
def _statements(dialect: Dialect) -> _Statements:
    return _Statements(dialect)


def _draw(user, amount, now, *, postgres: bool):  # type: ignore[no-untyped-def]
    """One UPDATE taking `amount` from the live lots, soonest expiry first (never-expiring
    last), only when no lot is due to expire and the live lots hold enough."""
    live_now = or_(lots.c.expires_at.is_(None), lots.c.expires_at > now)
    live = (
        select(
            lots.c.id,
            lots.c.remaining,
            func.sum(lots.c.remaining)
            .over(order_by=(lots.c.expires_at.is_(None), lots.c.expires_at, lots.c.id))
            .label("upto"),
        )
        .where(lots.c.user_id == user, lots.c.remaining > 0, live_now)
        .cte("live")
    )
    before = live.c.upto - live.c.remaining  # credits in the lots drawn before this one
    take = case((live.c.remaining < amount - before, live.c.remaining), else_=amount - before)
    other = lots.alias("due")
    due = (
        exists()
        .where(other.c.user_id == user, other.c.remaining > 0)
        .where(other.c.expires_at.is_not(None), other.c.expires_at <= now)
    )
    statement = (
        update(lots)
        .where(lots.c.id == live.c.id, before < amount)
        .where(select(func.max(live.c.upto)).scalar_subquery() >= amount, ~due)
        .values(remaining=lots.c.remaining - take)
    )
    # Rows, not the row count: Python's sqlite3 reports no count for a statement led by WITH.
    if postgres:
        return statement.returning(lots.c.id, take.label("take"))
    return statement.returning(lots.c.id)


def _loaded_entry(values: dict[str, Any]) -> CreditEntry:
    """The entry as if read back from the database: filled in the way SQLAlchemy fills a loaded
    row (SQLModel's constructor would validate every field again, a third of a spend's time)."""
    entry = manager_of_class(CreditEntry).new_instance()
    entry.__dict__.update(values)
    object.__setattr__(entry, "__pydantic_fields_set__", set(values))
    return entry


def _undo(session: Session, user_id: int, amount: int, draws: list[tuple[int, int]]) -> None:
    """Give back what this attempt took, under the account lock it still holds."""
    connection = session.connection()
    for lot_id, take in draws:
        connection.execute(
            update(lots).where(lots.c.id == lot_id).values(remaining=lots.c.remaining + take)
        )
    connection.execute(
        update(accounts)
        .where(accounts.c.user_id == user_id)
        .values(available=accounts.c.available + amount, spent=accounts.c.spent - amount)
    )
    forget_loaded(session, user_id)


def forget_loaded(session: Session, user_id: int) -> None:
    """Rows this session loaded before are stale now: the next read fetches them again."""
    account = session.identity_map.get(identity_key(CreditAccount, user_id))
    if account is not None:
        session.expire(account)
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, CreditLot) and loaded.user_id == user_id:
            session.expire(loaded)
