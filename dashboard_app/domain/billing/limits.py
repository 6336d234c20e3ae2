"""How often a member's tab may make this server call Stripe: starting Checkout, confirming a
payment on the success page, refreshing old orders. Counted per member in the shared database
limiter, so every backend process agrees."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Engine

from dashboard_app.db import session_scope
from dashboard_app.domain.rate_limits import Window, subject_key, take
from dashboard_app.settings import get_settings

CHECKOUT_STARTS = (Window(10, timedelta(minutes=10)), Window(40, timedelta(days=1)))
PAYMENT_LOOKUPS = (Window(20, timedelta(minutes=10)), Window(100, timedelta(days=1)))
ORDER_REFRESHES = (Window(3, timedelta(minutes=15)), Window(20, timedelta(days=1)))
# One Checkout Session per member and product is reused for this long.
CHECKOUT_REUSE = timedelta(minutes=10)


def limit_member(
    *,
    engine: Engine | None,
    action: str,
    user_id: int,
    windows: Sequence[Window],
    message: str,
) -> None:
    """Count one call of `action` by the member (in a transaction of its own), or raise
    RateLimited with `message` and when to try again."""
    subject = subject_key(get_settings().resolved_secret_key(), "member", user_id)
    with session_scope(engine) as session:
        take(session=session, action=action, subject=subject, windows=windows, message=message)
