"""Single sign-on routes: start (state, nonce and PKCE verifier kept in a signed, short-lived,
HttpOnly cookie) and callback (state checked, ID token verified, member signed in)."""

from __future__ import annotations

import hmac
import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts
from dashboard_app.domain.errors import AccountSuspended, AuthenticationFailed, DomainError
from dashboard_app.integrations.oidc import OidcClient, SsoError
from dashboard_app.settings import get_settings
from dashboard_app.web import routes
from dashboard_app.web.api.common import (
    absolute_url,
    client_ip,
    log,
    message_param,
    redirect,
    with_session_cookie,
)
from dashboard_app.web.auth_cookie import cookie_options, session_policy
from dashboard_app.web.signing import sign, unsign

SSO_COOKIE = "dash_sso"
SSO_MAX_AGE = 600


def _client() -> OidcClient | None:
    settings = get_settings()
    if not settings.oidc_configured:
        return None
    return OidcClient(
        discovery_url=settings.oidc_discovery_url or "",
        client_id=settings.oidc_client_id or "",
        client_secret=(
            settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else ""
        ),
        redirect_uri=absolute_url(routes.API_SSO_CALLBACK),
    )


def _refuse(message: str, next_path: str = routes.OVERVIEW) -> Response:
    response = redirect(routes.sign_in_url(next_path, message=message_param(message)))
    response.delete_cookie(SSO_COOKIE, path=routes.API_SSO_PREFIX)
    return response


async def start(request: Request) -> Response:
    client = _client()
    if client is None:
        return _refuse("Single sign-on is not configured on this server.")
    flow = {
        "state": secrets.token_urlsafe(24),
        "nonce": secrets.token_urlsafe(24),
        "verifier": secrets.token_urlsafe(48),
        "next": routes.safe_next(request.query_params.get("next")),
    }
    try:
        url = await client.authorization_url(
            state=flow["state"], nonce=flow["nonce"], code_verifier=flow["verifier"]
        )
    except SsoError as error:
        log.warning("single sign-on unavailable", error=str(error))
        return _refuse("The single sign-on provider cannot be reached. Try again later.")
    response = redirect(url)
    response.set_cookie(
        SSO_COOKIE,
        sign("sso-flow", flow),
        max_age=SSO_MAX_AGE,
        path=routes.API_SSO_PREFIX,
        httponly=True,
        samesite="lax",
        secure=bool(cookie_options()["secure"]),
    )
    return response


async def callback(request: Request) -> Response:
    client = _client()
    flow = unsign("sso-flow", request.cookies.get(SSO_COOKIE), max_age=SSO_MAX_AGE)
    if client is None or not isinstance(flow, dict):
        return _refuse("That single sign-on attempt expired or did not start here. Try again.")
    next_path = routes.safe_next(flow.get("next"))
    state = request.query_params.get("state", "")
    if not hmac.compare_digest(state.encode(), str(flow.get("state", "")).encode()):
        return _refuse(
            "That single sign-on answer does not match this browser. Try again.", next_path
        )
    if request.query_params.get("error"):
        return _refuse("The single sign-on provider did not sign you in.", next_path)
    code = request.query_params.get("code", "")
    if not code or len(code) > 2048:
        return _refuse("The single sign-on provider sent no sign-in code.", next_path)
    try:
        identity = await client.finish(
            code=code, code_verifier=flow["verifier"], nonce=flow["nonce"]
        )
    except SsoError as error:
        log.warning("single sign-on refused", error=str(error))
        return _refuse("The single sign-on answer could not be verified. Try again.", next_path)

    def work() -> str:
        with session_scope() as session:
            user = accounts.sign_in_with_sso(
                session=session,
                issuer=identity.issuer,
                subject=identity.subject,
                email=identity.email,
                email_verified=identity.email_verified,
                name=identity.name,
                ip_address=client_ip(request),
            )
            return accounts.start_session(
                session=session,
                user=user,
                policy=session_policy(),
                user_agent=request.headers.get("user-agent", ""),
                ip_address=client_ip(request),
            )

    try:
        token = await run_in_threadpool(work)
    except (AccountSuspended, AuthenticationFailed, DomainError) as error:
        return _refuse(error.message, next_path)
    response = with_session_cookie(redirect(next_path), token)
    response.delete_cookie(SSO_COOKIE, path=routes.API_SSO_PREFIX)
    return response
