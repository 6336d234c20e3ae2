"""Database engines and sessions. Services take a session; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, create_engine

from dashboard_app.live import bus, changes
from dashboard_app.observability.queries import watch_queries
from dashboard_app.settings import get_settings

# session.info key: the members whose visible rows the open transaction wrote.
_CHANGED = "live_changed_members"


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
        # fail with SQLITE_BUSY_SNAPSHOT under concurrency instead of waiting its turn.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def build_engine(url: str) -> Engine:
    engine = _create(normalise_url(url))
    settings = get_settings()
    # The slow-query log (SLOW_QUERY_MS); in development, every query's duration at debug level.
    watch_queries(
        engine, slow_ms=settings.slow_query_ms, every_query=settings.app_env == "development"
    )
    return engine


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
