"""The read path every page load takes: who is asking in one statement (with the rules of
`resolve_session`), read scopes that cannot write, `db.read` on the event loop on PostgreSQL,
and an overview visit that locks nothing when no credits are due."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dashboard_app.db import get_engine, read, read_scope, session_scope
from dashboard_app.domain import accounts, credits
from dashboard_app.domain.dashboard import shell_for_token
from dashboard_app.models import Profile, User, UserSession
from dashboard_app.models.base import utcnow
from dashboard_app.settings import get_settings
from dashboard_app.web.pages import overview
from tests.factories import count_rows, create_member

POLICY = accounts.SessionPolicy(
    secret_key="s" * 48, idle=timedelta(hours=1), absolute=timedelta(days=1)
)


def start(engine: Engine, user_id: int) -> str:
    with session_scope(engine) as session:
        user = session.get(User, user_id)
        return accounts.start_session(session=session, user=user, policy=POLICY)


def both(engine: Engine, token: str | None, later: timedelta = timedelta(0)):
    now = utcnow() + later
    with read_scope(engine) as session:
        shell = shell_for_token(session=session, token=token, policy=POLICY, now=now)
    with session_scope(engine) as session:
        signed_in = accounts.resolve_session(session=session, token=token, policy=POLICY, now=now)
        resolved = (signed_in.user.id, signed_in.session_id) if signed_in else None
    return shell, resolved


def test_the_shell_reads_a_live_session_with_its_member_balance_and_profile(engine) -> None:
    member = create_member(engine, display_name="Shell Reader", credits_granted=37)
    token = start(engine, member.id)
    shell, resolved = both(engine, token)
    assert shell is not None and resolved == (shell.user_id, shell.session_id)
    assert (shell.user_id, shell.display_name, shell.available_credits) == (
        member.id,
        "Shell Reader",
        37,
    )
    assert (shell.is_admin, shell.email_verified, shell.theme, shell.seen_due) == (
        False,
        True,
        "system",
        False,
    )
    # Two minutes later the visit is worth writing (once a minute at most).
    later, _ = both(engine, token, timedelta(minutes=2))
    assert later is not None and later.seen_due


def test_without_a_profile_name_or_an_account_the_shell_shows_the_address(engine) -> None:
    member = create_member(engine, display_name="")
    with session_scope(engine) as session:
        session.delete(session.get(Profile, member.id))
    shell, _ = both(engine, start(engine, member.id))
    assert shell is not None
    assert shell.display_name == member.email.split("@")[0]
    assert (shell.available_credits, shell.theme) == (0, "system")


@pytest.mark.parametrize(
    "case", ["unknown", "none", "revoked", "idle", "absolute", "suspended", "deleted"]
)
def test_the_shell_refuses_what_resolve_session_refuses(engine, case: str) -> None:
    member = create_member(engine)
    token: str | None = start(engine, member.id)
    later = timedelta(0)
    with session_scope(engine) as session:
        user = session.get(User, member.id)
        if case == "unknown":
            token = f"{token}x"
        elif case == "none":
            token = None
        elif case == "revoked":
            accounts.end_session(session=session, token=token, policy=POLICY)
        elif case == "idle":
            later = timedelta(minutes=61)
        elif case == "absolute":
            row = session.exec(select(UserSession)).one()
            row.expires_at = utcnow() - timedelta(seconds=1)  # seen just now, but too old
        elif case == "suspended":
            user.status = "suspended"
        elif case == "deleted":
            user.deleted_at = utcnow()
    shell, resolved = both(engine, token, later)
    assert shell is None and resolved is None


def test_noting_a_visit_moves_last_seen_forward_only(engine) -> None:
    member = create_member(engine)
    start(engine, member.id)
    with session_scope(engine) as session:
        row = session.exec(select(UserSession)).one()
        session_id, seen = row.id, row.last_seen_at
    with session_scope(engine) as session:
        accounts.note_session_seen(
            session=session, session_id=session_id, now=seen + timedelta(minutes=5)
        )
        accounts.note_session_seen(session=session, session_id=session_id, now=seen)  # older
    with session_scope(engine) as session:
        assert session.get(UserSession, session_id).last_seen_at == seen + timedelta(minutes=5)


def test_a_read_scope_refuses_to_write(engine) -> None:
    member = create_member(engine, display_name="Before")
    with read_scope(engine) as session, pytest.raises(RuntimeError, match="read scope"):
        profile = session.get(Profile, member.id)
        profile.display_name = "After"
        session.flush()
    with session_scope(engine) as session:
        assert session.get(Profile, member.id).display_name == "Before"


@pytest.fixture
def app_database(monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[Engine]:
    """This test's database as the app's own (what `db.read` and `get_engine` use)."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield get_engine()
    get_settings.cache_clear()


def test_read_runs_on_the_event_loop_on_postgresql_and_in_a_thread_on_sqlite(
    app_database: Engine,
) -> None:
    member = create_member(app_database, display_name="Loop Reader")

    def name_of(session: Session, user_id: int) -> tuple[str, int]:
        return session.get(Profile, user_id).display_name, threading.get_ident()

    async def go() -> tuple[str, bool]:
        name, thread = await read(name_of, member.id)
        return name, thread == threading.get_ident()

    name, on_loop = asyncio.run(go())
    assert name == "Loop Reader"
    assert on_loop == (app_database.dialect.name == "postgresql")


def test_read_refuses_to_write_on_either_path(app_database: Engine) -> None:
    member = create_member(app_database, display_name="Unchanged")

    def rename(session: Session, user_id: int) -> None:
        profile = session.get(Profile, user_id)
        profile.display_name = "Changed"
        session.add(profile)
        session.flush()

    with pytest.raises(RuntimeError, match="read scope"):
        asyncio.run(read(rename, member.id))
    assert count_rows(app_database, Profile, Profile.display_name == "Unchanged") == 1


def test_an_overview_visit_with_nothing_due_locks_nothing(engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no row locks")
    member = create_member(engine, credits_granted=10)
    with Session(engine) as holder:
        holder.execute(
            text("SELECT 1 FROM credit_accounts WHERE user_id = :id FOR UPDATE"), {"id": member.id}
        )  # a spend in progress holds the member's account
        with session_scope(engine) as session:
            session.execute(text("SET LOCAL lock_timeout = '300ms'"))
            assert credits.expire_credits(session=session, user_id=member.id) == []
        holder.rollback()


def test_the_overview_expires_due_credits_before_it_shows_a_balance(engine) -> None:
    member = create_member(engine)
    an_hour_ago = utcnow() - timedelta(hours=1)
    with session_scope(engine) as session:
        credits.grant_credits(
            session=session,
            user_id=member.id,
            amount=30,
            idempotency_key="gone",
            reason="A gift that has expired",
            expires_at=an_hour_ago + timedelta(minutes=30),
            now=an_hour_ago,
        )
    with read_scope(engine) as session:
        assert overview._load(session, member.id, {}) is None  # the write comes first
    with session_scope(engine) as session:
        expired = credits.expire_credits(session=session, user_id=member.id)
    assert [entry.amount for entry in expired] == [-30]
    with read_scope(engine) as session:
        shown = overview._load(session, member.id, {})
    assert shown is not None and shown[0].balances.available == 0
