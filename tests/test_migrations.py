"""The Alembic migrations and the SQLModel models describe the same schema, both ways."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DatabaseError
from sqlmodel import SQLModel

import dashboard_app.models  # noqa: F401
from alembic import command
from dashboard_app.db import build_engine, session_scope
from dashboard_app.models.base import include_in_autogenerate
from tests.factories import create_member
from tests.support.databases import alembic_config


@pytest.fixture
def empty_db_url(databases) -> Iterator[str]:
    url = databases.empty()
    yield url
    databases.drop(url)


def schema_differences(url: str) -> list:
    engine = build_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "target_metadata": SQLModel.metadata,
                    "include_name": include_in_autogenerate,
                },
            )
            return compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = build_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_matches_models_and_survives_downgrade_to_base(empty_db_url: str) -> None:
    config = alembic_config(empty_db_url)

    command.upgrade(config, "head")
    assert schema_differences(empty_db_url) == []
    assert set(SQLModel.metadata.tables) <= table_names(empty_db_url)

    command.downgrade(config, "base")
    assert table_names(empty_db_url) <= {"alembic_version"}

    command.upgrade(config, "head")
    assert schema_differences(empty_db_url) == []


def test_an_unmigrated_database_differs_from_the_models(empty_db_url: str) -> None:
    # The comparison above can fail: an empty database is reported as missing every table.
    differences = schema_differences(empty_db_url)
    added = {diff[1].name for diff in differences if diff[0] == "add_table"}
    assert added == set(SQLModel.metadata.tables)


@pytest.mark.parametrize("table", ["credit_entries", "audit_log"])
def test_ledger_and_audit_log_refuse_updates_and_deletes(engine, table: str) -> None:
    create_member(engine, credits_granted=5)  # writes a ledger entry and an audit entry
    for statement in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
        with pytest.raises(DatabaseError, match="append-only"):
            with session_scope(engine) as session:
                session.exec(text(statement))
    with session_scope(engine) as session:
        assert session.exec(text(f"SELECT count(*) FROM {table}")).one()[0] >= 1
