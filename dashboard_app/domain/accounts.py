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
from pathlib import Path

from pwdlib import PasswordHash
from sqlalchemy import update
from sqlmodel import Session, col, func, select

from dashboard_app.domain.audit import record_audit
from dashboard_app.domain.credits import open_account
from dashboard_app.domain.errors import (
    AccountSuspended,
    AuthenticationFailed,
    EmailTaken,
    InvalidInput,
    NotFound,
)
from dashboard_app.models import OAuthIdentity, Profile, User, UserSession
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


# Passwords seen most often in breaches, refused whatever their length (compared lower-cased).
COMMON_PASSWORDS = frozenset(
    line.strip()
    for line in (Path(__file__).parent / "common_passwords.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)


def check_password_rules(password: str, *, email: str = "") -> None:
    """Length is what makes a password strong; well-known and guessable ones are refused."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Use at least {MIN_PASSWORD_LENGTH} characters for your password", field="password"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Use at most {MAX_PASSWORD_LENGTH} characters for your password", field="password"
        )
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) < 4:
        raise InvalidInput(
            "That password is too easy to guess; try a few unrelated words", field="password"
        )
    local_part = email.split("@", 1)[0].lower()
    if len(local_part) >= 4 and local_part in lowered:
        raise InvalidInput("Your password must not contain your email address", field="password")


def hash_password(password: str) -> str:
    return _password_hash.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    return _password_hash.verify(password, password_hash)


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
        check_password_rules(password, email=email)
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
    # Checked here too, so no path (password, link, single sign-on) opens one for them.
    if user.status != "active" or user.deleted_at is not None:
        raise AccountSuspended("This account cannot sign in")
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


def session_is_live(
    *,
    revoked_at: datetime | None,
    expires_at: datetime,
    last_seen_at: datetime,
    now: datetime,
    policy: SessionPolicy,
) -> bool:
    """A session ends when revoked, at its absolute expiry, or after `policy.idle` unseen."""
    return revoked_at is None and expires_at > now and last_seen_at + policy.idle > now


def member_can_sign_in(*, status: str, deleted_at: datetime | None) -> bool:
    return deleted_at is None and status == "active"


def seen_is_due(last_seen_at: datetime, now: datetime) -> bool:
    """Whether a session's last-seen time is worth writing (at most once a minute)."""
    return now - last_seen_at >= LAST_SEEN_RESOLUTION


def note_session_seen(*, session: Session, session_id: int, now: datetime) -> None:
    """Move a session's last-seen time forward (a visit: not a change any tab shows)."""
    session.execute(
        update(UserSession)
        .where(col(UserSession.id) == session_id, col(UserSession.last_seen_at) < now)
        .values(last_seen_at=now)
    )


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
    if row is None or not session_is_live(
        revoked_at=row.revoked_at,
        expires_at=row.expires_at,
        last_seen_at=row.last_seen_at,
        now=now,
        policy=policy,
    ):
        return None
    user = session.get(User, row.user_id)
    if user is None or not member_can_sign_in(status=user.status, deleted_at=user.deleted_at):
        return None
    if seen_is_due(row.last_seen_at, now):
        row.last_seen_at = now
        session.add(row)
        session.flush()
    assert row.id is not None
    return SignedIn(user=user, session_id=row.id)


def end_sessions(
    *,
    session: Session,
    user_id: int,
    reason: str,
    except_session_id: int | None = None,
    actor_user_id: int | None = None,
) -> int:
    """End every live session of a member (but one, if given); returns how many ended."""
    query = select(UserSession).where(
        UserSession.user_id == user_id, col(UserSession.revoked_at).is_(None)
    )
    if except_session_id is not None:
        query = query.where(UserSession.id != except_session_id)
    now, ended = utcnow(), 0
    for row in session.exec(query):
        row.revoked_at, row.revoked_reason = now, reason
        session.add(row)
        ended += 1
    if ended:
        record_audit(
            session=session,
            action="sessions.ended",
            actor_user_id=actor_user_id if actor_user_id is not None else user_id,
            subject_user_id=user_id,
            after={"count": ended, "reason": reason},
        )
    session.flush()
    return ended


def live_sessions(*, session: Session, user_id: int, policy: SessionPolicy) -> list[UserSession]:
    now = utcnow()
    return [
        row
        for row in session.exec(
            select(UserSession)
            .where(UserSession.user_id == user_id, col(UserSession.revoked_at).is_(None))
            .where(UserSession.expires_at > now)
            .order_by(col(UserSession.last_seen_at).desc())
        )
        if row.last_seen_at + policy.idle > now
    ]


def change_password(
    *,
    session: Session,
    user: User,
    current_password: str,
    new_password: str,
    keep_session_id: int | None,
) -> None:
    """The member's own change: needs the current password; ends every other session."""
    if not user.password_hash or not verify_password(current_password, user.password_hash):
        raise InvalidInput("Your current password is not right", field="current_password")
    set_password(
        session=session, user=user, new_password=new_password, keep_session_id=keep_session_id
    )


def set_password(
    *, session: Session, user: User, new_password: str, keep_session_id: int | None = None
) -> None:
    check_password_rules(new_password, email=user.email)
    assert user.id is not None
    user.password_hash = hash_password(new_password)
    user.updated_at = utcnow()
    session.add(user)
    record_audit(
        session=session,
        action="user.password_changed",
        actor_user_id=user.id,
        subject_user_id=user.id,
    )
    end_sessions(
        session=session,
        user_id=user.id,
        reason="password_changed",
        except_session_id=keep_session_id,
    )


def suspend_member(*, session: Session, user: User, reason: str, actor_user_id: int | None) -> None:
    """Suspend a member: they cannot sign in, see why, and every session ends now."""
    reason = reason.strip()
    if not reason or len(reason) > 500:
        raise InvalidInput("Give a reason of 1 to 500 characters", field="reason")
    assert user.id is not None
    before = {"status": user.status, "reason": user.suspended_reason}
    user.status, user.suspended_reason, user.updated_at = "suspended", reason, utcnow()
    session.add(user)
    record_audit(
        session=session,
        action="user.suspended",
        actor_user_id=actor_user_id,
        subject_user_id=user.id,
        before=before,
        after={"status": "suspended", "reason": reason},
    )
    end_sessions(session=session, user_id=user.id, reason="suspended", actor_user_id=actor_user_id)


def reinstate_member(*, session: Session, user: User, actor_user_id: int | None) -> None:
    before = {"status": user.status, "reason": user.suspended_reason}
    user.status, user.suspended_reason, user.updated_at = "active", None, utcnow()
    session.add(user)
    record_audit(
        session=session,
        action="user.reinstated",
        actor_user_id=actor_user_id,
        subject_user_id=user.id,
        before=before,
        after={"status": "active"},
    )
    session.flush()


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
    return shown_name(profile.display_name if profile else "", user.email)


def shown_name(display_name: str, email: str) -> str:
    """The name shown for a member: their display name, else their address before the @."""
    return display_name or email.split("@", 1)[0]


def list_members(*, session: Session, limit: int = 20) -> tuple[int, list[User]]:
    """How many accounts exist, and the newest ones (for admins)."""
    total = session.exec(select(func.count()).select_from(User)).one()
    users = session.exec(select(User).order_by(User.created_at.desc(), User.id.desc()).limit(limit))
    return int(total), list(users)


def sign_in_with_sso(
    *,
    session: Session,
    issuer: str,
    subject: str,
    email: str,
    email_verified: bool,
    name: str = "",
    ip_address: str = "",
) -> User:
    """The member behind a provider identity. A first sign-in creates the member; an identity
    whose email matches an existing account links to it only when the provider verified it."""
    identity = session.exec(
        select(OAuthIdentity).where(
            OAuthIdentity.provider == issuer, OAuthIdentity.subject == subject
        )
    ).first()
    if identity is not None:
        user = get_user(session=session, user_id=identity.user_id)
    else:
        if not email:
            raise AuthenticationFailed("The provider did not share an email address")
        email = normalise_email(email)
        user = find_user_by_email(session=session, email=email)
        if user is None:
            user = create_user(
                session=session,
                email=email,
                password=None,
                display_name=name[:80],
                email_verified=email_verified,
                ip_address=ip_address,
            )
        elif not email_verified:
            raise AuthenticationFailed(
                "An account with this email exists. Sign in with your password; single "
                "sign-on can join it only when the provider has verified the address."
            )
        assert user.id is not None
        session.add(OAuthIdentity(user_id=user.id, provider=issuer, subject=subject, email=email))
        record_audit(
            session=session,
            action="user.sso_linked",
            actor_user_id=user.id,
            subject_user_id=user.id,
            after={"provider": issuer, "email": email},
            ip_address=ip_address,
        )
        if email_verified and user.email_verified_at is None:
            user.email_verified_at = utcnow()
            session.add(user)
        session.flush()
    if user.deleted_at is not None:
        raise AuthenticationFailed("That account was deleted")
    if user.status == "suspended":
        reason = f": {user.suspended_reason}" if user.suspended_reason else ""
        raise AccountSuspended(f"This account is suspended{reason}")
    return user
