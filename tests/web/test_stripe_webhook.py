"""POST /api/stripe/webhook on the running app: signatures on the raw body, store-then-process,
duplicates, and retries of events that failed."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import stripe
from sqlalchemy import update
from sqlmodel import Session, select

from dashboard_app.domain import billing
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.models import Order, StripeEvent
from dashboard_app.models.base import utcnow
from tests.factories import count_rows, create_member
from tests.support.servers import wait_for
from tests.support.stripe import WEBHOOK_SECRET, make_event, paid_checkout, signed, standin

WEBHOOK = "/api/stripe/webhook"


def post(app, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(app.url(WEBHOOK), content=body, headers=headers, timeout=30)


def event_row(app, stripe_event_id: str) -> StripeEvent | None:
    with Session(app.engine) as session:
        return session.exec(
            select(StripeEvent).where(StripeEvent.stripe_event_id == stripe_event_id)
        ).first()


def wait_for_status(app, stripe_event_id: str, status: str, timeout: float = 30) -> StripeEvent:
    wait_for(
        lambda: (row := event_row(app, stripe_event_id)) is not None and row.status == status,
        timeout=timeout,
        what=f"event {stripe_event_id} to be {status}",
    )
    row = event_row(app, stripe_event_id)
    assert row is not None
    return row


def ignored_event() -> dict:
    return make_event("customer.created", {"id": "cus_nobody", "object": "customer"})


@pytest.mark.parametrize(
    "tamper",
    ["missing", "wrong_secret", "changed_body", "too_old", "garbage"],
)
def test_a_bad_or_missing_signature_gets_400_and_stores_nothing(app, tamper: str) -> None:
    event = ignored_event()
    body, headers = signed(event)
    if tamper == "missing":
        headers.pop("Stripe-Signature")
    elif tamper == "wrong_secret":
        body, headers = signed(event, secret="whsec_someone_else")
    elif tamper == "changed_body":
        body = body.replace(b"customer.created", b"charge.refunded")
    elif tamper == "too_old":
        old = int(time.time()) - 3600
        header = stripe.WebhookSignature.generate_signature_header(
            body.decode(), WEBHOOK_SECRET, timestamp=old
        )
        headers["Stripe-Signature"] = header
    else:
        headers["Stripe-Signature"] = "t=nonsense"
    response = post(app, body, headers)
    assert response.status_code == 400
    assert "error" in response.json()
    assert event_row(app, event["id"]) is None


def test_a_signed_body_that_is_not_an_event_gets_400(app) -> None:
    body = b"[1, 2, 3]"
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), WEBHOOK_SECRET)
    response = post(app, body, {"Stripe-Signature": header})
    assert response.status_code == 400


def test_each_event_is_stored_once_and_other_types_are_acknowledged(app) -> None:
    event = ignored_event()
    body, headers = signed(event)
    answers = [post(app, body, headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["duplicate"] for a in answers] == [False, True, True]
    assert count_rows(app.engine, StripeEvent, StripeEvent.stripe_event_id == event["id"]) == 1
    assert event_row(app, event["id"]).status == "ignored"


def test_a_failed_event_keeps_its_error_and_succeeds_when_retried(app) -> None:
    """A dispute that arrives before its payment is known fails, is kept with its error, and is
    applied by a later attempt once the payment has landed."""
    member = create_member(app.engine)
    gateway = app.stripe.gateway()
    webhook_url = app.url(WEBHOOK)
    app.stripe.send_webhooks_to(webhook_url, only=["test.deliveries_paused"])
    try:
        session_id = paid_checkout(app.engine, gateway, member.id)  # its webhook went nowhere
    finally:
        app.stripe.send_webhooks_to(webhook_url)
    intent = gateway.payment_intent(gateway.checkout_session(session_id)["payment_intent"])
    dispute = standin(gateway, "disputes", charge=intent["latest_charge"]["id"])
    event = make_event("charge.dispute.created", dispute)
    response = post(app, *signed(event))
    assert response.status_code == 200
    failed = wait_for_status(app, event["id"], "failed")
    assert "no order is known yet" in failed.last_error
    assert failed.attempts >= 1 and failed.next_attempt_at is not None

    billing.fulfil_checkout(
        engine=app.engine,
        gateway=gateway,
        catalog=get_catalog(),
        checkout_session_id=session_id,
    )
    with Session(app.engine) as session, session.begin():
        # Bring the retry forward instead of waiting out the backoff.
        session.exec(
            update(StripeEvent)
            .where(StripeEvent.stripe_event_id == event["id"])
            .values(next_attempt_at=utcnow())
        )
    done = wait_for_status(app, event["id"], "processed")
    assert done.last_error is None
    with Session(app.engine) as session:
        order = session.exec(select(Order).where(Order.user_id == member.id)).one()
        assert (order.status, order.stripe_dispute_id) == ("disputed", dispute["id"])


def test_the_body_is_verified_as_sent_not_as_reparsed(app) -> None:
    """Whitespace is part of what Stripe signed: the same event re-serialised fails."""
    event = ignored_event()
    body, headers = signed(event)
    reformatted = json.dumps(json.loads(body), indent=2).encode()
    assert post(app, reformatted, headers).status_code == 400
    assert post(app, body, headers).status_code == 200
