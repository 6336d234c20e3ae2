"""Personal API keys: made (the secret shown once), listed, revoked, and checked on each call.

A key reads `dk_<prefix>_<secret>`: the prefix (12 hex characters, random, not secret) finds
the row; the whole key's SHA-256 is what is stored and compared. Keys carry 32 random bytes, so
nobody can guess one from its hash and a fast hash is the right tool: a slow password hash
(argon2) would only add its cost to every API call without adding any safety.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from dashboard_app.domain.audit import record_audit
from dashboard_app.domain.errors import InvalidInput, NotFound
from dashboard_app.domain.ids import record_id
from dashboard_app.models import ApiKey, User
from dashboard_app.models.api_keys import API_KEY_SCOPES
from dashboard_app.models.base import utcnow

KEY_PREFIX = "dk_"
MAX_LIVE_KEYS = 20
MAX_NAME = 80
# A busy key writes its last-used time at most this often, not on every call.
LAST_USED_EVERY = timedelta(minutes=1)
NOT_FOUND = "No such API key"
_KEY_PATTERN = re.compile(r"^dk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
# Compared against when no key has the prefix, so a miss costs what a wrong secret costs.
_NO_KEY_HASH = hashlib.sha256(b"no such key").hexdigest()


@dataclass(frozen=True)
class CreatedKey:
    """A new key and its plaintext, which exists only here: show it once, then forget it."""

    key: ApiKey
    secret: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _clean_name(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidInput("Give the key a name", field="name")
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidInput("Give the key a name", field="name")
    if len(cleaned) > MAX_NAME or not cleaned.isprintable():
        raise InvalidInput(f"A key's name is at most {MAX_NAME} characters", field="name")
    return cleaned


def _clean_scope(scope: object) -> str:
    if scope not in API_KEY_SCOPES:
        raise InvalidInput("Choose read or read-write", field="scope")
    return str(scope)


def _live(user_id: int):  # type: ignore[no-untyped-def]
    return select(ApiKey).where(ApiKey.user_id == user_id, col(ApiKey.revoked_at).is_(None))


def create_api_key(
    *, session: Session, user_id: int, name: object, scope: object, ip_address: str = ""
) -> CreatedKey:
    """A new key for the member; `secret` is the only copy of the plaintext."""
    clean_name, clean_scope = _clean_name(name), _clean_scope(scope)
    # The member's row, locked, so two requests cannot both make the twentieth key
    # (SQLite's BEGIN IMMEDIATE serialises writers already).
    user = session.exec(
        select(User).where(User.id == user_id).with_for_update(key_share=True)
    ).first()
    if user is None or user.deleted_at is not None:
        raise NotFound("No such member")
    live = session.exec(
        select(func.count())
        .select_from(ApiKey)
        .where(ApiKey.user_id == user_id, col(ApiKey.revoked_at).is_(None))
    ).one()
    if live >= MAX_LIVE_KEYS:
        raise InvalidInput(
            f"You have {MAX_LIVE_KEYS} API keys, the most a member may hold: "
            "revoke one you no longer use first",
            field="name",
        )
    prefix = secrets.token_hex(6)
    secret = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        user_id=user_id,
        name=clean_name,
        prefix=prefix,
        secret_hash=hash_secret(secret),
        scope=clean_scope,
    )
    session.add(key)
    session.flush()
    record_audit(
        session=session,
        action="api_key.created",
        actor_user_id=user_id,
        subject_user_id=user_id,
        after={"key_id": key.id, "key_name": clean_name, "scope": clean_scope, "prefix": prefix},
        ip_address=ip_address,
    )
    return CreatedKey(key=key, secret=secret)


def list_api_keys(*, session: Session, user_id: int) -> list[ApiKey]:
    """The member's live keys, newest first."""
    return list(
        session.exec(_live(user_id).order_by(col(ApiKey.created_at).desc(), col(ApiKey.id).desc()))
    )


def revoke_api_key(
    *, session: Session, user_id: int, key_id: object, ip_address: str = ""
) -> ApiKey:
    """Revoke one of the member's own keys. Revoking a revoked key changes nothing; another
    member's key, or no key, is NotFound (the same answer)."""
    found = record_id(key_id)
    key = session.get(ApiKey, found) if found is not None else None
    if key is None or key.user_id != user_id:
        raise NotFound(NOT_FOUND)
    if key.revoked_at is not None:
        return key
    key.revoked_at = utcnow()
    session.add(key)
    record_audit(
        session=session,
        action="api_key.revoked",
        actor_user_id=user_id,
        subject_user_id=user_id,
        before={"key_id": key.id, "key_name": key.name, "prefix": key.prefix},
        ip_address=ip_address,
    )
    session.flush()
    return key


def revoke_all(*, session: Session, user_id: int) -> int:
    """Revoke every live key of the member (their account is being deleted)."""
    result = session.exec(  # type: ignore[call-overload]
        update(ApiKey)
        .where(col(ApiKey.user_id) == user_id, col(ApiKey.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount or 0)


def display_prefix(key: ApiKey) -> str:
    """What a member sees of a key in lists: enough to tell keys apart, useless to a thief."""
    return f"{KEY_PREFIX}{key.prefix}"


def authenticate(*, session: Session, secret: str, now: datetime | None = None) -> ApiKey | None:
    """The live key whose plaintext is `secret`, of an active member, or None. The hash is
    compared in constant time, and a miss costs the same comparison. Notes the key's use
    (at most once a LAST_USED_EVERY)."""
    found = _KEY_PATTERN.match(secret) if isinstance(secret, str) else None
    key = (
        session.exec(select(ApiKey).where(ApiKey.prefix == found.group(1))).first()
        if found
        else None
    )
    matches = hmac.compare_digest(
        hash_secret(secret if isinstance(secret, str) else ""),
        key.secret_hash if key is not None else _NO_KEY_HASH,
    )
    if key is None or not matches or key.revoked_at is not None:
        return None
    owner = session.get(User, key.user_id)
    if owner is None or owner.deleted_at is not None or owner.status != "active":
        return None
    now = now or utcnow()
    if key.last_used_at is None or key.last_used_at <= now - LAST_USED_EVERY:
        # One conditional statement: of several calls racing in the same minute, one writes.
        session.exec(  # type: ignore[call-overload]
            update(ApiKey)
            .where(col(ApiKey.id) == key.id)
            .where(
                or_(
                    col(ApiKey.last_used_at).is_(None),
                    col(ApiKey.last_used_at) <= now - LAST_USED_EVERY,
                )
            )
            .values(last_used_at=now)
        )
        # Told to the loaded row without marking it changed, so the commit writes nothing more.
        set_committed_value(key, "last_used_at", now)
    return key
