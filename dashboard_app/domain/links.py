"""Single-use, expiring links mailed to members: verify an email, reset a password, confirm a
new email address. Only a keyed hash of each token is stored."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from dashboard_app.domain import accounts
from dashboard_app.domain.audit import record_audit
from dashboard_app.domain.errors import EmailTaken, InvalidInput
from dashboard_app.domain.rate_limits import Window, subject_key, take
from dashboard_app.models import AuthToken, User
from dashboard_app.models.base import utcnow

LIFETIMES = {
    "verify_email": timedelta(days=2),
    "change_email": timedelta(days=2),
    "reset_password": timedelta(hours=1),
}
USED_OR_EXPIRED = "This link has expired or was already used. Ask for a new one."
# Mail anyone can ask for again and again: limited per recipient address and per member, so
# neither an inbox nor our mail server's reputation can be flooded (settings override these).
MAIL_WINDOWS = (Window(3, timedelta(minutes=15)), Window(10, timedelta(days=1)))
MAIL_LIMITED = "You asked for this mail several times in a short while."


def take_mail_allowance(
    *,
    session: Session,
    purpose: str,
    address: str,
    user_id: int | None,
    policy: accounts.SessionPolicy,
    windows: Sequence[Window] = MAIL_WINDOWS,
    now: datetime | None = None,
) -> None:
    """Count one mail of `purpose` to `address` for the member, or raise RateLimited (the
    caller's transaction then rolls back, so a refused request counts for nothing)."""
    subjects = [subject_key(policy.secret_key, "mail-address", address)]
    if user_id is not None:
        subjects.append(subject_key(policy.secret_key, "mail-member", user_id))
    for subject in subjects:
        take(
            session=session,
            action=f"mail.{purpose}",
            subject=subject,
            windows=windows,
            now=now,
            message=MAIL_LIMITED,
        )


def issue_token(
    *,
    session: Session,
    user: User,
    purpose: str,
    policy: accounts.SessionPolicy,
    new_email: str | None = None,
    now: datetime | None = None,
) -> str:
    """A new link token; earlier unused tokens for the same purpose stop working."""
    now = now or utcnow()
    assert user.id is not None
    for older in session.exec(
        select(AuthToken).where(
            AuthToken.user_id == user.id,
            AuthToken.purpose == purpose,
            col(AuthToken.used_at).is_(None),
        )
    ):
        older.used_at = now
        session.add(older)
    raw = secrets.token_urlsafe(32)
    session.add(
        AuthToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=policy.token_hash(raw),
            new_email=new_email,
            created_at=now,
            expires_at=now + LIFETIMES[purpose],
        )
    )
    session.flush()
    return raw


def _consume(
    session: Session, raw: str, purpose: str, policy: accounts.SessionPolicy, now: datetime
) -> tuple[AuthToken, User]:
    if not raw or len(raw) > 200:
        raise InvalidInput(USED_OR_EXPIRED, field="token")
    token = session.exec(
        select(AuthToken).where(AuthToken.token_hash == policy.token_hash(raw)).with_for_update()
    ).first()
    if (
        token is None
        or token.purpose != purpose
        or token.used_at is not None
        or token.expires_at <= now
    ):
        raise InvalidInput(USED_OR_EXPIRED, field="token")
    user = session.get(User, token.user_id)
    if user is None or user.deleted_at is not None:
        raise InvalidInput(USED_OR_EXPIRED, field="token")
    token.used_at = now
    session.add(token)
    return token, user


def verify_email(
    *, session: Session, raw: str, policy: accounts.SessionPolicy, now: datetime | None = None
) -> User:
    now = now or utcnow()
    _, user = _consume(session, raw, "verify_email", policy, now)
    if user.email_verified_at is None:
        user.email_verified_at = now
        session.add(user)
        record_audit(
            session=session,
            action="user.email_verified",
            actor_user_id=user.id,
            subject_user_id=user.id,
            after={"email": user.email},
        )
    session.flush()
    return user


