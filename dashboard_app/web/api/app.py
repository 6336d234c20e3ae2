"""Server routes mounted in front of Reflex. Everything that sets or clears the HttpOnly session
cookie lives here (a Reflex event handler cannot), plus private files; the operators' routes
(health, readiness, metrics) are in ops.py."""

from __future__ import annotations

import asyncio
import json
import re

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, links, profiles
from dashboard_app.domain.errors import (
    AccountSuspended,
    AuthenticationFailed,
    DomainError,
    EmailTaken,
)
from dashboard_app.domain.rate_limits import RateLimited
from dashboard_app.domain.sign_in_limits import (
    SignInRefused,
    SignInTicket,
    begin_sign_in,
    finish_sign_in,
)
from dashboard_app.integrations.mailer import forget_mail_to
from dashboard_app.observability.logs import RequestIdMiddleware
from dashboard_app.settings import get_settings
from dashboard_app.web import routes
from dashboard_app.web.api import admin_export, avatars, internal, ops, sso, tab_statements
from dashboard_app.web.api.common import (
    absolute_url,
    client_ip,
    current_member,
    deliver,
    form_fields,
    mail_config,
    mail_windows,
    message_param,
    posted_next,
    redirect,
    request_token,
    same_origin,
    sign_in_limits,
    with_session_cookie,
    without_session_cookie,
)
from dashboard_app.web.api.files import serve_file
from dashboard_app.web.api.mails import password_reset_mail, verification_mail
from dashboard_app.web.api.stripe_webhook import stripe_webhook
from dashboard_app.web.api.v1.app import build_v1
from dashboard_app.web.auth_cookie import session_policy


async def sign_in(request: Request) -> Response:
    fields = await form_fields(request, "email", "password", "next")
    next_path = posted_next(request, fields)
    if fields is None or not same_origin(request):
        return redirect(routes.sign_in_url(next_path, error="invalid_request"))
    email, ip, limits = fields["email"].strip().lower(), client_ip(request), sign_in_limits()
    secret = session_policy().secret_key

    def take_place() -> SignInTicket:
        # Committed before the password is checked, so parallel guesses each take a place.
        with session_scope() as session:
            return begin_sign_in(
                session=session, email=email, ip_address=ip, limits=limits, secret=secret
            )

    try:
        ticket = await run_in_threadpool(take_place)
    except SignInRefused as refused:
        return redirect(routes.sign_in_url(next_path, message=message_param(refused.message)))
    if ticket.delay:
        await asyncio.sleep(ticket.delay)  # repeated failures are deliberately slowed down

    def work() -> str | DomainError:
        with session_scope() as session:
            try:
                user = accounts.authenticate(
                    session=session, email=email, password=fields["password"]
                )
            except AccountSuspended as suspended:
                finish_sign_in(session=session, ticket=ticket, password_matched=True, limits=limits)
                return suspended
            except AuthenticationFailed as failed:
                found = accounts.find_user_by_email(session=session, email=email)
                finish_sign_in(
                    session=session,
                    ticket=ticket,
                    password_matched=False,
                    limits=limits,
                    user_id=found.id if found else None,
                    ip_address=ip,
                )
                return failed
            finish_sign_in(session=session, ticket=ticket, password_matched=True, limits=limits)
            return accounts.start_session(
                session=session,
                user=user,
                policy=session_policy(),
                user_agent=request.headers.get("user-agent", ""),
                ip_address=ip,
            )

    outcome = await run_in_threadpool(work)
    if isinstance(outcome, AccountSuspended):
        return redirect(routes.sign_in_url(next_path, message=message_param(outcome.message)))
    if isinstance(outcome, DomainError):
        return redirect(routes.sign_in_url(next_path, error="credentials"))
    return with_session_cookie(redirect(next_path), outcome)


async def sign_up(request: Request) -> Response:
    fields = await form_fields(request, "email", "password", "display_name", "next")
    next_path = posted_next(request, fields)
    if fields is None or not same_origin(request):
        return redirect(routes.sign_up_url(next_path, error="invalid_request"))

    def work() -> tuple[str, str, str]:
        with session_scope() as session:
            user = accounts.create_user(
                session=session,
                email=fields["email"],
                password=fields["password"],
                display_name=fields["display_name"],
                ip_address=client_ip(request),
            )
            link_token = links.issue_token(
                session=session, user=user, purpose="verify_email", policy=session_policy()
            )
            token = accounts.start_session(
                session=session,
                user=user,
                policy=session_policy(),
                user_agent=request.headers.get("user-agent", ""),
                ip_address=client_ip(request),
            )
            return token, user.email, link_token

    try:
        token, email, link_token = await run_in_threadpool(work)
    except EmailTaken:
        return redirect(routes.sign_up_url(next_path, error="email_taken"))
    except DomainError as error:
        return redirect(routes.sign_up_url(next_path, error=error.field or "invalid_request"))
    await deliver(verification_mail(email, absolute_url(routes.verify_email_path(link_token))))
    return with_session_cookie(redirect(next_path), token)


