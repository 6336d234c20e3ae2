"""Who is calling the API: `Authorization: Bearer ...` only, never a session cookie (so the API
has no CSRF surface). A bearer starting `dk_` is a personal API key; anything else is tried as
a JWT. Each caller's calls are limited per minute (writes on their own, lower limit).

Routes depend on `read_caller` (any valid credential) or `write_caller` (one that may write).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dashboard_app.db import session_scope
from dashboard_app.domain import api_keys, rate_limits
from dashboard_app.domain.rate_limits import RateLimited, Window, subject_key
from dashboard_app.settings import get_settings
from dashboard_app.web.api.v1.problems import ApiProblem, retry_after_seconds
from dashboard_app.web.auth_cookie import session_policy

bearer = HTTPBearer(
    auto_error=False,
    description="A personal API key (`dk_...`, made on the profile page) or a JWT.",
)
READ, READ_WRITE = "read", "read-write"


@dataclass(frozen=True)
class Caller:
    user_id: int
    scope: Literal["read", "read-write"]
    via: Literal["api_key", "jwt"]
    key_id: int | None = None

    @property
    def limit_subject(self) -> str:
        """Whose calls are counted together: one key's, or one member's tokens'."""
        return f"api-key:{self.key_id}" if self.key_id is not None else f"member:{self.user_id}"


def unauthorised(detail: str, *, invalid: bool = True) -> ApiProblem:
    challenge = 'Bearer error="invalid_token"' if invalid else "Bearer"
    return ApiProblem(401, "Unauthorized", detail, headers={"WWW-Authenticate": challenge})


def _caller_from_key(token: str) -> Caller:
    with session_scope() as session:
        key = api_keys.authenticate(session=session, secret=token)
        if key is None:
            raise unauthorised("This API key is not valid: it may have been revoked.")
        assert key.id is not None
        return Caller(
            user_id=key.user_id,
            scope=READ_WRITE if key.scope == READ_WRITE else READ,
            via="api_key",
            key_id=key.id,
        )


def _caller_from_jwt(token: str) -> Caller:
    """A bearer that is not an API key: a JWT from the identity service."""
    raise unauthorised("JWT bearer tokens are not accepted on this server.")


def _caller(credentials: HTTPAuthorizationCredentials | None) -> Caller:
    if credentials is None or not credentials.credentials.strip():
        raise unauthorised(
            "Send `Authorization: Bearer <key>` with a personal API key from your profile "
            "page. The API does not use the sign-in cookie.",
            invalid=False,
        )
    token = credentials.credentials.strip()
    if token.startswith(api_keys.KEY_PREFIX):
        return _caller_from_key(token)
    return _caller_from_jwt(token)


def _count_call(caller: Caller, *, write: bool) -> None:
    settings = get_settings()
    per_minute = settings.api_write_rate_per_minute if write else settings.api_rate_per_minute
    kind = "writes" if write else "calls"
    try:
        with session_scope() as session:
            rate_limits.take(
                session=session,
                action="api.write" if write else "api.read",
                subject=subject_key(session_policy().secret_key, caller.limit_subject),
                windows=[Window(per_minute, timedelta(minutes=1))],
            )
    except RateLimited as limited:
        seconds = retry_after_seconds(limited.retry_at)
        raise ApiProblem(
            429,
            "Too Many Requests",
            f"At most {per_minute} {kind} a minute: try again in {seconds} s.",
            headers={"Retry-After": str(seconds)},
        ) from None


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def read_caller(credentials: Credentials) -> Caller:
    """Any valid credential, its call counted."""
    caller = _caller(credentials)
    _count_call(caller, write=False)
    return caller


def write_caller(credentials: Credentials) -> Caller:
    """A credential that may write (a read-write key), its write counted."""
    caller = _caller(credentials)
    if caller.scope != READ_WRITE:
        raise ApiProblem(
            403,
            "Forbidden",
            "This API key may only read: make a read-write key on your profile page to change "
            "things.",
        )
    _count_call(caller, write=True)
    return caller


ReadCaller = Annotated[Caller, Depends(read_caller)]
WriteCaller = Annotated[Caller, Depends(write_caller)]
