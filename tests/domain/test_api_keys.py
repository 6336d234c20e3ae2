"""Personal API keys as worked examples: made and shown once, stored hashed, checked, noted as
used at most once a minute, revoked (own keys only), at most 20 live keys a member."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, api_keys
from dashboard_app.domain.audit import audit_trail
from dashboard_app.domain.errors import InvalidInput, NotFound
from dashboard_app.models import ApiKey
from dashboard_app.models.base import utcnow
from tests.factories import create_member


def make(engine, user_id: int, *, name: str = "CI", scope: str = "read-write") -> str:
    with session_scope(engine) as session:
        return api_keys.create_api_key(
            session=session, user_id=user_id, name=name, scope=scope, ip_address="198.51.100.4"
        ).secret


def check(engine, secret: str, now=None) -> ApiKey | None:
    with session_scope(engine) as session:
        return api_keys.authenticate(session=session, secret=secret, now=now)


def stored(engine, user_id: int) -> list[ApiKey]:
    with session_scope(engine) as session:
        return list(session.exec(select(ApiKey).where(ApiKey.user_id == user_id)))


def test_a_key_is_shown_once_and_only_its_sha256_is_stored(engine) -> None:
    member = create_member(engine)
    secret = make(engine, member.id, name="  My   laptop ", scope="read")
    assert secret.startswith("dk_") and len(secret) >= 3 + 12 + 1 + 43
    [row] = stored(engine, member.id)
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {row.name, row.prefix, row.secret_hash}
    assert secret[3:15] == row.prefix and api_keys.display_prefix(row) == secret[:15]
    assert (row.name, row.scope, row.last_used_at, row.revoked_at) == (
        "My laptop",
        "read",
        None,
        None,
    )
    # A second key is a different secret.
    assert make(engine, member.id) != secret


def test_the_right_secret_finds_its_key_and_anything_else_finds_none(engine) -> None:
    member = create_member(engine)
    secret = make(engine, member.id)
    found = check(engine, secret)
    assert found is not None and found.user_id == member.id
    wrong_secret = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for attempt in (
        wrong_secret,
        secret + "x",
        secret[:15],
        "dk_",
        "",
        "Bearer " + secret,
        secret.upper(),
    ):
        assert check(engine, attempt) is None, attempt


def test_a_suspended_or_deleted_members_key_no_longer_works(engine, tmp_path) -> None:
    from dashboard_app.domain import profiles
    from tests.factories import DEFAULT_PASSWORD

    suspended, deleted = create_member(engine), create_member(engine)
    first, second = make(engine, suspended.id), make(engine, deleted.id)
    with session_scope(engine) as session:
        user = accounts.get_user(session=session, user_id=suspended.id)
        accounts.suspend_member(session=session, user=user, reason="abuse", actor_user_id=None)
    with session_scope(engine) as session:
        user = accounts.get_user(session=session, user_id=deleted.id)
        profiles.delete_account(
            session=session, user=user, password=DEFAULT_PASSWORD, storage=tmp_path
        )
    assert check(engine, first) is None
    assert check(engine, second) is None
    [row] = stored(engine, deleted.id)
    assert row.revoked_at is not None  # deleting the account revokes its keys


def test_last_used_is_written_at_most_once_a_minute(engine) -> None:
    member = create_member(engine)
    secret = make(engine, member.id)
    t0 = utcnow()
    check(engine, secret, now=t0)
    [row] = stored(engine, member.id)
    assert row.last_used_at == t0
    check(engine, secret, now=t0 + timedelta(seconds=59))
    [row] = stored(engine, member.id)
    assert row.last_used_at == t0  # a busy key does not write on every call
    check(engine, secret, now=t0 + timedelta(seconds=61))
    [row] = stored(engine, member.id)
    assert row.last_used_at == t0 + timedelta(seconds=61)


def test_revoking_is_for_the_owner_only_and_idempotent(engine) -> None:
    owner, other = create_member(engine), create_member(engine)
    secret = make(engine, owner.id)
    [row] = stored(engine, owner.id)
    with session_scope(engine) as session, pytest.raises(NotFound):
        api_keys.revoke_api_key(session=session, user_id=other.id, key_id=row.id)
    for missing in (row.id + 1000, 2**40, -1, "1", None, True):
        with session_scope(engine) as session, pytest.raises(NotFound):
            api_keys.revoke_api_key(session=session, user_id=owner.id, key_id=missing)
    assert check(engine, secret) is not None  # refused attempts changed nothing
    for _ in range(2):
        with session_scope(engine) as session:
            api_keys.revoke_api_key(
                session=session, user_id=owner.id, key_id=row.id, ip_address="198.51.100.4"
            )
    assert check(engine, secret) is None
    with session_scope(engine) as session:
        assert api_keys.list_api_keys(session=session, user_id=owner.id) == []
        trail = audit_trail(session=session, subject_user_id=owner.id)
    actions = [record.action for record in trail if record.action.startswith("api_key.")]
    assert actions == ["api_key.revoked", "api_key.created"]  # the second revoke wrote nothing
    assert {record.ip_address for record in trail if record.action.startswith("api_key.")} == {
        "198.51.100.4"
    }


def test_a_member_holds_at_most_twenty_live_keys(engine) -> None:
    member = create_member(engine)
    for number in range(api_keys.MAX_LIVE_KEYS):
        make(engine, member.id, name=f"key {number}")
    with pytest.raises(InvalidInput, match="revoke one"):
        make(engine, member.id, name="one too many")
    assert len(stored(engine, member.id)) == api_keys.MAX_LIVE_KEYS
    with session_scope(engine) as session:
        oldest = api_keys.list_api_keys(session=session, user_id=member.id)[-1]
        api_keys.revoke_api_key(session=session, user_id=member.id, key_id=oldest.id)
    make(engine, member.id, name="in its place")


@pytest.mark.parametrize(
    ("name", "scope", "field"),
    [
        ("", "read", "name"),
        ("   ", "read", "name"),
        ("x" * 81, "read", "name"),
        ("tab\x00name", "read", "name"),
        (42, "read", "name"),
        ("CI", "write", "scope"),
        ("CI", "admin", "scope"),
        ("CI", None, "scope"),
    ],
)
def test_a_bad_name_or_scope_is_refused_and_nothing_is_made(engine, name, scope, field) -> None:
    member = create_member(engine)
    with pytest.raises(InvalidInput) as refused:
        make(engine, member.id, name=name, scope=scope)
    assert refused.value.field == field
    assert stored(engine, member.id) == []


def test_racing_requests_cannot_pass_twenty_live_keys(engine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    member = create_member(engine)
    for number in range(api_keys.MAX_LIVE_KEYS - 2):
        make(engine, member.id, name=f"key {number}")

    def attempt(number: int) -> bool:
        try:
            make(engine, member.id, name=f"racer {number}")
        except InvalidInput:
            return False
        return True

    with ThreadPoolExecutor(max_workers=6) as pool:
        made = list(pool.map(attempt, range(6)))
    assert made.count(True) == 2
    assert len(stored(engine, member.id)) == api_keys.MAX_LIVE_KEYS
