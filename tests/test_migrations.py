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
from tests.support.databases import alembic_config, revision_before


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


def test_0005_carries_frozen_credits_shortfalls_and_expiries_into_the_ledger(
    empty_db_url: str,
) -> None:
    """Before 0005 a dispute froze credits as a number on the account (still counted as
    available) and a shortfall was a number too; after it, both are provable from entries."""
    from dashboard_app.domain import credits
    from dashboard_app.domain.ledger_check import check_ledger
    from dashboard_app.models.base import utcnow

    config = alembic_config(empty_db_url)
    command.upgrade(config, revision_before("0005"))
    engine = build_engine(empty_db_url)
    try:
        now = utcnow()
        # Raw SQL: the service layer speaks the newest schema, not the one before 0005.
        with session_scope(engine) as session:
            session.exec(
                text(
                    "INSERT INTO users (email, role, status, created_at, updated_at) "
                    "VALUES ('old@example.com', 'member', 'active', :now, :now)"
                ).bindparams(now=now)
            )
            member = session.exec(text("SELECT id FROM users")).one()[0]
        rows = [  # (key, kind, amount, balance after, expires_at)
            ("cs_1", "purchase", 500, 500, None),
            ("promo", "grant", 40, 540, now.replace(year=now.year + 1)),
            ("s1", "spend", -100, 440, None),
        ]
        with session_scope(engine) as session:
            for key, kind, amount, after, expires_at in rows:
                session.exec(
                    text(
                        "INSERT INTO credit_entries (user_id, amount, held_change, balance_after, "
                        "kind, idempotency_key, reference, reason, expires_at, created_at) "
                        "VALUES (:u, :a, 0, :b, :k, :key, :key, '', :e, :now)"
                    ).bindparams(
                        u=member, a=amount, b=after, k=kind, key=key, e=expires_at, now=now
                    )
                )
            ids = dict(session.exec(text("SELECT idempotency_key, id FROM credit_entries")).all())
            for key, remaining, total, expires_at in (
                ("cs_1", 400, 500, None),
                ("promo", 40, 40, now.replace(year=now.year + 1)),
            ):
                session.exec(
                    text(
                        "INSERT INTO credit_lots (user_id, entry_id, amount, remaining, "
                        "expires_at, created_at) VALUES (:u, :e, :t, :r, :x, :now)"
                    ).bindparams(u=member, e=ids[key], t=total, r=remaining, x=expires_at, now=now)
                )
            session.exec(
                text(
                    "INSERT INTO orders (user_id, kind, status, stripe_dispute_id, product_code, "
                    "amount_total, amount_refunded, currency, credits, credits_clawed_back, "
                    "credits_frozen, items, created_at, updated_at) VALUES (:u, 'pack', "
                    "'disputed', 'dp_old', 'starter', 1900, 0, 'usd', 500, 0, 500, '[]', "
                    ":now, :now)"
                ).bindparams(u=member, now=now)
            )
            session.exec(
                text(
                    "INSERT INTO credit_accounts (user_id, available, reserved, lifetime, spent, "
                    "frozen, clawback_shortfall, updated_at) "
                    "VALUES (:u, 440, 0, 540, 100, 500, 7, :now)"
                ).bindparams(u=member, now=now)
            )

        command.upgrade(config, "head")
        with session_scope(engine) as session:
            balances = credits.get_balances(session=session, user_id=member)
        # Only the 440 still available could be frozen: the expiring promo first, then 400.
        assert (balances.available, balances.frozen) == (0, 440)
        with session_scope(engine) as session:
            assert [str(p) for p in check_ledger(session=session)] == []
            # The shortfall of 7 is now an entry, so `ledger check` can prove it.
            assert (
                session.exec(text("SELECT sum(shortfall_change) FROM credit_entries")).one()[0] == 7
            )
        with session_scope(engine) as session:
            assert credits.thaw_credits(session=session, reference="dispute:dp_old") == 440
        with session_scope(engine) as session:
            assert [str(p) for p in check_ledger(session=session)] == []
        with session_scope(engine) as session:
            assert credits.get_balances(session=session, user_id=member).available == 440
    finally:
        engine.dispose()


def test_0009_maps_stored_default_platforms_to_the_catalogs_names(empty_db_url: str) -> None:
    """Before 0009 the profile had its own platform names; the catalog's are the one source now:
    instagram and youtube become their catalog names, tiktok stays, the rest have no default."""
    from dashboard_app.models.base import utcnow

    config = alembic_config(empty_db_url)
    command.upgrade(config, revision_before("0009"))
    engine = build_engine(empty_db_url)
    stored = {
        "a": "instagram",
        "b": "youtube",
        "c": "tiktok",
        "d": "x",
        "e": "linkedin",
        "f": "",
    }
    try:
        with session_scope(engine) as session:
            for name, platform in stored.items():
                session.exec(
                    text(
                        "INSERT INTO users (email, role, status, created_at, updated_at) "
                        "VALUES (:email, 'member', 'active', :now, :now)"
                    ).bindparams(email=f"{name}@example.com", now=utcnow())
                )
                session.exec(
                    text(
                        "INSERT INTO profiles (user_id, display_name, address_line1, "
                        "address_line2, address_city, address_postal_code, address_country, "
                        "wallet_address, theme, default_platform, email_notifications, "
                        "updated_at) SELECT id, '', '', '', '', '', '', '', 'system', :p, "
                        "true, :now FROM users WHERE email = :email"
                    ).bindparams(p=platform, email=f"{name}@example.com", now=utcnow())
                )

        def platforms() -> dict[str, str]:
            with session_scope(engine) as session:
                rows = session.exec(
                    text(
                        "SELECT users.email, profiles.default_platform FROM profiles "
                        "JOIN users ON users.id = profiles.user_id"
                    )
                ).all()
            return {email.split("@")[0]: platform for email, platform in rows}

        command.upgrade(config, "0009")
        assert platforms() == {
            "a": "instagram_reels",
            "b": "youtube_shorts",
            "c": "tiktok",
            "d": "",
            "e": "",
            "f": "",
        }
        command.downgrade(config, revision_before("0009"))
        assert platforms() == {
            "a": "instagram",
            "b": "youtube",
            "c": "tiktok",
            "d": "",
            "e": "",
            "f": "",
        }
    finally:
        engine.dispose()
