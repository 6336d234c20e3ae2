"""Who is calling the API: `Authorization: Bearer ...` only, never a session cookie (so the API
has no CSRF surface). A bearer starting `dk_` is a personal API key; anything else is tried as
a JWT. Each caller's calls are limited per minute (writes on their own, lower limit).

Routes depend on `read_caller` (any valid credential) or `write_caller` (one that may write).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dashboard_app.db import session_scope
from dashboard_app.domain import api_access, api_keys, rate_limits
from dashboard_app.domain.rate_limits import RateLimited, Window, subject_key
from dashboard_app.integrations import identity_tokens
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


# Why a token was refused, in words a partner's developer can act on (TokenRejected.reason).
_REFUSALS = {
    "malformed": "it is not a well-formed JWT",
    "algorithm_not_allowed": "its algorithm is not one this server accepts",
    "unknown_key": "it names a signing key the issuer does not publish",
    "keys_unavailable": "the issuer's signing keys could not be fetched; try again shortly",
    "bad_signature": "its signature does not verify",
    "expired": "it has expired",
    "not_yet_valid": "it is not valid yet (nbf)",
    "wrong_issuer": "it is from another issuer",
    "wrong_audience": "it is meant for another audience",
    "missing_iss": "it names no issuer (iss)",
    "missing_aud": "it names no audience (aud)",
    "missing_exp": "it has no expiry (exp)",
    "missing_subject": "it names no subject (sub)",
}


@dataclass(frozen=True)
class _TokenCaller(Caller):
    """A JWT's caller: its calls are counted per (issuer, subject), not per member."""

    token_subject: str = ""

    @property
    def limit_subject(self) -> str:
        return f"jwt:{self.token_subject}"


@functools.lru_cache(maxsize=4)
def _verifier_for(
    issuer: str, audience: str, secret: str, jwks_url: str, leeway: int
) -> identity_tokens.IdentityTokenVerifier:
    # One per configuration, kept for the process: it holds the issuer's cached JWKS.
    return identity_tokens.IdentityTokenVerifier(
        issuer=issuer,
        audience=audience,
        secret=secret or None,
        jwks_url=jwks_url or None,
        leeway_seconds=leeway,
    )


def _token_verifier() -> identity_tokens.IdentityTokenVerifier | None:
    settings = get_settings()
    if not settings.api_jwt_enabled:
        return None
    return _verifier_for(
        settings.api_jwt_issuer.strip(),
        settings.api_jwt_audience.strip(),
        settings.api_jwt_secret.get_secret_value(),
        settings.api_jwt_jwks_url.strip(),
        settings.api_jwt_leeway_seconds,
    )


def _token_scope(claim: object) -> Literal["read", "read-write"]:
    """`scope` is space-separated (RFC 8693) or a list; "write" among them grants writes."""
    scopes = claim.split() if isinstance(claim, str) else claim if isinstance(claim, list) else []
    return READ_WRITE if "write" in scopes else READ


def _caller_from_jwt(token: str) -> Caller:
    """A bearer that is not an API key: a JWT from the identity service."""
    verifier = _token_verifier()
    if verifier is None:
        raise unauthorised("JWT bearer tokens are not accepted on this server.")
    try:
        verified = verifier.verify(token)
    except identity_tokens.TokenRejected as rejected:
        reason = _REFUSALS.get(rejected.reason, "it does not verify")
        raise unauthorised(f"The bearer token was refused: {reason}.") from None
    with session_scope() as session:
        user_id = api_access.member_for_subject(session, verified.issuer, verified.subject)
    if user_id is None:
        raise unauthorised(
            "The token's subject is not linked to an active member of this server: sign in "
            "once with single sign-on, or ask an operator to link it."
        )
    return _TokenCaller(
        user_id=user_id,
        scope=_token_scope(verified.claims.get("scope")),
        via="jwt",
        token_subject=f"{verified.issuer} {verified.subject}",
    )


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
