"""POST /api/stripe/webhook: verify the signature on the raw bytes, store the event (applying it
in the same transaction when its payload is enough, as for a dispute's first event), answer,
then process the others after the response has gone (failures are retried by the retry loop)."""

from __future__ import annotations

import asyncio
import json
import time

import stripe
import structlog
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dashboard_app.db import session_scope
from dashboard_app.domain import stripe_events
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import DomainError
from dashboard_app.integrations.stripe_gateway import get_gateway
from dashboard_app.observability.metrics import (
    STRIPE_EVENT_LAG_SECONDS,
    STRIPE_EVENTS,
    STRIPE_WEBHOOKS_REFUSED,
)
from dashboard_app.settings import get_settings

log = structlog.get_logger(__name__)

# Stripe's default: a signature older than five minutes is refused (replayed requests).
SIGNATURE_TOLERANCE_SECONDS = 300


def _refuse(status: int, message: str, reason: str) -> Response:
    STRIPE_WEBHOOKS_REFUSED.labels(reason=reason).inc()
    return JSONResponse({"error": message}, status_code=status)


def _count(outcome: str | None, path: str) -> None:
    STRIPE_EVENTS.labels(outcome=outcome or "busy", path=path).inc()


def _process(event_id: int, created: object) -> None:
    gateway = get_gateway()
    if gateway is None:
        return  # stored; processed once this server has its secret key
    outcome = stripe_events.process_event(
        engine=None, gateway=gateway, catalog=get_catalog(), event_id=event_id
    )
    _observe(outcome, "webhook", created)


def _observe(outcome: str | None, path: str, created: object) -> None:
    """Count the event's outcome by path (webhook: fetched and applied after the answer;
    payload: applied from its payload as it arrived) and, once applied, its lag."""
    _count(outcome, path)
    if outcome in ("processed", "ignored") and isinstance(created, int | float):
        # Stripe's `created` is whole seconds: the lag is exact to about a second.
        STRIPE_EVENT_LAG_SECONDS.observe(max(0.0, time.time() - created))


async def stripe_webhook(request: Request) -> Response:
    secret = get_settings().stripe_webhook_secret
    if secret is None or not secret.get_secret_value():
        return _refuse(503, "Stripe webhooks are not configured on this server", "unconfigured")
    length = request.headers.get("content-length")
    if length and (not length.isdigit() or int(length) > stripe_events.MAX_PAYLOAD_BYTES):
        return _refuse(413, "The event is too large", "too_large")
    payload = await request.body()
    if len(payload) > stripe_events.MAX_PAYLOAD_BYTES:
        return _refuse(413, "The event is too large", "too_large")
    signature = request.headers.get("stripe-signature")
    if not signature:
        return _refuse(400, "Missing Stripe-Signature header", "signature")
    try:
        # Checked on the bytes as they arrived (parsing first could change them).
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"),
            signature,
            secret.get_secret_value(),
            tolerance=SIGNATURE_TOLERANCE_SECONDS,
        )
        event = json.loads(payload)
    except stripe.SignatureVerificationError:
        return _refuse(400, "The signature does not match this endpoint's secret", "signature")
    except ValueError:  # also UnicodeDecodeError
        return _refuse(400, "The body is not a JSON event", "not_json")
    if not isinstance(event, dict):
        return _refuse(400, "The body is not a JSON event", "not_json")

    try:
        stripe_events.check_event(event)
    except DomainError as error:
        return _refuse(400, error.message, "invalid_event")

    def receive() -> stripe_events.Received:
        """Store and, when the payload is enough, apply in one transaction; when applying
        fails, store the event alone for processing and its retries."""
        try:
            with session_scope() as session:
                return stripe_events.receive_event(session=session, event=event)
        except Exception:  # noqa: BLE001 - the event is kept and processed the usual way
            log.warning("applying stripe event %s as it arrived failed", event["id"], exc_info=True)
        with session_scope() as session:
            stored = stripe_events.record_event(session=session, event=event)
        return stripe_events.Received(id=stored.id, duplicate=stored.duplicate, processed=False)

    received = await run_in_threadpool(receive)
    if received.processed:
        _observe("processed", "payload", event.get("created"))
    background = (
        None
        if received.duplicate or received.processed
        else BackgroundTask(run_in_threadpool, _process, received.id, event.get("created"))
    )
    return JSONResponse(
        {"received": True, "duplicate": received.duplicate}, status_code=200, background=background
    )


async def retry_stripe_events() -> None:
    """Runs beside each backend worker: processes events nobody finished (a worker died after
    storing one) and retries failures once their backoff has passed."""
    interval = get_settings().stripe_retry_seconds
    while True:
        await asyncio.sleep(interval)
        gateway = get_gateway()
        if gateway is None:
            continue
        try:
            results = await asyncio.to_thread(
                stripe_events.process_due_events,
                engine=None,
                gateway=gateway,
                catalog=get_catalog(),
            )
        except Exception:  # noqa: BLE001 - the loop must outlive a database hiccup
            log.exception("retrying Stripe events failed", retry_in_seconds=interval)
            continue
        for outcome in results.values():
            _count(outcome, "retry")
