"""Every route string of the dashboard and the URL builders that use them."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

OVERVIEW = "/"
CREDITS = "/credits"
CREATE = "/create"
JOBS = "/jobs"
LIBRARY = "/library"
BILLING = "/billing"
PROFILE = "/profile"
ADMIN = "/admin"
SIGN_IN = "/sign-in"
SIGN_UP = "/sign-up"

API_SIGN_IN = "/auth/sign-in"
API_SIGN_UP = "/auth/sign-up"
API_SIGN_OUT = "/auth/sign-out"
API_HEALTH = "/healthz"

PUBLIC_PAGES = frozenset({SIGN_IN, SIGN_UP})


def safe_next(target: str | None) -> str:
    """A local path to return to after sign-in; anything else (other hosts, schemes) is refused."""
    if not target:
        return OVERVIEW
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return OVERVIEW
    if "\\" in target or parts.path in PUBLIC_PAGES:
        return OVERVIEW
    return target


def sign_in_url(next_path: str | None = None, error: str | None = None) -> str:
    params = {}
    target = safe_next(next_path)
    if target != OVERVIEW:
        params["next"] = target
    if error:
        params["error"] = error
    return f"{SIGN_IN}?{urlencode(params)}" if params else SIGN_IN


def sign_up_url(next_path: str | None = None, error: str | None = None) -> str:
    params = {}
    target = safe_next(next_path)
    if target != OVERVIEW:
        params["next"] = target
    if error:
        params["error"] = error
    return f"{SIGN_UP}?{urlencode(params)}" if params else SIGN_UP