def confirm_email_change(
    *, session: Session, raw: str, policy: accounts.SessionPolicy, now: datetime | None = None
) -> User:
    """The new address is confirmed by following the link mailed to it; then it takes effect."""
    now = now or utcnow()
    token, user = _consume(session, raw, "change_email", policy, now)
    new_email = token.new_email or ""
    if accounts.find_user_by_email(session=session, email=new_email) is not None:
        raise EmailTaken("Another account now uses that email address", field="email")
    before = user.email
    user.email, user.email_verified_at, user.updated_at = new_email, now, now
    session.add(user)
    record_audit(
        session=session,
        action="user.email_changed",
        actor_user_id=user.id,
        subject_user_id=user.id,
        before={"email": before},
        after={"email": new_email},
    )
    session.flush()
    return user


def request_email_change(
    *,
    session: Session,
    user: User,
    new_email: str,
    policy: accounts.SessionPolicy,
    windows: Sequence[Window] = MAIL_WINDOWS,
    now: datetime | None = None,
) -> tuple[str, str]:
    """(normalised new address, link token). The change waits for that address's confirmation.
    RateLimited when the member or the new address had too many of these mails lately."""
    new_email = accounts.normalise_email(new_email)
    if new_email == user.email:
        raise InvalidInput("That is already your email address", field="email")
    if accounts.find_user_by_email(session=session, email=new_email) is not None:
        raise EmailTaken("Another account uses that email address", field="email")
    take_mail_allowance(
        session=session,
        purpose="change_email",
        address=new_email,
        user_id=user.id,
        policy=policy,
        windows=windows,
        now=now,
    )
    return new_email, issue_token(
        session=session,
        user=user,
        purpose="change_email",
        policy=policy,
        new_email=new_email,
        now=now,
    )


def request_verification(
    *,
    session: Session,
    user: User,
    policy: accounts.SessionPolicy,
    windows: Sequence[Window] = MAIL_WINDOWS,
    now: datetime | None = None,
) -> str:
    """A new verification link token, or RateLimited when too many were sent lately."""
    take_mail_allowance(
        session=session,
        purpose="verify_email",
        address=user.email,
        user_id=user.id,
        policy=policy,
        windows=windows,
        now=now,
    )
    return issue_token(session=session, user=user, purpose="verify_email", policy=policy, now=now)


def request_password_reset(
    *,
    session: Session,
    email: str,
    policy: accounts.SessionPolicy,
    windows: Sequence[Window] = MAIL_WINDOWS,
    now: datetime | None = None,
) -> tuple[User, str] | None:
    """A reset token for the account with this email, or None when there is no such account.
    RateLimited when that address had too many reset mails lately. The caller answers the same
    in all three cases, so accounts cannot be discovered."""
    try:
        email = accounts.normalise_email(email)
    except InvalidInput:
        return None
    user = accounts.find_user_by_email(session=session, email=email)
    if user is None or user.deleted_at is not None or user.status != "active":
        return None
    take_mail_allowance(
        session=session,
        purpose="reset_password",
        address=email,
        user_id=user.id,
        policy=policy,
        windows=windows,
        now=now,
    )
    return user, issue_token(
        session=session, user=user, purpose="reset_password", policy=policy, now=now
    )


def reset_password(
    *,
    session: Session,
    raw: str,
    new_password: str,
    policy: accounts.SessionPolicy,
    now: datetime | None = None,
) -> User:
    """Set a new password from a reset link; every session of the member ends."""
    now = now or utcnow()
    token, user = _consume(session, raw, "reset_password", policy, now)
    accounts.check_password_rules(new_password, email=user.email)
    accounts.set_password(session=session, user=user, new_password=new_password)
    if user.email_verified_at is None:
        # Following a link mailed to the address proves the member reads it.
        user.email_verified_at = now
        session.add(user)
    session.flush()
    return user
