"""Repeated failed sign-ins, per account and per address: slowed down, then refused a while."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from dashboard_app.domain.audit import record_audit
from dashboard_app.domain.errors import DomainError
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


def _failures(session: Session, column, value: str, since: datetime) -> list[datetime]:  # type: ignore[no-untyped-def]
    return list(
        session.exec(
            select(SignInAttempt.created_at)
            .where(column == value, SignInAttempt.created_at > since)
            .where(col(SignInAttempt.succeeded).is_(False))
            .order_by(col(SignInAttempt.created_at))
        )
    )


def check_sign_in(
    *,
    session: Session,
    email: str,
    ip_address: str,
    limits: SignInLimits,
    now: datetime | None = None,
) -> float:
    """Seconds to wait before checking the password, or SignInRefused."""
    now = now or utcnow()
    since = now - limits.window
    email = email.strip().lower()
    by_account = _failures(session, SignInAttempt.email, email, since)
    by_address = (
        _failures(session, SignInAttempt.ip_address, ip_address, since) if ip_address else []
    )
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
    extra = len(by_account) - limits.slow_after
    if extra < 0:
        return 0.0
    return min(limits.delay_base_seconds * 2**extra, limits.max_delay_seconds)


def record_sign_in(
    *,
    session: Session,
    email: str,
    ip_address: str,
    succeeded: bool,
    limits: SignInLimits,
    user_id: int | None = None,
    now: datetime | None = None,
) -> None:
    now = now or utcnow()
    email = email.strip().lower()[:320]
    session.add(
        SignInAttempt(email=email, ip_address=ip_address[:64], succeeded=succeeded, created_at=now)
    )
    session.flush()
    if succeeded:
        return
    count = session.exec(
        select(func.count())
        .select_from(SignInAttempt)
        .where(
            SignInAttempt.email == email,
            col(SignInAttempt.succeeded).is_(False),
            SignInAttempt.created_at > now - limits.window,
        )
    ).one()
    if count == limits.lock_after:
        record_audit(
            session=session,
            action="sign_in.failure_burst",
            subject_user_id=user_id,
            after={
                "email": email,
                "failures": count,
                "window_minutes": limits.window.seconds // 60,
            },
            ip_address=ip_address,
        )
