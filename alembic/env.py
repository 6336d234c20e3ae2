"""Alembic environment: the target is SQLModel.metadata, the URL comes from the settings."""

from __future__ import annotations

from sqlmodel import SQLModel

import dashboard_app.models  # noqa: F401  (registers every table)
from alembic import context
from dashboard_app.db import build_engine
from dashboard_app.models.base import include_in_autogenerate
from dashboard_app.observability.logs import configure_logging
from dashboard_app.settings import get_settings

config = context.config
if config.attributes.get("configure_logging", True):
    # The app's one logging setup (a no-op in a process that already ran it).
    configure_logging(get_settings())

target_metadata = SQLModel.metadata


def _url() -> str:
    return config.attributes.get("database_url") or get_settings().database_url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
        include_name=include_in_autogenerate,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = build_engine(_url())
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_in_autogenerate,
    )
    if connection.dialect.name != "sqlite" or connection.in_transaction():
        with context.begin_transaction():
            context.run_migrations()
        return
    # SQLite's batch mode rebuilds a table by copying it and dropping the original, which
    # foreign keys from other tables forbid while enforced. SQLite's own recipe: switch
    # enforcement off outside the transaction, then check every key before committing.
    dbapi = connection.connection.driver_connection
    dbapi.execute("PRAGMA foreign_keys=OFF")
    try:
        with context.begin_transaction():
            context.run_migrations()
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left broken foreign keys: {broken[:5]}")
    finally:
        dbapi.execute("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
