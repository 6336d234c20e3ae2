"""Mailed links, single sign-on linking and profiles, as worked examples."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, audit, links, profiles
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import AuthenticationFailed, EmailTaken, InvalidInput
from dashboard_app.models import (
    OAuthIdentity,
    Profile,
    User,
    UserSession,
)
from dashboard_app.models.base import utcnow
from tests.factories import DEFAULT_PASSWORD, count_rows, create_member

POLICY = accounts.SessionPolicy(
    secret_key="s" * 48, idle=timedelta(hours=1), absolute=timedelta(days=1)
)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("password123", "too easy to guess"),
        ("aaaaaaaaaaaaaaa", "too easy to guess"),
        ("my name is member-x", "must not contain your email"),
    ],
)
def test_weak_passwords_are_refused(password: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        accounts.check_password_rules(password, email="member-x@example.com")


def test_a_verification_link_works_once_and_not_after_it_expires(engine) -> None:
    member = create_member(engine)
    now = utcnow()
    with session_scope(engine) as session:
        user = session.get(User, member.id)
        user.email_verified_at = None
        first = links.issue_token(
            session=session, user=user, purpose="verify_email", policy=POLICY, now=now
        )
        second = links.issue_token(
            session=session, user=user, purpose="verify_email", policy=POLICY, now=now
        )
    with session_scope(engine) as session:
        # A newer link replaces the older one.
        with pytest.raises(InvalidInput, match="expired or was already used"):
            links.verify_email(session=session, raw=first, policy=POLICY)
    with session_scope(engine) as session:
        with pytest.raises(InvalidInput):
            links.verify_email(
                session=session, raw=second, policy=POLICY, now=now + timedelta(days=3)
            )
    with session_scope(engine) as session:
        assert links.verify_email(session=session, raw=second, policy=POLICY).email_verified_at
    with session_scope(engine) as session:
        with pytest.raises(InvalidInput):
            links.verify_email(session=session, raw=second, policy=POLICY)


def test_a_reset_link_is_not_a_verification_link(engine) -> None:
    member = create_member(engine)
    with session_scope(engine) as session:
        user, raw = links.request_password_reset(session=session, email=member.email, policy=POLICY)
    with session_scope(engine) as session:
        with pytest.raises(InvalidInput):
            links.verify_email(session=session, raw=raw, policy=POLICY)
    with session_scope(engine) as session:
        assert (
            links.request_password_reset(session=session, email="nobody@example.com", policy=POLICY)
            is None
        )
        assert (
            links.request_password_reset(session=session, email="not an email", policy=POLICY)
            is None
        )


def test_a_reset_sets_the_password_and_ends_every_session(engine) -> None:
    member = create_member(engine)
    with session_scope(engine) as session:
        user = session.get(User, member.id)
        accounts.start_session(session=session, user=user, policy=POLICY)
        _, raw = links.request_password_reset(session=session, email=member.email, policy=POLICY)
    # A refused password rolls back, so the same link can be used again with a better one.
    with pytest.raises(InvalidInput, match="at least 10"):
        with session_scope(engine) as session:
            links.reset_password(session=session, raw=raw, new_password="short", policy=POLICY)
    with session_scope(engine) as session:
        links.reset_password(
            session=session, raw=raw, new_password="a fresh long passphrase", policy=POLICY
        )
    with session_scope(engine) as session:
        assert accounts.authenticate(
            session=session, email=member.email, password="a fresh long passphrase"
        )
    assert (
        count_rows(
            engine, UserSession, UserSession.user_id == member.id, UserSession.revoked_at.is_(None)
        )
        == 0
    )


def test_an_email_change_waits_for_the_new_address(engine) -> None:
    member = create_member(engine, email="old@example.com")
    create_member(engine, email="taken@example.com")
    with session_scope(engine) as session:
        user = session.get(User, member.id)
        with pytest.raises(EmailTaken):
            links.request_email_change(
                session=session, user=user, new_email="TAKEN@example.com", policy=POLICY
            )
        with pytest.raises(InvalidInput):
            links.request_email_change(
                session=session, user=user, new_email="old@example.com", policy=POLICY
            )
        new_email, raw = links.request_email_change(
            session=session, user=user, new_email="New@Example.com", policy=POLICY
        )
    assert new_email == "new@example.com"
    with session_scope(engine) as session:
        assert session.get(User, member.id).email == "old@example.com"
        links.confirm_email_change(session=session, raw=raw, policy=POLICY)
    with session_scope(engine) as session:
        assert session.get(User, member.id).email == "new@example.com"


def test_single_sign_on_creates_links_and_refuses_by_the_rules(engine) -> None:
    existing = create_member(engine, email="known@example.com")
    with session_scope(engine) as session:
        new = accounts.sign_in_with_sso(
            session=session,
            issuer="https://idp",
            subject="new-1",
            email="Fresh@Example.com",
            email_verified=True,
            name="Fresh",
        )
        assert new.email == "fresh@example.com" and new.password_hash is None
        with pytest.raises(AuthenticationFailed, match="Sign in with your password"):
            accounts.sign_in_with_sso(
                session=session,
                issuer="https://idp",
                subject="x-2",
                email="known@example.com",
                email_verified=False,
            )
    with session_scope(engine) as session:
        linked = accounts.sign_in_with_sso(
            session=session,
            issuer="https://idp",
            subject="k-3",
            email="known@example.com",
            email_verified=True,
        )
        assert linked.id == existing.id
    with session_scope(engine) as session:
        again = accounts.sign_in_with_sso(
            session=session,
            issuer="https://idp",
            subject="k-3",
            email="changed@example.com",
            email_verified=False,
        )
        assert again.id == existing.id
    assert count_rows(engine, OAuthIdentity, OAuthIdentity.user_id == existing.id) == 1
    assert count_rows(engine, OAuthIdentity, OAuthIdentity.subject == "x-2") == 0


def profile_changes(**overrides) -> profiles.ProfileChanges:
    values = dict(
        display_name="Ada",
        address_line1="1 Main St",
        address_line2="",
        address_city="Paris",
        address_postal_code="75001",
        address_country="fr",
        wallet_address="0x" + "1" * 40,
        theme="dark",
        default_platform="youtube_shorts",
        email_notifications=False,
    )
    values.update(overrides)
    return profiles.ProfileChanges(**values)


def test_profile_saves_every_field_or_none_and_audits_the_change(engine) -> None:
    member = create_member(engine, display_name="Before")
    with session_scope(engine) as session:
        user = session.get(User, member.id)
        with pytest.raises(profiles.ProfileInvalid) as invalid:
            profiles.update_profile(
                session=session,
                user=user,
                changes=profile_changes(
                    wallet_address="0x123",
                    address_country="FRA",
                    display_name="x" * 81,
                    theme="neon",
                    default_platform="myspace",
                ),
            )
        assert set(invalid.value.errors) == {
            "wallet_address",
            "address_country",
            "display_name",
            "theme",
            "default_platform",
        }
    with session_scope(engine) as session:
        assert session.get(Profile, member.id).display_name == "Before"
        profiles.update_profile(
            session=session, user=session.get(User, member.id), changes=profile_changes()
        )
    with session_scope(engine) as session:
        profile = session.get(Profile, member.id)
        assert (profile.display_name, profile.address_country, profile.theme) == (
            "Ada",
            "FR",
            "dark",
        )
        # Admins read the audit trail through the domain (personal values are sealed in the table).
        (change,) = [
            entry
            for entry in audit.audit_trail(session=session, subject_user_id=member.id)
            if entry.action == "profile.updated"
        ]
        assert change.before["display_name"] == "Before" and change.after["display_name"] == "Ada"


def test_the_default_platform_is_one_of_the_catalogs_platforms_or_none(engine) -> None:
    member = create_member(engine)
    for code in ["", *get_catalog().platforms]:
        with session_scope(engine) as session:
            profiles.update_profile(
                session=session,
                user=session.get(User, member.id),
                changes=profile_changes(default_platform=code),
            )
        with session_scope(engine) as session:
            assert session.get(Profile, member.id).default_platform == code
    # The names the profile used before the catalog named the platforms.
    for old in ("instagram", "youtube", "x", "linkedin"):
        with session_scope(engine) as session, pytest.raises(profiles.ProfileInvalid) as invalid:
            profiles.update_profile(
                session=session,
                user=session.get(User, member.id),
                changes=profile_changes(default_platform=old),
            )
        assert set(invalid.value.errors) == {"default_platform"}


def image_bytes(fmt: str, size=(300, 200)) -> bytes:
    output = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(output, format=fmt)
    return output.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_avatars_are_stored_privately_as_small_webp(engine, tmp_path, fmt: str) -> None:
    member = create_member(engine)
    with session_scope(engine) as session:
        profile = profiles.set_avatar(
            session=session,
            user=session.get(User, member.id),
            data=image_bytes(fmt),
            storage=tmp_path,
        )
        stored = tmp_path / "avatars" / profile.avatar_path
    with Image.open(stored) as image:
        assert image.format == "WEBP" and max(image.size) == 256


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a" + b"\0" * 100, "not an image we can read"),
        (image_bytes("GIF"), "PNG, JPEG or WebP"),
        (b"x" * (2 * 1024 * 1024 + 1), "at most 2 MB"),
    ],
)
def test_bad_avatars_are_refused_and_change_nothing(engine, tmp_path, data, message) -> None:
    member = create_member(engine)
    with session_scope(engine) as session:
        with pytest.raises(InvalidInput, match=message):
            profiles.set_avatar(
                session=session, user=session.get(User, member.id), data=data, storage=tmp_path
            )
    assert not (tmp_path / "avatars").exists() or not any((tmp_path / "avatars").iterdir())


def test_deletion_erases_personal_data_keeps_the_ledger_and_blocks_sign_in(
    engine, tmp_path
) -> None:
    member = create_member(engine, display_name="Gone Soon", credits_granted=5)
    with session_scope(engine) as session:
        user = session.get(User, member.id)
        accounts.start_session(session=session, user=user, policy=POLICY)
        with pytest.raises(InvalidInput):
            profiles.delete_account(
                session=session, user=user, password="wrong one", storage=tmp_path
            )
    with session_scope(engine) as session:
        profiles.delete_account(
            session=session,
            user=session.get(User, member.id),
            password=DEFAULT_PASSWORD,
            storage=tmp_path,
        )
    with session_scope(engine) as session:
        user = session.get(User, member.id)
        assert user.deleted_at and user.password_hash is None and member.email != user.email
        assert session.get(Profile, member.id).display_name == ""
        with pytest.raises(AuthenticationFailed):
            accounts.authenticate(session=session, email=member.email, password=DEFAULT_PASSWORD)
    from dashboard_app.models import CreditEntry

    assert count_rows(engine, CreditEntry, CreditEntry.user_id == member.id) == 1
    assert (
        count_rows(
            engine, UserSession, UserSession.user_id == member.id, UserSession.revoked_at.is_(None)
        )
        == 0
    )
