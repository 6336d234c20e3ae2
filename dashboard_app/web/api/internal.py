"""POST /internal/sync/stripe and /internal/sync/holdings: for schedulers outside the app.
Off (404) without INTERNAL_API_TOKEN; otherwise the X-Internal-Token header must carry it
(compared in constant time). Every call is audited with the caller's address, refused ones too."""

from __future__ import annotations

import hmac
import json
from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dashboard_app.db import session_scope
from dashboard_app.domain import internal_sync
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import DomainError, InvalidInput, NotFound
from dashboard_app.domain.rate_limits import RateLimited
from dashboard_app.engine import holdings as holdings_engine
from dashboard_app.engine.client import get_client
from dashboard_app.integrations.stripe_gateway import get_gateway
from dashboard_app.settings import get_settings
from dashboard_app.web.api.common import client_ip
from dashboard_app.web.auth_cookie import session_policy

TOKEN_HEADER = "x-internal-token"
MAX_BODY_BYTES = 4096


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


def _authorised(request: Request, expected: str) -> bool:
    sent = request.headers.get(TOKEN_HEADER, "")
    return hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8"))


async def _refuse_unauthorised(request: Request, ip: str) -> Response:
    def audit() -> None:
        with session_scope() as session:
            internal_sync.refuse_unauthorised(
                session=session,
                path=request.url.path,
                secret=session_policy().secret_key,
                ip_address=ip,
            )

    try:
        await run_in_threadpool(audit)
    except RateLimited as limited:
        return _error(429, limited.message)
    return _error(401, "A valid X-Internal-Token header is required.")


def _read_json(body: bytes) -> object:
    if len(body) > MAX_BODY_BYTES:
        raise InvalidInput("The request body is too large.")
    try:
        return json.loads(body or b"null")
    except ValueError:
        return None  # the reader refuses it as not a JSON object


async def sync_stripe(request: Request) -> Response:
    settings = get_settings()
    if not settings.internal_api_enabled:
        return _error(404, "Not Found")
    ip = client_ip(request)
    if not _authorised(request, settings.internal_api_token.get_secret_value().strip()):
        return await _refuse_unauthorised(request, ip)
    gateway = get_gateway()

    def work(body: bytes) -> internal_sync.StripeSyncResult:
        try:
            sync = internal_sync.read_stripe_sync(_read_json(body))
            if gateway is None:
                raise DomainError("Stripe is not configured on this server.")
            return internal_sync.sync_stripe(
                engine=None,
                gateway=gateway,
                catalog=get_catalog(),
                request=sync,
                ip_address=ip,
            )
        except DomainError as refused:
            with session_scope() as session:
                internal_sync.audit_refused_input(
                    session=session, path=request.url.path, reason=refused.message, ip_address=ip
                )
            raise

    try:
        result = await run_in_threadpool(work, await request.body())
    except NotFound as missing:
        return _error(404, missing.message)
    except InvalidInput as invalid:
        return _error(400, invalid.message)
    except DomainError as refused:  # Stripe out of reach or not configured
        return _error(503, refused.message)
    return JSONResponse({"repaired": result.repaired, "could_not_repair": result.could_not_repair})


async def sync_holdings(request: Request) -> Response:
    """{"member": id} or {"stale": true}: enqueue holdings refreshes (the marketplace is read
    by the job workers) and answer how many were queued and how many were running already."""
    settings = get_settings()
    if not settings.internal_api_enabled:
        return _error(404, "Not Found")
    ip = client_ip(request)
    if not _authorised(request, settings.internal_api_token.get_secret_value().strip()):
        return await _refuse_unauthorised(request, ip)

    def work(body: bytes) -> internal_sync.HoldingsSyncResult:
        try:
            sync = internal_sync.read_holdings_sync(_read_json(body))
            if not settings.marketplace_configured:
                raise DomainError("No marketplace is configured on this server.")
            client = get_client(settings)
            return internal_sync.sync_holdings(
                engine=None,
                enqueue=lambda member: holdings_engine.request_refresh(
                    engine=None, client=client, user_id=member
                ),
                request=sync,
                chain=settings.marketplace_chain,
                fresh_for=timedelta(hours=settings.holdings_fresh_hours),
                ip_address=ip,
            )
        except DomainError as refused:
            with session_scope() as session:
                internal_sync.audit_refused_input(
                    session=session,
                    path=request.url.path,
                    reason=refused.message,
                    ip_address=ip,
                    action="internal.holdings_sync_refused",
                )
            raise

    try:
        result = await run_in_threadpool(work, await request.body())
    except NotFound as missing:
        return _error(404, missing.message)
    except InvalidInput as invalid:
        return _error(400, invalid.message)
    except DomainError as refused:  # no marketplace configured
        return _error(503, refused.message)
    return JSONResponse({"queued": result.queued, "already_running": result.already_running})
