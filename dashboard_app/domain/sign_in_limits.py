"""Repeated failed sign-ins, per account and per address: slowed down, then refused a while.

An attempt takes its place before its password is checked: one transaction, under a lock per
account and per address, counts the failures in the window and records the attempt as a
failure; a right password turns it into a success afterwards. Parallel guesses queue for their
places, so at most `lock_after` passwords are checked per account and window. The table keeps
keyed hashes of the email and the address, never the values themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session, col, select

from dashboard_app.domain.audit import record_audit
from dashboard_app.domain.errors import DomainError
from dashboard_app.domain.rate_limits import subject_key
from dashboard_app.models import SignInAttempt
from dashboard_app.models.base import utcnow


class SignInRefused(DomainError):
    """Too many failures: sign-in is refused until the time the message gives."""


@dataclass(frozen=True)
class SignInLimits:
    window: timedelta = timedelta(minutes=15)
    slow_after: int = 3  # failures per account before each try is delayed
    delay_base_seconds: float = 1.0  # 1, 2, 4, 8 ... seconds
    max_delay_seconds: float = 8.0
    lock_after: int = 10  # failures per account that refuse it for the window
    lock_address_after: int = 50  # failures from one address, across accounts


@dataclass(frozen=True)
class SignInTicket:
    """A place to check one password, taken by `begin_sign_in`."""

    attempt_id: int
    account_key: str
    delay: float  # seconds to wait before checking the password
    locks_account: bool  # if this attempt fails, the account is locked for the window


def account_key(secret: str, email: str) -> str:
    return subject_key(secret, "sign-in-account", email.strip().lower())


def address_key(secret: str, ip_address: str) -> str:
    return subject_key(secret, "sign-in-address", ip_address) if ip_address else ""


def _lock(session: Session, *keys: str) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite's BEGIN IMMEDIATE already runs one writer at a time
    for key in sorted(key for key in keys if key):  # one order everywhere: no deadlock
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"sign-in:{key}"},
        )


def _failures(session: Session, column, value: str, since: datetime) -> list[datetime]:  # type: ignore[no-untyped-def]
    return list(
        session.exec(
            select(SignInAttempt.created_at)
            .where(column == value, SignInAttempt.created_at > since)
            .where(col(SignInAttempt.succeeded).is_(False))
            .order_by(col(SignInAttempt.created_at))
        )
    )


def begin_sign_in(
    *,
    session: Session,
    email: str,
    ip_address: str,
    limits: SignInLimits,
    secret: str,
    now: datetime | None = None,
) -> SignInTicket:
    """Take a place to check a password (recorded as a failure until `finish_sign_in` says
    otherwise), or SignInRefused, recording nothing. The caller commits before checking."""
    now = now or utcnow()
    since = now - limits.window
    account, address = account_key(secret, email), address_key(secret, ip_address)
    _lock(session, account, address)
    by_account = _failures(session, SignInAttempt.account_key, account, since)
    by_address = _failures(session, SignInAttempt.address_key, address, since) if address else []
    for failures, threshold in (
        (by_account, limits.lock_after),
        (by_address, limits.lock_address_after),
    ):
        if len(failures) >= threshold:
            until = failures[len(failures) - threshold] + limits.window
            raise SignInRefused(
                "Too many failed sign-ins. Try again after "
                f"{until.astimezone(UTC):%H:%M} UTC, or reset your password."
            )
    attempt = SignInAttempt(
        account_key=account, address_key=address, succeeded=False, created_at=now
    )
    session.add(attempt)
    session.flush()
    assert attempt.id is not None
    extra = len(by_account) - limits.slow_after
    delay = (
        0.0 if extra < 0 else min(limits.delay_base_seconds * 2**extra, limits.max_delay_seconds)
    )
    return SignInTicket(
        attempt_id=attempt.id,
        account_key=account,
        delay=min(delay, limits.max_delay_seconds),
        locks_account=len(by_account) + 1 == limits.lock_after,
    )


def finish_sign_in(
    *,
    session: Session,
    ticket: SignInTicket,
    password_matched: bool,
    limits: SignInLimits,
    user_id: int | None = None,
    ip_address: str = "",
) -> None:
    """Record the outcome of the password check the ticket allowed."""
    if password_matched:
        attempt = session.get(SignInAttempt, ticket.attempt_id)
        if attempt is not None:
            attempt.succeeded = True
            session.add(attempt)
            session.flush()
        return
    if ticket.locks_account:
        record_audit(
            session=session,
            action="sign_in.failure_burst",
            subject_user_id=user_id,
            # Without an account, the keyed hash still tells bursts on one address apart.
            after={
                "failures": limits.lock_after,
                "window_minutes": int(limits.window.total_seconds()) // 60,
                **({} if user_id is not None else {"account_key": ticket.account_key[:16]}),
            },
            ip_address=ip_address,
        )