async def sign_out(request: Request) -> Response:
    if not same_origin(request):
        return PlainTextResponse("Cross-site sign-out refused", status_code=403)
    token = request_token(request)

    def work() -> None:
        with session_scope() as session:
            accounts.end_session(session=session, token=token, policy=session_policy())

    await run_in_threadpool(work)
    return without_session_cookie(redirect(routes.SIGN_IN))


async def verify_email(request: Request) -> Response:
    raw = request.query_params.get("token", "")

    def work() -> None:
        with session_scope() as session:
            links.verify_email(session=session, raw=raw, policy=session_policy())

    try:
        await run_in_threadpool(work)
    except DomainError:
        return redirect(routes.with_notice(routes.OVERVIEW, "link_invalid"))
    return redirect(routes.with_notice(routes.OVERVIEW, "email_verified"))


async def resend_verification(request: Request) -> Response:
    member = await current_member(request)
    if member is None or not same_origin(request):
        return redirect(routes.SIGN_IN)

    def work() -> tuple[str, str] | None:
        with session_scope() as session:
            user = accounts.get_user(session=session, user_id=member.user.id)
            if user.email_verified_at is not None:
                return None
            return user.email, links.request_verification(
                session=session, user=user, policy=session_policy(), windows=mail_windows()
            )

    try:
        found = await run_in_threadpool(work)
    except RateLimited as limited:
        return redirect(routes.with_message(routes.OVERVIEW, message_param(limited.message)))
    if found is None:
        return redirect(routes.with_notice(routes.OVERVIEW, "email_verified"))
    link = absolute_url(routes.verify_email_path(found[1]))
    sent = await deliver(verification_mail(found[0], link))
    return redirect(routes.with_notice(routes.OVERVIEW, "verify_sent" if sent else "mail_failed"))


async def forgot_password(request: Request) -> Response:
    fields = await form_fields(request, "email")
    if fields is None or not same_origin(request):
        return redirect(routes.with_notice(routes.FORGOT_PASSWORD, "invalid_request"))

    def work() -> tuple[str, str] | None:
        with session_scope() as session:
            found = links.request_password_reset(
                session=session,
                email=fields["email"],
                policy=session_policy(),
                windows=mail_windows(),
            )
            return (found[0].email, found[1]) if found else None

    try:
        found = await run_in_threadpool(work)
    except RateLimited:
        found = None  # nothing sent, and nothing said: the answer must not tell accounts apart
    if found is not None:
        link = absolute_url(routes.reset_password_path(found[1]))
        await deliver(password_reset_mail(found[0], link))
    # The same answer whether or not the account exists, and whether or not mail was sent.
    return redirect(routes.with_notice(routes.SIGN_IN, "reset_sent"))


async def reset_password(request: Request) -> Response:
    fields = await form_fields(request, "token", "password")
    if fields is None or not same_origin(request):
        return redirect(routes.with_notice(routes.FORGOT_PASSWORD, "invalid_request"))

    def work() -> None:
        with session_scope() as session:
            links.reset_password(
                session=session,
                raw=fields["token"],
                new_password=fields["password"],
                policy=session_policy(),
            )

    try:
        await run_in_threadpool(work)
    except DomainError as error:
        if error.field == "password":
            return redirect(
                routes.reset_password_path(
                    fields["token"], error="password", message=message_param(error.message)
                )
            )
        return redirect(routes.with_notice(routes.FORGOT_PASSWORD, "link_invalid"))
    return redirect(routes.with_notice(routes.SIGN_IN, "password_reset"))


async def confirm_email_change(request: Request) -> Response:
    raw = request.query_params.get("token", "")

    def work() -> None:
        with session_scope() as session:
            links.confirm_email_change(session=session, raw=raw, policy=session_policy())

    try:
        await run_in_threadpool(work)
    except EmailTaken:
        return redirect(routes.with_notice(routes.PROFILE, "email_taken"))
    except DomainError:
        return redirect(routes.with_notice(routes.PROFILE, "link_invalid"))
    return redirect(routes.with_notice(routes.PROFILE, "email_changed"))


