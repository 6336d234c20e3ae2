"""Watching the SQL a piece of code sends: the statements, in order, as the driver saw them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextmanager
def statements_sent(engine: Engine) -> Iterator[list[str]]:
    """Every statement `engine` sends while the block runs (a listener, not a stand-in)."""
    sent: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _executemany):  # type: ignore[no-untyped-def]
        sent.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)
