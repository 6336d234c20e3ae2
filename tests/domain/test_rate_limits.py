"""Rate limits as worked examples: the windows, the refusal's time, and racing requests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from dashboard_app.db import session_scope
from dashboard_app.domain import rate_limits
from dashboard_app.domain.rate_limits import RateLimited, Window
from dashboard_app.models import RateLimitHit
from tests.factories import count_rows

WINDOWS = [Window(3, timedelta(minutes=15)), Window(10, timedelta(days=1))]
T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def take(engine, subject: str, now: datetime) -> None:
    with session_scope(engine) as session:
        rate_limits.take(session=session, action="mail", subject=subject, windows=WINDOWS, now=now)


def test_three_per_quarter_hour_then_refused_until_the_first_leaves_the_window(engine) -> None:
    for minute in (0, 1, 2):
        take(engine, "a", T0 + timedelta(minutes=minute))
    with pytest.raises(RateLimited) as refused:
        take(engine, "a", T0 + timedelta(minutes=3))
    assert refused.value.retry_at == T0 + timedelta(minutes=15)
    assert "09:15 UTC" in refused.value.message
    assert count_rows(engine, RateLimitHit) == 3  # the refusal recorded nothing
    take(engine, "b", T0 + timedelta(minutes=3))  # someone else is not limited
    take(engine, "a", T0 + timedelta(minutes=15, seconds=1))


def test_ten_per_day_across_windows(engine) -> None:
    for hour in range(10):
        take(engine, "a", T0 + timedelta(hours=hour))
    with pytest.raises(RateLimited) as refused:
        take(engine, "a", T0 + timedelta(hours=11))
    assert refused.value.retry_at == T0 + timedelta(days=1)


def test_racing_requests_never_pass_the_limit(engine) -> None:
    def attempt(_: int) -> bool:
        try:
            take(engine, "racer", T0)
        except RateLimited:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        passed = sum(pool.map(attempt, range(16)))
    assert passed == 3
    assert count_rows(engine, RateLimitHit, RateLimitHit.subject == "racer") == 3


def test_subjects_are_keyed_hashes_not_addresses() -> None:
    key = rate_limits.subject_key("secret", "Someone@Example.com")
    assert key == rate_limits.subject_key("secret", " someone@example.com ")
    assert "example" not in key and len(key) == 64
    assert key != rate_limits.subject_key("another secret", "someone@example.com")


def test_prune_forgets_old_uses(engine) -> None:
    take(engine, "a", T0)
    take(engine, "a", T0 + timedelta(days=3))
    with session_scope(engine) as session:
        assert rate_limits.prune(session=session, now=T0 + timedelta(days=3)) == 1
    assert count_rows(engine, RateLimitHit) == 1
