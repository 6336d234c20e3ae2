"""Admin actions at the same moment on PostgreSQL, where transactions really run side by side
(SQLite runs one writer at a time: BEGIN IMMEDIATE). An action locks the acting admin's row and
the member's in one statement, in id order, before it reads either: so two actions never wait on
each other in a circle, and an admin demoted while their action waits acts no more."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlmodel import Session, col, select

from dashboard_app.db import session_scope
from dashboard_app.domain import admin, credits
from dashboard_app.domain.errors import DomainError
from dashboard_app.models import User
from tests.factories import create_member
from tests.support.servers import wait_for

NOT_AN_ADMIN = "The admin panel is for admins only."


@pytest.fixture(autouse=True)
def _postgresql_only(engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writing transaction at a time")


def waiting_on_locks(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()


def run_in_thread(outcomes: dict[str, str], key: str, action) -> threading.Thread:
    """Run `action` on a thread of its own; its outcome is "done", the refusal's message, or
    what went wrong otherwise."""

    def run() -> None:
        try:
            action()
            outcomes[key] = "done"
        except DomainError as refusal:
            outcomes[key] = refusal.message
        except Exception as error:  # the test reports it
            outcomes[key] = f"unexpected {type(error).__name__}: {error}"

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def demote(engine, actor_id: int, member_id: int, form: str):
    def action() -> None:
        with session_scope(engine) as session:
            admin.set_member_role(
                session=session,
                actor_user_id=actor_id,
                member_id=member_id,
                role="member",
                reason="Race",
                form_token=form,
            )

    return action


def test_two_admins_demoting_each_other_at_once_one_wins_and_the_other_is_told(engine) -> None:
    first = create_member(engine, role="admin")
    second = create_member(engine, role="admin")
    create_member(engine, role="admin")  # so that neither is the last admin
    # A third connection holds both rows, so that both demotions are under way before either
    # can take a lock: they then take them in whatever order the code does.
    with Session(engine) as holder:
        holder.exec(
            select(User.id).where(col(User.id).in_([first.id, second.id])).with_for_update()
        ).all()
        outcomes: dict[str, str] = {}
        threads = [
            run_in_thread(
                outcomes, "first", demote(engine, first.id, second.id, "race-form-first-01")
            ),
            run_in_thread(
                outcomes, "second", demote(engine, second.id, first.id, "race-form-second-1")
            ),
        ]
        wait_for(lambda: waiting_on_locks(engine) >= 2, timeout=20, what="both demotions to wait")
        holder.commit()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes.values()) == sorted(["done", NOT_AN_ADMIN])
    with session_scope(engine) as session:
        roles = {session.get(User, user.id).role for user in (first, second)}
    assert roles == {"admin", "member"}


def test_an_admin_demoted_while_their_grant_waits_grants_nothing(engine) -> None:
    actor = create_member(engine, role="admin")
    other_admin = create_member(engine, role="admin")
    member = create_member(engine, credits_granted=10)
    outcomes: dict[str, str] = {}

    def grant() -> None:
        with session_scope(engine) as session:
            admin.grant_credits(
                session=session,
                actor_user_id=actor.id,
                member_id=member.id,
                amount=500,
                reason="Goodwill",
                form_token="race-form-grant-001",
            )

    with Session(engine) as demotion:
        admin.set_member_role(
            session=demotion,
            actor_user_id=other_admin.id,
            member_id=actor.id,
            role="member",
            reason="Left the team",
            form_token="race-form-demote-01",
        )
        demotion.flush()  # the actor's row is now locked by a demotion not yet committed
        thread = run_in_thread(outcomes, "grant", grant)
        wait_for(lambda: waiting_on_locks(engine) >= 1, timeout=20, what="the grant to wait")
        demotion.commit()
    thread.join(timeout=30)
    assert outcomes == {"grant": NOT_AN_ADMIN}
    with session_scope(engine) as session:
        assert credits.get_balances(session=session, user_id=member.id).available == 10
