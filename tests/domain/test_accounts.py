"""Accounts: creating members, checking passwords, and server-side sessions, as worked examples."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts
from dashboard_app.domain.errors import (
    AccountSuspended,
    AuthenticationFailed,
    EmailTaken,
    InvalidInput,
)
from dashboard_app.models import AuditEntry, CreditAccount, Profile, User, UserSession
from dashboard_app.models.base import utcnow
from tests.factories import DEFAULT_PASSWORD, create_member

POLICY = accounts.SessionPolicy(
    secret_key="k" * 48, idle=timedelta(hours=1), absolute=timedelta(days=1)
)


def count(engine, model) -> int:
    with session_scope(engine) as session:
        return len(session.exec(select(model)).all())


def test_a_new_member_gets_a_profile_an_empty_account_and_an_audit_entry(engine) -> None:
    with session_scope(engine) as session:
        user = accounts.create_user(
            session=session,
            email="  Ada@Example.COM ",
            password=DEFAULT_PASSWORD,
            display_name="Ada",
        )
    with session_scope(engine) as session:
        stored = session.get(User, user.id)
        assert stored.email == "ada@example.com"
        assert stored.role == "member"
        assert stored.password_hash.startswith("$argon2")
        assert DEFAULT_PASSWORD not in stored.password_hash
        assert session.get(Profile, user.id).display_name == "Ada"
        assert session.get(CreditAccount, user.id).available == 0
        audit = session.exec(select(AuditEntry).where(AuditEntry.subject_user_id == user.id)).one()
        assert audit.action == "user.created"


@pytest.mark.parametrize(
    ("email", "password", "field"),
    [
        ("not-an-email", DEFAULT_PASSWORD, "email"),
        ("a@b", DEFAULT_PASSWORD, "email"),
        ("x" * 320 + "@example.com", DEFAULT_PASSWORD, "email"),
        ("short@example.com", "short", "password"),
        ("long@example.com", "p" * 257, "password"),
    ],
)
def test_bad_sign_up_input_is_refused_and_changes_nothing(engine, email, password, field) -> None:
    with pytest.raises(InvalidInput) as error, session_scope(engine) as session:
        accounts.create_user(session=session, email=email, password=password)
    assert error.value.field == field
    assert count(engine, User) == 0


def test_an_email_can_belong_to_one_account_only(engine) -> None:
    create_member(engine, email="taken@example.com")
    with pytest.raises(EmailTaken), session_scope(engine) as session:
        accounts.create_user(session=session, email="TAKEN@example.com", password=DEFAULT_PASSWORD)
    assert count(engine, User) == 1


def test_authenticate_accepts_the_right_password_only(engine) -> None:
    member = create_member(engine, email="pw@example.com")
    with session_scope(engine) as session:
        assert (
            accounts.authenticate(
                session=session, email="PW@example.com", password=DEFAULT_PASSWORD
            ).id
            == member.id
        )
        with pytest.raises(AuthenticationFailed):
            accounts.authenticate(
                session=session, email="pw@example.com", password="wrong password!"
            )
        with pytest.raises(AuthenticationFailed):
            accounts.authenticate(
                session=session, email="nobody@example.com", password=DEFAULT_PASSWORD
            )


def test_a_suspended_member_is_told_why(engine) -> None:
    member = create_member(engine)
    with session_scope(engine) as session:
        user = session.get(User, member.id)
        user.status, user.suspended_reason = "suspended", "chargeback under review"
        session.add(user)
    with session_scope(engine) as session:
        with pytest.raises(AccountSuspended, match="chargeback under review"):
            accounts.authenticate(session=session, email=member.email, password=DEFAULT_PASSWORD)


def test_a_session_resolves_to_its_member_and_stores_only_a_hash(engine) -> None:
    member = create_member(engine)
    with session_scope(engine) as session:
        token = accounts.start_session(
            session=session, user=session.get(User, member.id), policy=POLICY
        )
    with session_scope(engine) as session:
        row = session.exec(select(UserSession)).one()
        assert row.token_hash != token and token not in row.token_hash
        signed_in = accounts.resolve_session(session=session, token=token, policy=POLICY)
        assert signed_in is not None and signed_in.user.id == member.id
        assert accounts.resolve_session(session=session, token=token + "x", policy=POLICY) is None
        assert accounts.resolve_session(session=session, token=None, policy=POLICY) is None
        other_key = accounts.SessionPolicy(
            secret_key="z" * 48, idle=POLICY.idle, absolute=POLICY.absolute
        )
        assert accounts.resolve_session(session=session, token=token, policy=other_key) is None


def test_sessions_expire_after_inactivity_and_absolutely(engine) -> None:
    member = create_member(engine)
    with session_scope(engine) as session:
        token = accounts.start_session(
            session=session, user=session.get(User, member.id), policy=POLICY
        )
    start = utcnow()
    with session_scope(engine) as session:
        # Active every 50 minutes: the idle limit of one hour never passes...
        for step in range(1, 20):
            now = start + timedelta(minutes=50 * step)
            assert accounts.resolve_session(session=session, token=token, policy=POLICY, now=now)
        # ...but the absolute limit of a day does.
        assert (
            accounts.resolve_session(
                session=session,
                token=token,
                policy=POLICY,
                now=start + timedelta(days=1, minutes=1),
            )
            is None
        )
    with session_scope(engine) as session:
        token2 = accounts.start_session(
            session=session, user=session.get(User, member.id), policy=POLICY
        )
    with session_scope(engine) as session:
        later = utcnow() + timedelta(minutes=61)
        assert (
            accounts.resolve_session(session=session, token=token2, policy=POLICY, now=later)
            is None
        )


def test_signing_out_and_suspension_end_sessions(engine) -> None:
    member = create_member(engine)
    with session_scope(engine) as session:
        token = accounts.start_session(
            session=session, user=session.get(User, member.id), policy=POLICY
        )
    with session_scope(engine) as session:
        assert accounts.end_session(session=session, token=token, policy=POLICY) is True
        assert accounts.end_session(session=session, token=token, policy=POLICY) is False
        assert accounts.resolve_session(session=session, token=token, policy=POLICY) is None
    with session_scope(engine) as session:
        token = accounts.start_session(
            session=session, user=session.get(User, member.id), policy=POLICY
        )
        user = session.get(User, member.id)
        user.status = "suspended"
        session.add(user)
    with session_scope(engine) as session:
        assert accounts.resolve_session(session=session, token=token, policy=POLICY) is None


def test_set_role_is_audited(engine) -> None:
    member = create_member(engine)
    with session_scope(engine) as session:
        accounts.set_role(
            session=session, user=session.get(User, member.id), role="admin", actor_user_id=None
        )
        with pytest.raises(InvalidInput):
            accounts.set_role(
                session=session, user=session.get(User, member.id), role="owner", actor_user_id=None
            )
    with session_scope(engine) as session:
        assert session.get(User, member.id).role == "admin"
        change = session.exec(
            select(AuditEntry).where(AuditEntry.action == "user.role_changed")
        ).one()
        assert (change.before, change.after) == ({"role": "member"}, {"role": "admin"})
