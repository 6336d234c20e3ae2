"""The slow-query log: each statement of an engine is timed; one over SLOW_QUERY_MS is logged at
warning level with its duration and its shape, and in development every statement's duration is
logged at debug level. The shape is the statement's text with its literals replaced and its
lists of placeholders folded: bound values (emails, names, tokens) never reach the log."""

from __future__ import annotations

import logging
import re
from time import perf_counter

import structlog
from sqlalchemy import event
from sqlalchemy.engine import Engine

LOGGER_NAME = "dashboard_app.queries"
log = structlog.get_logger(LOGGER_NAME)
# The level the one logging setup gave this logger: per-query debug lines are built only when
# they would be written (a process that never configured logging writes none).
_level = logging.getLogger(LOGGER_NAME)

MAX_SHAPE = 1000
_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w$%])-?\d+(?:\.\d+)?(?![\w])")
# A placeholder of any paramstyle, with PostgreSQL's cast when SQLAlchemy adds one.
_PLACEHOLDER = r"(?:\?|%s|%\(\w+\)s|:\w+|\$\d+)(?:::\w+(?: \w+)*)?"
_PLACEHOLDER_LIST = re.compile(rf"\(\s*{_PLACEHOLDER}(?:\s*,\s*{_PLACEHOLDER})+\s*\)")
_SPACE = re.compile(r"\s+")


def statement_shape(statement: str) -> str:
    """The statement with no value in it: literals become ?, `IN (?, ?, ?)` becomes `(?...)`."""
    shape = _STRING.sub("?", statement)
    shape = _NUMBER.sub("?", shape)
    shape = _PLACEHOLDER_LIST.sub("(?...)", shape)
    shape = _SPACE.sub(" ", shape).strip()
    return shape if len(shape) <= MAX_SHAPE else shape[:MAX_SHAPE] + "..."


def watch_queries(engine: Engine, *, slow_ms: float, every_query: bool) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _started(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if context is not None:
            context._dashboard_started = perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _finished(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        started = getattr(context, "_dashboard_started", None)
        if started is None:
            return
        duration_ms = round((perf_counter() - started) * 1000, 2)
        if duration_ms >= slow_ms:
            log.warning(
                "slow query",
                duration_ms=duration_ms,
                statement=statement_shape(statement),
                rows=cursor.rowcount,
            )
        elif every_query and _level.isEnabledFor(logging.DEBUG):
            log.debug("query", duration_ms=duration_ms, statement=statement_shape(statement))
