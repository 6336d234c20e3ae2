"""Server routes mounted in front of Reflex: sign-in, sign-up and sign-out set or clear the
HttpOnly session cookie (a Reflex event handler cannot), plus a health check."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from dashboard_app.db import get_engine, session_scope
from dashboard_app.domain import accounts
from dashboard_app.domain.errors import (
    AccountSuspended,
    AuthenticationFailed,
    DomainError,
    EmailTaken,
)
from dashboard_app.web import routes
from dashboard_app.web.auth_cookie import (
    SESSION_COOKIE,
    cookie_options,
    session_policy,
    token_from_cookie_header,
)

MAX_FORM_FIELD = 1024


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def _same_origin(request: Request) -> bool:
    """Refuse form posts from other sites (login CSRF); browsers always send Origin on POST."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def _form_fields(request: Request, *names: str) -> dict[str, str] | None:
    form = await request.form(max_files=0, max_fields=10)
    values = {}
    for name in names:
        value = form.get(name, "")
        if not isinstance(value, str) or len(value) > MAX_FORM_FIELD:
            return None
        values[name] = value
    return values


def _with_session_cookie(response: Response, token: str) -> Response:
    response.set_cookie(SESSION_COOKIE, token, **cookie_options())  # type: ignore[arg-type]
    return response


async def sign_in(request: Request) -> Response:
    fields = await _form_fields(request, "email", "password", "next")
    next_path = routes.safe_next(fields["next"] if fields else None)
    if fields is None or not _same_origin(request):
        return _redirect(routes.sign_in_url(next_path, error="invalid_request"))

    def work() -> str:
        with session_scope() as session:
            user = accounts.authenticate(
                session=session, email=fields["email"], password=fields["password"]
            )
            return accounts.start_session(
                session=session,
                user=user,
                policy=session_policy(),
                user_agent=request.headers.get("user-agent", ""),
                ip_address=_client_ip(request),
            )

    try:
        token = await run_in_threadpool(work)
    except AccountSuspended:
        return _redirect(routes.sign_in_url(next_path, error="suspended"))
    except AuthenticationFailed:
        return _redirect(routes.sign_in_url(next_path, error="credentials"))
    return _with_session_cookie(_redirect(next_path), token)


async def sign_up(request: Request) -> Response:
    fields = await _form_fields(request, "email", "password", "display_name", "next")
    next_path = routes.safe_next(fields["next"] if fields else None)
    if fields is None or not _same_origin(request):
        return _redirect(routes.sign_up_url(next_path, error="invalid_request"))

    def work() -> str:
        with session_scope() as session:
            user = accounts.create_user(
                session=session,
                email=fields["email"],
                password=fields["password"],
                display_name=fields["display_name"],
                ip_address=_client_ip(request),
            )
            return accounts.start_session(
                session=session,
                user=user,
                policy=session_policy(),
                user_agent=request.headers.get("user-agent", ""),
                ip_address=_client_ip(request),
            )

    try:
        token = await run_in_threadpool(work)
    except EmailTaken:
        return _redirect(routes.sign_up_url(next_path, error="email_taken"))
    except DomainError as error:
        return _redirect(routes.sign_up_url(next_path, error=error.field or "invalid_request"))
    return _with_session_cookie(_redirect(next_path), token)


async def sign_out(request: Request) -> Response:
    if not _same_origin(request):
        return PlainTextResponse("Cross-site sign-out refused", status_code=403)
    token = token_from_cookie_header(request.headers.get("cookie"))

    def work() -> None:
        with session_scope() as session:
            accounts.end_session(session=session, token=token, policy=session_policy())

    await run_in_threadpool(work)
    response = _redirect(routes.SIGN_IN)
    options = cookie_options()
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=bool(options["secure"]),
        httponly=True,
        samesite="lax",
    )
    return response


async def health(_request: Request) -> Response:
    def ping() -> None:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))

    try:
        await run_in_threadpool(ping)
    except Exception as error:  # noqa: BLE001 - report any database failure as unhealthy
        return JSONResponse({"status": "error", "database": str(error)[:200]}, status_code=503)
    return JSONResponse({"status": "ok"})


def build_api() -> Starlette:
    return Starlette(
        routes=[
            Route(routes.API_SIGN_IN, sign_in, methods=["POST"]),
            Route(routes.API_SIGN_UP, sign_up, methods=["POST"]),
            Route(routes.API_SIGN_OUT, sign_out, methods=["POST"]),
            Route(routes.API_HEALTH, health, methods=["GET"]),
        ]
    )
