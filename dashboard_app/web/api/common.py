"""Helpers shared by the server routes: forms, redirects, the session cookie, mail, signing."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts
from dashboard_app.domain.rate_limits import Window
from dashboard_app.domain.sign_in_limits import SignInLimits
from dashboard_app.integrations.mailer import Mail, MailConfig, send_mail
from dashboard_app.settings import get_settings
from dashboard_app.web import routes
from dashboard_app.web.auth_cookie import (
    SESSION_COOKIE,
    cookie_options,
    session_policy,
    token_from_cookie_header,
)
from dashboard_app.web.client_address import request_client_ip
from dashboard_app.web.signing import sign

MAX_FORM_FIELD = 1024
log = structlog.get_logger(__name__)


def client_ip(request: Request) -> str:
    """The client's address, honouring TRUSTED_PROXY_HOPS (see web/client_address.py)."""
    peer = request.client.host if request.client else ""
    return request_client_ip(peer, request.headers.getlist("x-forwarded-for"))


def same_origin(request: Request) -> bool:
    """Refuse form posts from other sites; browsers always send Origin on POST."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def form_fields(request: Request, *names: str) -> dict[str, str] | None:
    """The named text fields of a posted form, or None when the form is malformed or oversized."""
    try:
        form = await request.form(max_files=0, max_fields=12)
    except Exception:  # noqa: BLE001 - a malformed body is the client's mistake, not ours
        return None
    values = {}
    for name in names:
        value = form.get(name, "")
        if not isinstance(value, str) or len(value) > MAX_FORM_FIELD:
            return None
        values[name] = value
    return values


def posted_next(request: Request, fields: dict[str, str] | None) -> str:
    """Where to go after a sign-in or sign-up form: its `next` field, or (when the form was sent
    before the page had filled that field in) the `next` of the page it was sent from."""
    posted = fields["next"] if fields else ""
    if not posted:
        referer = urlsplit(request.headers.get("referer", ""))
        if referer.netloc == request.headers.get("host", ""):
            posted = parse_qs(referer.query).get("next", [""])[0]
    return routes.safe_next(posted)


def message_param(message: str) -> str:
    """A message only this server can put on the sign-in page (signed; shown for 10 minutes)."""
    return sign("sign-in-message", message)


def with_session_cookie(response: Response, token: str) -> Response:
    response.set_cookie(SESSION_COOKIE, token, **cookie_options())  # type: ignore[arg-type]
    return response


def without_session_cookie(response: Response) -> Response:
    """Ends the browser's session: the cookie, and the tabs' stored Reflex token with it
    (`Clear-Site-Data: "storage"` empties sessionStorage, where Reflex keeps the tab's token)."""
    response.headers["Clear-Site-Data"] = '"storage"'
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=bool(cookie_options()["secure"]),
        httponly=True,
        samesite="lax",
    )
    return response


def request_token(request: Request) -> str | None:
    return token_from_cookie_header(request.headers.get("cookie"))


def signed_in_member(request: Request) -> accounts.SignedIn | None:
    """The member of the request's session cookie (run in a thread: it reads the database)."""
    with session_scope() as session:
        return accounts.resolve_session(
            session=session, token=request_token(request), policy=session_policy()
        )


async def current_member(request: Request) -> accounts.SignedIn | None:
    return await run_in_threadpool(signed_in_member, request)


@lru_cache
def sign_in_limits() -> SignInLimits:
    settings = get_settings()
    return SignInLimits(
        delay_base_seconds=settings.sign_in_delay_base_seconds,
        lock_after=settings.sign_in_lock_after,
        lock_address_after=settings.sign_in_lock_address_after,
    )


@lru_cache
def mail_windows() -> tuple[Window, ...]:
    """How often a member or an address may be sent a mail they can ask for again."""
    settings = get_settings()
    return (
        Window(
            settings.mail_limit_per_window, timedelta(minutes=settings.mail_limit_window_minutes)
        ),
        Window(settings.mail_limit_per_day, timedelta(days=1)),
    )


def absolute_url(path: str) -> str:
    return f"{get_settings().public_base_url}{path}"


def mail_config() -> MailConfig:
    settings = get_settings()
    return MailConfig(
        sender=settings.mail_from,
        outbox=settings.data_dir / "outbox",
        smtp_host=settings.smtp_host,
        smtp_port=settings.smtp_port,
        smtp_username=settings.smtp_username,
        smtp_password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        smtp_starttls=settings.smtp_starttls,
    )


async def deliver(mail: Mail) -> bool:
    """Send after the transaction committed; a failure is logged and reported, never raised."""
    try:
        await run_in_threadpool(send_mail, mail, mail_config())
    except Exception as error:  # noqa: BLE001 - mail servers fail in many ways
        log.error("mail delivery failed", to=mail.to, subject=mail.subject, error=str(error))
        return False
    return True
