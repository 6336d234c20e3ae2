"""Both ways an API caller proves who they are, for tests that must pass through each: a
personal API key, and a JWT from the test identity service (tests/support/jwt_issuer.py) whose
subject is linked to the member. The `jwt_api` and `credential` fixtures (tests/conftest.py)
are the bodies below."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, api_access
from tests.support.api import make_api_key
from tests.support.jwt_issuer import JwtIssuer

# A credential for a member: credential(user_id, scope="read" or "read-write") -> bearer text.
Credential = Callable[..., str]


def link_token(engine, issuer: JwtIssuer, user_id: int, *, scope: str = "read", **claims) -> str:
    """A token from the test issuer for a fresh subject linked to the member."""
    subject = f"partner-{user_id}-{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as session:
        email = accounts.get_user(session=session, user_id=user_id).email
        api_access.link_subject(session=session, issuer=issuer.issuer, subject=subject, email=email)
    return issuer.mint(subject, scope="read write" if scope == "read-write" else "read", **claims)


def trust_issuer(api, jwt_issuer: JwtIssuer):
    """The in-process API, trusting tokens from the test issuer's JWKS."""
    return api.configure(
        API_JWT_ISSUER=jwt_issuer.issuer,
        API_JWT_AUDIENCE=jwt_issuer.audience,
        API_JWT_JWKS_URL=jwt_issuer.jwks_url,
    )


def credential_for(via: str, engine, jwt_issuer: JwtIssuer) -> Credential:
    if via == "api_key":
        return lambda user_id, scope="read": make_api_key(engine, user_id, scope=scope)
    return lambda user_id, scope="read": link_token(engine, jwt_issuer, user_id, scope=scope)
