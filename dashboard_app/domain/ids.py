"""Record ids as the database holds them: INTEGER primary keys (PostgreSQL's int4)."""

from __future__ import annotations

MAX_RECORD_ID = 2**31 - 1


def record_id(value: object) -> int | None:
    """`value` when it can be a record's id (an int, not a bool, from 1 to MAX_RECORD_ID), else
    None. Every lookup of an id that came from outside reads it through here first: a larger
    number names no row, and sent to the database it makes PostgreSQL refuse the whole query
    ("integer out of range") and SQLite raise OverflowError beyond 64 bits."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_RECORD_ID:
        return value
    return None
