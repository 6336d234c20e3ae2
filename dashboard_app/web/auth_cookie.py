"""The session cookie: its name, its flags and reading it back from a request's Cookie header."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from http.cookies import CookieError, SimpleCookie

from dashboard_app.domain.accounts import SessionPolicy
from dashboard_app.settings import get_settings

SESSION_COOKIE = "dash_session"


@lru_cache
def session_policy() -> SessionPolicy:
    settings = get_settings()
    return SessionPolicy(
        secret_key=settings.resolved_secret_key(),
        idle=timedelta(minutes=settings.session_idle_minutes),
        absolute=timedelta(days=settings.session_absolute_days),
    )


def token_from_cookie_header(header: str | None) -> str | None:
    if not header:
        return None
    jar = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


def cookie_options() -> dict[str, object]:
    settings = get_settings()
    return {
        "httponly": True,
        "secure": settings.secure_cookies,
        "samesite": "lax",
        "path": "/",
        "max_age": settings.session_absolute_days * 24 * 3600,
    }
