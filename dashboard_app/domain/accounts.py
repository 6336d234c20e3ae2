"""Accounts: members and admins, password sign-in, and server-side sessions.

The session cookie carries a random token; the database keeps only its keyed hash, so a leaked
database row cannot be replayed as a cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pwdlib import PasswordHash
from sqlmodel import Session, func, select

from dashboard_app.domain.audit import record_audit
from dashboard_app.domain.credits import open_account
from dashboard_app.domain.errors import (
    AccountSuspended,
    AuthenticationFailed,
    EmailTaken,
    InvalidInput,
    NotFound,
)
from dashboard_app.models import Profile, User, UserSession
from dashboard_app.models.base import utcnow
from dashboard_app.models.users import ROLES

EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
# Sessions are touched at most this often, so a busy tab does not write on every event.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)

_password_hash = PasswordHash.recommended()
# Verified against when the email is unknown, so both paths cost one argon2 verification.
_DUMMY_HASH = _password_hash.hash(secrets.token_urlsafe(16))


def normalise_email(email: str) -> str:
    cleaned = (email or "").strip().lower()
    if len(cleaned) > 320 or not EMAIL_PATTERN.match(cleaned):
        raise InvalidInput("Enter a valid email address, like name@example.com", field="email")
    return cleaned


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Use at least {MIN_PASSWORD_LENGTH} characters for your password", field="password"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Use at most {MAX_PASSWORD_LENGTH} characters for your password", field="password"
        )


def hash_password(password: str) -> str:
    return _password_hash.hash(password)


def find_user_by_email(*, session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == email.strip().lower())).first()


def create_user(
    *,
    session: Session,
    email: str,
    password: str | None,
    display_name: str = "",
    role: str = "member",
    email_verified: bool = False,
    ip_address: str = "",
) -> User:
    """A new member with a profile and an empty credit account."""
    email = normalise_email(email)
    if role not in ROLES:
        raise InvalidInput(f"Unknown role '{role}'", field="role")
    if password is not None:
        check_password_rules(password)
    if len(display_name) > 80:
        raise InvalidInput("Use at most 80 characters for your name", field="display_name")
    if find_user_by_email(session=session, email=email) is not None:
        raise EmailTaken("An account with this email already exists", field="email")
    now = utcnow()
    user = User(
        email=email,
        password_hash=hash_password(password) if password is not None else None,
        role=role,
        email_verified_at=now if email_verified else None,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    session.flush()
    assert user.id is not None
    session.add(Profile(user_id=user.id, display_name=display_name.strip(), updated_at=now))
    open_account(session=session, user_id=user.id)
    record_audit(
        session=session,
        action="user.created",
        actor_user_id=user.id,
        subject_user_id=user.id,
        after={"email": email, "role": role},
        ip_address=ip_address,
    )
    return user


def authenticate(*, session: Session, email: str, password: str) -> User:
    """The member these credentials belong to, or AuthenticationFailed with a safe message."""
    user = find_user_by_email(session=session, email=email or "")
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    valid = _password_hash.verify(password or "", stored)
    if user is None or not user.password_hash or not valid or user.deleted_at is not None:
        raise AuthenticationFailed("That email and password do not match an account")
    if user.status == "suspended":
        reason = f": {user.suspended_reason}" if user.suspended_reason else ""
        raise AccountSuspended(f"This account is suspended{reason}")
    return user


def set_role(*, session: Session, user: User, role: str, actor_user_id: int | None) -> User:
    if role not in ROLES:
        raise InvalidInput(f"Unknown role '{role}'", field="role")
    before = user.role
    if before != role:
        user.role = role
        user.updated_at = utcnow()
        session.add(user)
        record_audit(
            session=session,
            action="user.role_changed",
            actor_user_id=actor_user_id,
            subject_user_id=user.id,
            before={"role": before},
            after={"role": role},
        )
        session.flush()
    return user


# --- Sessions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionPolicy:
    secret_key: str
    idle: timedelta
    absolute: timedelta

    def token_hash(self, token: str) -> str:
        return hmac.new(self.secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()


def start_session(
    *,
    session: Session,
    user: User,
    policy: SessionPolicy,
    user_agent: str = "",
    ip_address: str = "",
) -> str:
    """Open a session for the member and return the token for the cookie (shown only once)."""
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        UserSession(
            token_hash=policy.token_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + policy.absolute,
            user_agent=user_agent[:512],
            ip_address=ip_address[:64],
        )
    )
    session.flush()
    return token


@dataclass(frozen=True)
class SignedIn:
    user: User
    session_id: int


def resolve_session(
    *, session: Session, token: str | None, policy: SessionPolicy, now: datetime | None = None
) -> SignedIn | None:
    """The member behind a session token, if the session is live; None otherwise."""
    if not token:
        return None
    now = now or utcnow()
    row = session.exec(
        select(UserSession).where(UserSession.token_hash == policy.token_hash(token))
    ).first()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if row.last_seen_at + policy.idle <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or user.deleted_at is not None or user.status != "active":
        return None
    if now - row.last_seen_at >= LAST_SEEN_RESOLUTION:
        row.last_seen_at = now
        session.add(row)
        session.flush()
    assert row.id is not None
    return SignedIn(user=user, session_id=row.id)


def end_session(*, session: Session, token: str | None, policy: SessionPolicy) -> bool:
    if not token:
        return False
    row = session.exec(
        select(UserSession).where(UserSession.token_hash == policy.token_hash(token))
    ).first()
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    row.revoked_reason = "signed_out"
    session.add(row)
    session.flush()
    return True


def get_user(*, session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("No such member")
    return user


def display_name_of(*, session: Session, user: User) -> str:
    profile = session.get(Profile, user.id)
    if profile is not None and profile.display_name:
        return profile.display_name
    return user.email.split("@", 1)[0]


def list_members(*, session: Session, limit: int = 20) -> tuple[int, list[User]]:
    """How many accounts exist, and the newest ones (for admins)."""
    total = session.exec(select(func.count()).select_from(User)).one()
    users = session.exec(select(User).order_by(User.created_at.desc(), User.id.desc()).limit(limit))
    return int(total), list(users)