async def export_data(request: Request) -> Response:
    member = await current_member(request)
    if member is None:
        return PlainTextResponse("Sign in first", status_code=401)

    def work() -> dict:
        with session_scope() as session:
            user = accounts.get_user(session=session, user_id=member.user.id)
            return profiles.export_member_data(session=session, user=user)

    data = await run_in_threadpool(work)
    return Response(
        json.dumps(data, indent=2),
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="my-dashboard-data.json"',
            "Cache-Control": "no-store",
        },
    )


async def delete_account(request: Request) -> Response:
    fields = await form_fields(request, "password")
    member = await current_member(request)
    if member is None:
        return redirect(routes.SIGN_IN)
    if fields is None or not same_origin(request):
        return redirect(routes.with_notice(routes.PROFILE, "invalid_request"))

    def work() -> set[str]:
        with session_scope() as session:
            user = accounts.get_user(session=session, user_id=member.user.id)
            return profiles.delete_account(
                session=session,
                user=user,
                password=fields["password"],
                storage=get_settings().private_storage,
                ip_address=client_ip(request),
            )

    try:
        emails = await run_in_threadpool(work)
    except DomainError:
        return redirect(routes.with_notice(routes.PROFILE, "delete_refused"))
    # Committed: now the copies outside the database (mail written to the outbox).
    await run_in_threadpool(forget_mail_to, mail_config().outbox, emails)
    return without_session_cookie(redirect(routes.with_notice(routes.SIGN_IN, "account_deleted")))


# Reflex's upload endpoint: closed (see avatars.py).
REFLEX_UPLOAD = "/_upload"


def _api_v1_mount() -> Mount:
    """/api/v1/... goes to the API whatever the path holds: Starlette's Mount pattern (`.*`)
    stops at a line break, which then got the server's plain-text 404 instead of a problem."""
    mount = Mount(routes.API_V1, app=build_v1())
    mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)
    return mount


def build_api() -> Starlette:
    test_only = []
    if get_settings().app_env == "test":
        tab_statements.install()
        test_only = [
            Route(
                routes.API_TEST_TAB_STATEMENTS + "/{token}",
                tab_statements.tab_statements,
                methods=["GET"],
            )
        ]
    return Starlette(
        routes=[
            *test_only,
            Route(routes.API_SIGN_IN, sign_in, methods=["POST"]),
            Route(routes.API_SIGN_UP, sign_up, methods=["POST"]),
            Route(routes.API_SIGN_OUT, sign_out, methods=["POST"]),
            Route(routes.API_VERIFY_EMAIL, verify_email, methods=["GET"]),
            Route(routes.API_RESEND_VERIFICATION, resend_verification, methods=["POST"]),
            Route(routes.API_FORGOT_PASSWORD, forgot_password, methods=["POST"]),
            Route(routes.API_RESET_PASSWORD, reset_password, methods=["POST"]),
            Route(routes.API_CONFIRM_EMAIL, confirm_email_change, methods=["GET"]),
            Route(routes.API_SSO_START, sso.start, methods=["GET"]),
            Route(routes.API_SSO_CALLBACK, sso.callback, methods=["GET"]),
            Route(routes.API_AVATAR, avatars.avatar, methods=["GET"]),
            Route(routes.API_AVATAR, avatars.upload_avatar, methods=["POST"]),
            Route(routes.API_AVATAR + "/{user_id}", avatars.avatar, methods=["GET"]),
            Route(REFLEX_UPLOAD, avatars.no_reflex_upload, methods=["POST"]),
            Route(routes.API_EXPORT, export_data, methods=["GET"]),
            Route(routes.API_DELETE_ACCOUNT, delete_account, methods=["POST"]),
            Route(routes.API_HEALTH, ops.healthz, methods=["GET"]),
            Route(routes.API_READY, ops.readyz, methods=["GET"]),
            Route(routes.API_METRICS, ops.metrics, methods=["GET"]),
            Route(routes.API_STRIPE_WEBHOOK, stripe_webhook, methods=["POST"]),
            Route(routes.API_FILES + "/{token}", serve_file, methods=["GET"]),
            Route(routes.API_ADMIN_AUDIT_CSV, admin_export.audit_csv, methods=["GET"]),
            Route(routes.API_INTERNAL_SYNC_STRIPE, internal.sync_stripe, methods=["POST"]),
            _api_v1_mount(),
            Route(routes.API_INTERNAL_SYNC_HOLDINGS, internal.sync_holdings, methods=["POST"]),
        ],
        # Every log line of a request carries its id (returned in X-Request-ID).
        middleware=[Middleware(RequestIdMiddleware)],
    )
