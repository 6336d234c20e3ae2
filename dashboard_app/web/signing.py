"""Short signed values carried through the browser (sign-in notices, the single sign-on state)."""

from __future__ import annotations

from functools import lru_cache

from itsdangerous import BadSignature, URLSafeTimedSerializer

from dashboard_app.settings import get_settings


@lru_cache
def signer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().resolved_secret_key(), salt=purpose)


def sign(purpose: str, value: object) -> str:
    return signer(purpose).dumps(value)


def unsign(purpose: str, value: str | None, max_age: int) -> object | None:
    """The signed value, or None when it is missing, tampered with or older than max_age."""
    if not value:
        return None
    try:
        return signer(purpose).loads(value, max_age=max_age)
    except BadSignature:
        return None
