"""Sliding-window rate limits kept in the database, so every backend process shares them.

`take` records a use and counts the window in one transaction, under a lock on the
(action, subject) pair, so parallel requests cannot all slip under the limit. The subject is
hashed with the server's secret: the table never holds an email address or an IP address.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, text
from sqlmodel import Session, col, select

from dashboard_app.domain.errors import DomainError
from dashboard_app.models.base import utcnow
from dashboard_app.models.limits import RateLimitHit


@dataclass(frozen=True)
class Window:
    limit: int
    per: timedelta


class RateLimited(DomainError):
    """Too many uses; `retry_at` says when the next one is allowed."""

    def __init__(self, message: str, *, retry_at: datetime) -> None:
        super().__init__(message)
        self.retry_at = retry_at


def subject_key(secret: str, *parts: object) -> str:
    """A stable, keyed pseudonym for whoever is limited (an address, a member, a pair)."""
    raw = "\x1f".join(str(part).strip().lower() for part in parts)
    return hmac.new(secret.encode(), raw.encode(), hashlib.sha256).hexdigest()[:64]


def _lock(session: Session, action: str, subject: str) -> None:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # Held until the transaction ends; SQLite's BEGIN IMMEDIATE already serialises writers.
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"rate:{action}:{subject}"},
        )


def take(
    *,
    session: Session,
    action: str,
    subject: str,
    windows: Sequence[Window],
    now: datetime | None = None,
    message: str = "Too many requests.",
) -> None:
    """Record one use of `action` by `subject`, or raise RateLimited (recording nothing) when
    any window is already full."""
    if not windows:
        return
    now = now or utcnow()
    _lock(session, action, subject)
    longest = max(window.per for window in windows)
    uses = list(
        session.exec(
            select(RateLimitHit.created_at)
            .where(RateLimitHit.action == action, RateLimitHit.subject == subject)
            .where(RateLimitHit.created_at > now - longest)
            .order_by(col(RateLimitHit.created_at).desc())
        )
    )
    retry_at: datetime | None = None
    for window in windows:
        recent = [used for used in uses if used > now - window.per]
        if len(recent) >= window.limit:
            # The window frees a place when its oldest counted use leaves it.
            frees = recent[window.limit - 1] + window.per
            retry_at = frees if retry_at is None else max(retry_at, frees)
    if retry_at is not None:
        raise RateLimited(
            f"{message} Try again after {retry_at.astimezone(UTC):%H:%M} UTC.", retry_at=retry_at
        )
    session.add(RateLimitHit(action=action, subject=subject, created_at=now))
    session.flush()


def uses_in(
    *, session: Session, action: str, subject: str, per: timedelta, now: datetime | None = None
) -> int:
    now = now or utcnow()
    return session.exec(
        select(func.count())
        .select_from(RateLimitHit)
        .where(RateLimitHit.action == action, RateLimitHit.subject == subject)
        .where(RateLimitHit.created_at > now - per)
    ).one()


def prune(
    *, session: Session, older_than: timedelta = timedelta(days=2), now: datetime | None = None
) -> int:
    """Forget uses older than any window (run from the maintenance commands)."""
    cutoff = (now or utcnow()) - older_than
    result = session.exec(delete(RateLimitHit).where(col(RateLimitHit.created_at) < cutoff))  # type: ignore[call-overload]
    return int(result.rowcount or 0)
