"""Which member a verified API token's (issuer, subject) speaks for, as worked examples."""

from __future__ import annotations

import pytest

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, api_access, audit
from dashboard_app.domain.errors import InvalidInput, NotFound
from dashboard_app.models import OAuthIdentity
from tests.factories import count_rows, create_member

ISSUER = "https://id.example"


def test_a_subject_signed_in_with_single_sign_on_maps_to_its_member(engine) -> None:
    with session_scope(engine) as session:
        member = accounts.sign_in_with_sso(
            session=session,
            issuer=ISSUER,
            subject="sso-1",
            email="sso-one@example.com",
            email_verified=True,
        )
    with session_scope(engine) as session:
        assert api_access.member_for_subject(session, ISSUER, "sso-1") == member.id
        # Same subject, another issuer: a different identity.
        assert api_access.member_for_subject(session, "https://other.example", "sso-1") is None
        assert api_access.member_for_subject(session, ISSUER, "sso-2") is None


def test_a_suspended_or_deleted_member_is_no_one(engine) -> None:
    suspended = create_member(engine)
    deleted = create_member(engine)
    with session_scope(engine) as session:
        for member, subject in ((suspended, "s-1"), (deleted, "d-1")):
            api_access.link_subject(
                session=session, issuer=ISSUER, subject=subject, email=member.email
            )
    with session_scope(engine) as session:
        assert api_access.member_for_subject(session, ISSUER, "s-1") == suspended.id
        accounts.suspend_member(
            session=session,
            user=accounts.get_user(session=session, user_id=suspended.id),
            reason="test",
            actor_user_id=None,
        )
        row = accounts.get_user(session=session, user_id=deleted.id)
        row.deleted_at = row.created_at
        session.add(row)
    with session_scope(engine) as session:
        assert api_access.member_for_subject(session, ISSUER, "s-1") is None
        assert api_access.member_for_subject(session, ISSUER, "d-1") is None


def test_linking_a_subject_by_email_is_audited_and_repeatable(engine) -> None:
    member = create_member(engine)
    for _ in range(2):
        with session_scope(engine) as session:
            api_access.link_subject(
                session=session, issuer=ISSUER, subject="partner-9", email=member.email.upper()
            )
    assert count_rows(engine, OAuthIdentity, OAuthIdentity.subject == "partner-9") == 1
    with session_scope(engine) as session:
        assert api_access.member_for_subject(session, ISSUER, "partner-9") == member.id
        trail = audit.audit_trail(session=session, subject_user_id=member.id)
    linked = [entry for entry in trail if entry.action == "user.api_subject_linked"]
    assert len(linked) == 1
    assert linked[0].after == {"provider": ISSUER, "subject": "partner-9"}


def test_a_subject_linked_to_one_member_is_not_moved_to_another(engine) -> None:
    first, second = create_member(engine), create_member(engine)
    with session_scope(engine) as session:
        api_access.link_subject(session=session, issuer=ISSUER, subject="p", email=first.email)
    with session_scope(engine) as session, pytest.raises(InvalidInput, match="another member"):
        api_access.link_subject(session=session, issuer=ISSUER, subject="p", email=second.email)
    with session_scope(engine) as session:
        assert api_access.member_for_subject(session, ISSUER, "p") == first.id


@pytest.mark.parametrize(
    ("issuer", "subject", "error"),
    [
        (ISSUER, "", InvalidInput),
        ("", "p", InvalidInput),
        (ISSUER, "x" * 256, InvalidInput),
    ],
)
def test_a_blank_or_oversized_identity_is_refused(engine, issuer, subject, error) -> None:
    member = create_member(engine)
    with session_scope(engine) as session, pytest.raises(error):
        api_access.link_subject(session=session, issuer=issuer, subject=subject, email=member.email)
    assert count_rows(engine, OAuthIdentity) == 0


def test_an_unknown_email_is_refused(engine) -> None:
    with session_scope(engine) as session, pytest.raises(NotFound, match="No member"):
        api_access.link_subject(
            session=session, issuer=ISSUER, subject="p", email="nobody@example.com"
        )
