"""The Stripe stand-in (localstripe plus Checkout and Billing Portal) as a test server, and
helpers to build and sign events the way Stripe does."""

from __future__ import annotations

import copy
import json
import secrets
import subprocess
import sys
import time
from functools import lru_cache
from typing import Any

import httpx
import stripe

from dashboard_app.integrations.stripe_gateway import StripeGateway
from tests.support.servers import PROJECT_ROOT, free_port, wait_for
from tests.support.stripe_standin import load_fixtures, new_id

WEBHOOK_SECRET = "whsec_test_" + secrets.token_hex(16)
SECRET_KEY = "sk_test_standin"


class StripeStandin:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.stripe_standin", "--port", str(self.port)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError("the Stripe stand-in exited early")
            try:
                headers = {"Authorization": f"Bearer {SECRET_KEY}"}
                return httpx.get(f"{self.url}/v1/prices", headers=headers, timeout=2).is_success
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout=30, what="the Stripe stand-in", interval=0.2)

    def send_webhooks_to(self, url: str, *, only: list[str] | None = None) -> None:
        """Deliver events to `url` (all of them, or only the types in `only`)."""
        data = {"url": url, "secret": WEBHOOK_SECRET}
        if only is not None:
            data.update({f"events[{i}]": kind for i, kind in enumerate(only)})
        response = httpx.post(f"{self.url}/_config/webhooks/dashboard", data=data)
        response.raise_for_status()

    def gateway(self) -> StripeGateway:
        return StripeGateway(SECRET_KEY, api_base=self.url)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


@lru_cache
def fixtures() -> dict[str, Any]:
    return load_fixtures()


def make_event(kind: str, obj: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """An event as Stripe sends it: the fixture event with our object inside."""
    event = copy.deepcopy(fixtures()["event"])
    event.update(
        {
            "id": event_id or new_id("evt_"),
            "type": kind,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": copy.deepcopy(obj)},
            "request": {"id": None, "idempotency_key": None},
        }
    )
    return event


def make_dispute(charge: dict[str, Any], *, status: str = "needs_response") -> dict[str, Any]:
    dispute = copy.deepcopy(fixtures()["dispute"])
    dispute.update(
        {
            "id": new_id("dp_"),
            "charge": charge["id"],
            "payment_intent": charge.get("payment_intent"),
            "amount": charge["amount"],
            "currency": charge["currency"],
            "status": status,
            "reason": "fraudulent",
            "livemode": False,
        }
    )
    return dispute


def signed(event: dict[str, Any], secret: str = WEBHOOK_SECRET) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a delivery, signed with the stripe library's own scheme."""
    payload = json.dumps(event, default=str)  # Stripe sends decimal fields as strings
    header = stripe.WebhookSignature.generate_signature_header(payload, secret)
    return payload.encode(), {"Stripe-Signature": header, "Content-Type": "application/json"}


def pay_checkout(checkout_url: str) -> httpx.Response:
    """Play Stripe's hosted Checkout page: press Pay (the response redirects to success_url)."""
    return httpx.post(checkout_url, follow_redirects=False, timeout=30)


def start_checkout(engine, gateway: StripeGateway, user_id: int, code: str) -> str:
    """Start Checkout as the billing page does; returns the session id."""
    from dashboard_app.domain import billing
    from dashboard_app.domain.catalog import get_catalog

    url = billing.start_checkout(
        engine=engine,
        gateway=gateway,
        catalog=get_catalog(),
        user_id=user_id,
        code=code,
        success_url="http://localhost/billing/success?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://localhost/billing?checkout=canceled",
    )
    return url.rsplit("/", 1)[-1]


def paid_checkout(engine, gateway: StripeGateway, user_id: int, code: str = "starter") -> str:
    """Start Checkout and pay it on the stand-in's hosted page; returns the session id."""
    session_id = start_checkout(engine, gateway, user_id, code)
    response = pay_checkout(f"{standin_url(gateway)}/pay/{session_id}")
    assert response.status_code == 303, response.text
    return session_id


def standin_url(gateway: StripeGateway) -> str:
    return gateway.client._requestor.base_addresses["api"]


def standin(gateway: StripeGateway, route: str, **data: Any) -> dict[str, Any]:
    """Ask the stand-in to play a part of Stripe no API call can (a bank opening a dispute, a
    period renewing, a refund failing); see tests/support/stripe_standin.py."""
    response = httpx.post(f"{standin_url(gateway)}/_standin/{route}", data=data, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def renew(gateway: StripeGateway, subscription_id: str) -> dict[str, Any]:
    """The subscription's next period: Stripe makes its invoice and charges the card on file."""
    return standin(gateway, f"subscriptions/{subscription_id}/renew")


def deliver(engine, gateway: StripeGateway, event: dict[str, Any], catalog=None) -> str | None:
    """Store and process an event as the webhook endpoint does after verifying it (applied as
    it is stored when its payload is enough; stored alone when that fails); returns the event's
    status."""
    from dashboard_app.db import session_scope
    from dashboard_app.domain import stripe_events
    from dashboard_app.domain.catalog import get_catalog

    event = json.loads(json.dumps(event, default=str))  # as it arrives: JSON
    try:
        with session_scope(engine) as session:
            received = stripe_events.receive_event(session=session, event=event)
        if received.processed:
            return "processed"
        event_id = received.id
    except Exception:  # noqa: BLE001 - as the endpoint: kept and processed the usual way
        with session_scope(engine) as session:
            event_id = stripe_events.record_event(session=session, event=event).id
    return stripe_events.process_event(
        engine=engine, gateway=gateway, catalog=catalog or get_catalog(), event_id=event_id
    )
