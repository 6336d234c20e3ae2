"""The member's row is the lock that puts one member's starts of work, purchases and key
creation in a line. It must not also block what merely refers to the member: every ledger
entry, job or key row has a foreign key to `users`, and inserting one takes a key-share lock
on that row. Under FOR UPDATE such an insert waited for the member lock while holding the
credit account, and a submit holding the member lock then waited for the account: PostgreSQL
found the deadlock (a worker delivering a job while the member submitted another)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlmodel import Session

from dashboard_app.domain import api_keys, credits, plans
from dashboard_app.domain.admin import guard
from dashboard_app.domain.billing import members
from tests.factories import create_member

LOCKS = {
    "plans.lock_member": lambda session, user_id: plans.lock_member(session, user_id),
    "billing.lock_member": lambda session, user_id: members.lock_member(session, user_id),
    "admin.target_member": lambda session, user_id: guard.target_member(
        session, user_id, lock=True
    ),
    "admin.lock_users": lambda session, user_id: guard.lock_users(session, user_id, admins=True),
    "api_keys.create_api_key": lambda session, user_id: api_keys.create_api_key(
        session=session, user_id=user_id, name="Held", scope="read"
    ),
}


@pytest.fixture(autouse=True)
def _postgresql_only(engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writing transaction at a time")


@pytest.mark.parametrize("lock", list(LOCKS))
def test_rows_referring_to_a_locked_member_are_written_without_waiting(engine, lock) -> None:
    member = create_member(engine)
    with Session(engine) as holder:
        LOCKS[lock](holder, member.id)  # held until the end of this block
        with Session(engine) as other:
            # Waiting at all is the failure: without it the insert below would simply wait.
            other.exec(text("SET LOCAL lock_timeout = '2s'"))
            credits.grant_credits(
                session=other,
                user_id=member.id,
                amount=3,
                idempotency_key=f"lock-{uuid.uuid4().hex}",
                reason="Written while the member row is locked",
            )
            other.commit()
        holder.rollback()
    with Session(engine) as session:
        assert credits.get_balances(session=session, user_id=member.id).available == 3
