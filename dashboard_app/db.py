"""Database engines and sessions. Services take a session; the caller owns the transaction."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, create_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from dashboard_app.live import bus, changes
from dashboard_app.observability.queries import watch_queries
from dashboard_app.settings import get_settings

# session.info key: the members whose visible rows the open transaction wrote.
_CHANGED = "live_changed_members"
# session.info key: a read scope's session, which refuses to write.
_READ_ONLY = "read_only"
# Execution option of a read scope's SQLite connections: a deferred transaction.
_DEFERRED = "dashboard_deferred_begin"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written the usual way."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        # Take the write lock up front: a deferred transaction that reads and then writes can
        # fail with SQLITE_BUSY_SNAPSHOT under concurrency instead of waiting its turn. A read
        # scope never writes, so it reads a snapshot beside the writer (WAL) without the lock.
        deferred = conn.get_execution_options().get(_DEFERRED)
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def build_engine(url: str) -> Engine:
    engine = _create(normalise_url(url))
    _watch(engine)
    return engine


def _watch(engine: Engine) -> None:
    settings = get_settings()
    # The slow-query log (SLOW_QUERY_MS); in development, every query's duration at debug level.
    watch_queries(
        engine, slow_ms=settings.slow_query_ms, every_query=settings.app_env == "development"
    )


def _create(url: str) -> Engine:
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            # A fresh checkout has no data/ folder yet; SQLite will not create it.
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


@event.listens_for(OrmSession, "after_flush")
def _collect_changes(session: OrmSession, _flush_context) -> None:  # type: ignore[no-untyped-def]
    found = changes.changed_members(session)
    if found:
        session.info.setdefault(_CHANGED, set()).update(found)


def note_changed(session: OrmSession, *member_ids: int) -> None:
    """For writes sent as plain statements, which the ORM's flush never sees: name the members
    whose visible rows they changed, to be told after commit like the flush's changes."""
    session.info.setdefault(_CHANGED, set()).update(member_ids)


@event.listens_for(OrmSession, "after_commit")
def _publish_changes(session: OrmSession) -> None:
    """Open tabs learn of a change only once it is committed, from whichever process made it
    (domain services stay unaware); a rolled-back transaction tells nobody."""
    if session.in_nested_transaction():
        return  # a savepoint released: the transaction may still roll back
    found = session.info.pop(_CHANGED, None)
    if found:
        bind = session.get_bind()
        bus.publish(bind.engine.url.render_as_string(hide_password=False), found)


@event.listens_for(OrmSession, "after_rollback")
def _drop_changes(session: OrmSession) -> None:
    # A savepoint rolled back keeps what the transaction wrote before it (told at most once
    # too many: a tab then reloads and finds nothing new).
    if not session.in_nested_transaction():
        session.info.pop(_CHANGED, None)


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    return build_engine(url)


def get_engine() -> Engine:
    return _engine_for(get_settings().database_url)


@lru_cache(maxsize=8)
def _reading(engine: Engine) -> Engine:
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_DEFERRED: True})
    # Under READ COMMITTED each statement reads its own snapshot, in a transaction or not:
    # autocommit saves the BEGIN and COMMIT round trips and reads the same.
    return engine.execution_options(isolation_level="AUTOCOMMIT")


@event.listens_for(OrmSession, "before_flush")
def _refuse_writes(session: OrmSession, _flush_context, _instances) -> None:  # type: ignore[no-untyped-def]
    if session.info.get(_READ_ONLY) and (session.new or session.dirty or session.deleted):
        raise RuntimeError("A read scope does not write: use session_scope")


@contextmanager
def read_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A unit of work that only reads (what a page shows): on PostgreSQL in autocommit, on
    SQLite in a deferred transaction, one snapshot without the write lock. An ORM write
    through it raises; pages that may write (expiring credits first) use `session_scope`."""
    with Session(
        _reading(engine or get_engine()), expire_on_commit=False, info={_READ_ONLY: True}
    ) as session:
        yield session


_T = TypeVar("_T")
# An async engine's connections belong to the event loop that opened them.
_ASYNC_READERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AsyncEngine]] = (
    weakref.WeakKeyDictionary()
)


def _async_reader(engine: Engine) -> AsyncEngine:
    readers = _ASYNC_READERS.setdefault(asyncio.get_running_loop(), {})
    url = engine.url.render_as_string(hide_password=False)
    if url not in readers:
        readers[url] = create_async_engine(
            url, isolation_level="AUTOCOMMIT", pool_pre_ping=True, pool_size=5, max_overflow=15
        )
        _watch(readers[url].sync_engine)
    return readers[url]


def _read_in_thread(fn: Callable[..., _T], args: tuple[object, ...]) -> _T:
    with read_scope() as session:
        return fn(session, *args)


async def read(fn: Callable[..., _T], *args: object) -> _T:
    """`fn(session, *args)` for an event handler: a read (what a page shows) in a read scope.

    On PostgreSQL it runs on the event loop through psycopg's async driver (SQLAlchemy's
    `run_sync`): the statements' round trips are awaited and no worker thread is taken. Each
    page load of every tab reads like this, and a hop to a thread cost more than the page's
    query did (tests/bench/load_members.py). On SQLite it runs in a worker thread."""
    engine = get_engine()
    if engine.dialect.name != "postgresql":
        return await asyncio.to_thread(_read_in_thread, fn, args)
    async with AsyncSession(
        _async_reader(engine), expire_on_commit=False, info={_READ_ONLY: True}
    ) as session:
        return await session.run_sync(fn, *args)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """One unit of work: commits when the block succeeds, rolls back when it raises."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
