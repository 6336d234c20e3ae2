"""Abuse limits on accounts, as worked examples: failed sign-ins slowed, then refused, even when
guesses arrive in parallel; mail members can ask for again, limited per address and member."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, links
from dashboard_app.domain.rate_limits import RateLimited
from dashboard_app.domain.sign_in_limits import (
    SignInLimits,
    SignInRefused,
    begin_sign_in,
    finish_sign_in,
)
from dashboard_app.models import AuditEntry, SignInAttempt, User
from dashboard_app.models.base import utcnow
from tests.factories import create_member

POLICY = accounts.SessionPolicy(
    secret_key="s" * 48, idle=timedelta(hours=1), absolute=timedelta(days=1)
)
LIMITS = SignInLimits(
    delay_base_seconds=1.0,
    max_delay_seconds=8.0,
    slow_after=3,
    lock_after=10,
    lock_address_after=50,
)


def test_reset_mail_is_limited_three_per_quarter_hour_and_ten_a_day(engine) -> None:
    member = create_member(engine)
    start = utcnow()

    def ask(minutes: float):  # type: ignore[no-untyped-def]
        with session_scope(engine) as session:
            return links.request_password_reset(
                session=session,
                email=member.email,
                policy=POLICY,
                now=start + timedelta(minutes=minutes),
            )

    for minute in (0, 1, 2):
        assert ask(minute) is not None
    with pytest.raises(RateLimited, match="Try again after"):
        ask(5)
    # Each quarter of an hour allows three more, up to ten in a day.
    for minute in (16, 17, 18, 32, 33, 34, 48):
        assert ask(minute) is not None
    with pytest.raises(RateLimited) as limited:
        ask(64)
    assert limited.value.retry_at == start + timedelta(days=1)
    assert ask(24 * 60 + 1) is not None


def test_email_change_mail_is_limited_per_member_and_per_new_address(engine) -> None:
    member = create_member(engine)
    with session_scope(engine) as session:
        user = session.get(User, member.id)
        for n in range(3):
            links.request_email_change(
                session=session, user=user, new_email=f"new-{n}@example.com", policy=POLICY
            )
    with pytest.raises(RateLimited, match="Try again after"), session_scope(engine) as session:
        links.request_email_change(
            session=session,
            user=session.get(User, member.id),
            new_email="new-3@example.com",
            policy=POLICY,
        )
    # One address cannot be flooded by several members either.
    for _ in range(3):
        with session_scope(engine) as session:
            other = session.get(User, create_member(engine).id)
            links.request_email_change(
                session=session, user=other, new_email="victim@example.com", policy=POLICY
            )
    with pytest.raises(RateLimited), session_scope(engine) as session:
        links.request_email_change(
            session=session,
            user=session.get(User, create_member(engine).id),
            new_email="Victim@Example.com",
            policy=POLICY,
        )


def test_verification_mail_is_limited_per_member(engine) -> None:
    member = create_member(engine)
    with session_scope(engine) as session:
        user = session.get(User, member.id)
        user.email_verified_at = None
        tokens = [
            links.request_verification(session=session, user=user, policy=POLICY) for _ in range(3)
        ]
    assert len(set(tokens)) == 3
    with pytest.raises(RateLimited, match="Try again after"), session_scope(engine) as session:
        links.request_verification(
            session=session, user=session.get(User, member.id), policy=POLICY
        )


SECRET = "t" * 48


def failed_attempt(session, email: str, ip: str, at) -> float:
    """One wrong password: take a place, then record the failure; the delay it was given."""
    ticket = begin_sign_in(
        session=session, email=email, ip_address=ip, limits=LIMITS, secret=SECRET, now=at
    )
    user = accounts.find_user_by_email(session=session, email=email)
    finish_sign_in(
        session=session,
        ticket=ticket,
        password_matched=False,
        limits=LIMITS,
        user_id=user.id if user else None,
    )
    return ticket.delay


def test_failed_sign_ins_are_slowed_then_refused_then_forgiven(engine) -> None:
    member = create_member(engine)
    now = utcnow()
    with session_scope(engine) as session:
        delays = [
            failed_attempt(session, member.email, "10.0.0.1", now + timedelta(seconds=i))
            for i in range(10)
        ]
    assert delays == [0, 0, 0, 1, 2, 4, 8, 8, 8, 8]
    with session_scope(engine) as session:
        with pytest.raises(SignInRefused, match="Try again after"):
            begin_sign_in(
                session=session,
                email=member.email.upper(),
                ip_address="10.0.0.2",
                limits=LIMITS,
                secret=SECRET,
                now=now + timedelta(minutes=5),
            )
        # Another account from the same address is not locked by this one's failures.
        other = begin_sign_in(
            session=session,
            email="other@example.com",
            ip_address="10.0.0.1",
            limits=LIMITS,
            secret=SECRET,
            now=now + timedelta(minutes=5),
        )
        assert other.delay == 0
        # The window passes.
        later = begin_sign_in(
            session=session,
            email=member.email,
            ip_address="10.0.0.1",
            limits=LIMITS,
            secret=SECRET,
            now=now + timedelta(minutes=16),
        )
        assert later.delay == 0
        bursts = session.exec(
            select(AuditEntry).where(AuditEntry.action == "sign_in.failure_burst")
        ).all()
        assert len(bursts) == 1 and bursts[0].subject_user_id == member.id


def test_a_right_password_is_not_counted_as_a_failure(engine) -> None:
    member = create_member(engine)
    with session_scope(engine) as session:
        for _ in range(LIMITS.lock_after - 1):
            failed_attempt(session, member.email, "10.0.0.1", utcnow())
        ticket = begin_sign_in(
            session=session,
            email=member.email,
            ip_address="10.0.0.1",
            limits=LIMITS,
            secret=SECRET,
        )
        finish_sign_in(session=session, ticket=ticket, password_matched=True, limits=LIMITS)
    with session_scope(engine) as session:
        # Nine failures and a success: one more try is still allowed.
        begin_sign_in(
            session=session,
            email=member.email,
            ip_address="10.0.0.1",
            limits=LIMITS,
            secret=SECRET,
        )


def test_parallel_attempts_take_at_most_lock_after_places(engine) -> None:
    member = create_member(engine)
    tries = LIMITS.lock_after + 6
    start = threading.Barrier(tries)

    def attempt(n: int) -> str:
        start.wait()
        try:
            with session_scope(engine) as session:
                begin_sign_in(
                    session=session,
                    email=member.email,
                    ip_address=f"10.0.1.{n}",
                    limits=LIMITS,
                    secret=SECRET,
                )
        except SignInRefused:
            return "refused"
        return "checked"

    with ThreadPoolExecutor(max_workers=tries) as pool:
        outcomes = list(pool.map(attempt, range(tries)))
    assert outcomes.count("checked") == LIMITS.lock_after
    assert outcomes.count("refused") == tries - LIMITS.lock_after


def test_sign_in_attempts_keep_no_email_or_address(engine) -> None:
    member = create_member(engine)
    with session_scope(engine) as session:
        failed_attempt(session, member.email, "192.0.2.77", utcnow())
        failed_attempt(session, "unknown-person@example.com", "192.0.2.77", utcnow())
    with session_scope(engine) as session:
        rows = [row.model_dump() for row in session.exec(select(SignInAttempt))]
    assert len(rows) == 2
    stored = repr(rows).lower()
    for value in (member.email, "unknown-person", "192.0.2.77"):
        assert value.lower() not in stored
