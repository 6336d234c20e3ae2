"""A stand-in for Stripe in tests: localstripe, plus the endpoints it lacks.

localstripe (a stateful fake of Stripe's API, run in this process) serves customers, products,
plans, payment methods, payment intents, charges, refunds, subscriptions, invoices and events,
and delivers webhooks signed as Stripe signs them. It has no Prices, Checkout Sessions or
Billing Portal; this module adds those, building every object it returns from Stripe's own
example objects (fixtures3.json) with ids, amounts and links overridden:

- /v1/prices: create (with lookup keys and transfer_lookup_key), list by lookup key, update.
  A recurring price is also created as a localstripe plan with the same id, so subscriptions
  on it work.
- /v1/checkout/sessions: create, retrieve, list. The session's `url` is /pay/<id> here: a page
  with Pay and Cancel buttons that a browser test (or an HTTP client) plays as Stripe's hosted
  page. Paying creates the payment intent (mode payment) or the subscription (mode
  subscription) in localstripe, sends `checkout.session.completed`, and redirects to the
  session's success URL.
- /v1/checkout/sessions/{id}/expire, and `expand[]=line_items` on retrieve (each line item is
  Stripe's `item` object with the session's price).
- /v1/billing_portal/sessions: create; its `url` is /portal/<id>, a page linking back.
- /v1/disputes: retrieve, list, update, close. localstripe has no disputes: a test opens one with
  POST /_standin/disputes (charge, reason) and moves it on with POST
  /_standin/disputes/<id>/status (status), as a cardholder's bank and Stripe would.
- Idempotency keys on every POST, as Stripe keeps them: the same key with the same parameters
  answers the first response again; with other parameters, a 400 `idempotency_error`.
- Invoices in the shape of the pinned API version: `billing_reason` (`subscription_create` for a
  subscription's first invoice, `manual` for POST /v1/invoices, `subscription_cycle` for a
  renewal made with POST /_standin/subscriptions/<id>/renew), line items priced through
  `pricing.price_details`, the charge and payment intent only in `payments` (when expanded).
  A renewal whose card is declined leaves the invoice open, the subscription past_due and sends
  `invoice.payment_failed`, as Stripe does (localstripe alone does neither).
- A slow answer: POST /_standin/hold (path) makes the next GET of that path answer with the
  object as it is when the request arrives, sent only after POST /_standin/release (path), so a
  test can make a read go stale while other work runs. GET /_standin/held (path) says whether
  the held request has arrived.
- Refunds: a charge's `amount_refunded` counts only refunds that did not fail or get canceled;
  POST /_standin/refunds/<id>/status (status) fails or cancels one. A refund created through
  POST /v1/refunds sends `charge.refunded` with the charge, as Stripe does (localstripe sends
  nothing).
- Checkout as the hosted page would end it in other ways: POST /_standin/checkout/<id>/pay_later
  (a delayed payment method: complete but unpaid), POST /_standin/checkout/<id>/settle
  (outcome=succeeded|failed, with `checkout.session.async_payment_*`), and POST
  /_standin/checkout/<id>/complete_free (complete with `no_payment_required`, as a 100% discount
  code would).

localstripe keeps its state in memory only here (it would otherwise pickle its whole store to
/tmp/localstripe.pickle after every write, which is slow and shared between runs).

Run: python -m tests.support.stripe_standin --port PORT
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import hmac
import html
import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def fixtures_path() -> Path:
    candidates = [
        os.environ.get("STRIPE_FIXTURES", ""),
        str(PROJECT_ROOT.parent / "shared/stripe/fixtures3.json"),
        "/work/shared/stripe/fixtures3.json",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise FileNotFoundError(
        "Stripe's fixtures3.json was not found; set STRIPE_FIXTURES to its path"
    )


def load_fixtures() -> dict[str, Any]:
    return json.loads(fixtures_path().read_text())["resources"]


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def flatten(params: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: a[b][0][c]=v."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            pairs += flatten(value, name)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    pairs += flatten(item, f"{name}[{index}]")
                else:
                    pairs.append((f"{name}[{index}]", str(item)))
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        elif value is not None:
            pairs.append((name, str(value)))
    return pairs


def signature_header(payload: str, secret: str, timestamp: int) -> str:
    digest = hmac.new(
        secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


def build_app() -> web.Application:
    from localstripe import resources, server, webhooks

    # In memory only (see the module docstring).
    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]

    def counted_refunds(charge: Any) -> int:
        # As Stripe counts them: a failed or canceled refund gave no money back.
        return sum(
            refund.amount
            for refund in charge.refunds._list
            if getattr(refund, "status", "succeeded") not in ("failed", "canceled")
        )

    resources.Charge.amount_refunded = property(counted_refunds)  # type: ignore[method-assign]
    fixtures = load_fixtures()
    app = server.app
    prices: dict[str, dict[str, Any]] = {}
    sessions: dict[str, dict[str, Any]] = {}
    sent_events: list[dict[str, Any]] = []
    disputes: dict[str, dict[str, Any]] = {}
    invoice_reasons: dict[str, str] = {}
    idempotent: dict[str, tuple[bytes, int, bytes]] = {}
    holds: dict[str, dict[str, Any]] = {}

    def base_url(request: web.Request) -> str:
        return f"{request.scheme}://{request.host}"

    async def params_of(request: web.Request) -> dict[str, Any]:
        data = await server.get_post_data(request) or {}
        data.update(server.unflatten_data(request.query) or {})
        return data

    async def local(method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """Call localstripe (this same server) as a Stripe client would."""
        url = f"http://127.0.0.1:{app['port']}{path}"
        headers = {"Authorization": "Bearer sk_test_standin"}
        async with aiohttp.ClientSession() as client:
            if method == "GET":
                request = client.get(
                    url + ("?" + urlencode(flatten(params or {})) if params else ""),
                    headers=headers,
                )
            else:
                request = client.post(url, data=flatten(params or {}), headers=headers)
            async with request as response:
                body = await response.json()
                if response.status >= 400:
                    raise web.HTTPBadRequest(text=json.dumps(body), content_type="application/json")
                return body

    def stripe_error(status: int, message: str) -> web.Response:
        body = {"error": {"type": "invalid_request_error", "message": message}}
        return web.json_response(body, status=status)

    def listing(url: str, data: list[dict[str, Any]]) -> web.Response:
        return web.json_response({"object": "list", "url": url, "has_more": False, "data": data})

    async def send_event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        event = copy.deepcopy(fixtures["event"])
        event.update(
            {
                "id": new_id("evt_"),
                "type": kind,
                "created": int(time.time()),
                "livemode": False,
                "pending_webhooks": 1,
                "data": {"object": copy.deepcopy(obj)},
                "request": {"id": None, "idempotency_key": None},
            }
        )
        event.pop("previous_attributes", None)
        sent_events.append(event)
        payload = json.dumps(event)
        for hook in list(webhooks._webhooks.values()):
            if hook.events is not None and kind not in hook.events:
                continue
            headers = {
                "Content-Type": "application/json",
                "Stripe-Signature": signature_header(payload, hook.secret, event["created"]),
            }
            try:
                async with aiohttp.ClientSession() as client:
                    async with client.post(hook.url, data=payload, headers=headers) as response:
                        await response.read()
            except aiohttp.ClientError:
                pass  # Stripe would retry; the success page and reconciliation cover it
        return event

    # --- prices ------------------------------------------------------------------------------

    async def expand_price(price: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        price = copy.deepcopy(price)
        if "data.product" in expand or "product" in expand:
            price["product"] = await local("GET", f"/v1/products/{price['product']}")
        return price

    async def create_price(request: web.Request) -> web.Response:
        data = await params_of(request)
        try:
            amount = int(data["unit_amount"])
            currency = str(data["currency"]).lower()
            product = str(data["product"])
        except (KeyError, ValueError):
            return stripe_error(400, "unit_amount, currency and product are required")
        await local("GET", f"/v1/products/{product}")  # 404 if there is no such product
        recurring = data.get("recurring")
        key = data.get("lookup_key")
        if key:
            taken = [p for p in prices.values() if p.get("lookup_key") == key]
            if taken and str(data.get("transfer_lookup_key")) != "true":
                return stripe_error(400, f"lookup_key {key} is already in use")
            for other in taken:
                other["lookup_key"] = None
        price = copy.deepcopy(fixtures["price"])
        price.update(
            {
                "id": new_id("price_"),
                "active": True,
                "created": int(time.time()),
                "currency": currency,
                "unit_amount": amount,
                "unit_amount_decimal": str(amount),
                "lookup_key": key,
                "product": product,
                "metadata": data.get("metadata") or {},
                "livemode": False,
                "type": "recurring" if recurring else "one_time",
            }
        )
        if recurring:
            interval = recurring.get("interval", "month")
            price["recurring"] = {
                **(fixtures["price"].get("recurring") or {}),
                "interval": interval,
                "interval_count": 1,
                "usage_type": "licensed",
                "meter": None,
                "trial_period_days": None,
            }
            await local(
                "POST",
                "/v1/plans",
                {
                    "id": price["id"],
                    "amount": amount,
                    "currency": currency,
                    "interval": interval,
                    "product": product,
                },
            )
        else:
            price["recurring"] = None
        prices[price["id"]] = price
        return web.json_response(price)

    async def list_prices(request: web.Request) -> web.Response:
        data = await params_of(request)
        keys = data.get("lookup_keys")
        found = list(prices.values())
        if keys is not None:
            wanted = set(keys if isinstance(keys, list) else [keys])
            found = [p for p in found if p.get("lookup_key") in wanted]
        if str(data.get("active", "")) == "true":
            found = [p for p in found if p["active"]]
        expand = data.get("expand") or []
        return listing("/v1/prices", [await expand_price(p, expand) for p in found])

    async def retrieve_price(request: web.Request) -> web.Response:
        price = prices.get(request.match_info["id"])
        if price is None:
            return stripe_error(404, "No such price")
        return web.json_response(price)

    async def update_price(request: web.Request) -> web.Response:
        price = prices.get(request.match_info["id"])
        if price is None:
            return stripe_error(404, "No such price")
        data = await params_of(request)
        if "active" in data:
            price["active"] = str(data["active"]) == "true"
        if "metadata" in data:
            price["metadata"] = data["metadata"] or {}
        return web.json_response(price)

    # --- checkout sessions ---------------------------------------------------------------

    async def create_session(request: web.Request) -> web.Response:
        data = await params_of(request)
        mode = data.get("mode")
        items = data.get("line_items") or []
        if mode not in ("payment", "subscription") or len(items) != 1:
            return stripe_error(400, "mode and one line item are required")
        price = prices.get(items[0].get("price", ""))
        if price is None or not price["active"]:
            return stripe_error(400, "No such active price")
        if (mode == "subscription") != (price["type"] == "recurring"):
            return stripe_error(400, "The price does not fit the mode")
        if not data.get("success_url") or not data.get("cancel_url"):
            return stripe_error(400, "success_url and cancel_url are required")
        customer = data.get("customer")
        if customer:
            await local("GET", f"/v1/customers/{customer}")
        quantity = int(items[0].get("quantity") or 1)
        session = copy.deepcopy(fixtures["checkout.session"])
        session_id = "cs_test_" + secrets.token_hex(16)
        now = int(time.time())
        session.update(
            {
                "id": session_id,
                "mode": mode,
                "customer": customer,
                "client_reference_id": data.get("client_reference_id"),
                "metadata": data.get("metadata") or {},
                "success_url": data["success_url"],
                "cancel_url": data["cancel_url"],
                "status": "open",
                "payment_status": "unpaid",
                "payment_intent": None,
                "subscription": None,
                "invoice": None,
                "currency": price["currency"],
                "amount_subtotal": price["unit_amount"] * quantity,
                "amount_total": price["unit_amount"] * quantity,
                "created": now,
                "expires_at": now + 24 * 3600,
                "livemode": False,
                "url": f"{base_url(request)}/pay/{session_id}",
                "shipping_cost": None,
                "shipping_address_collection": None,
                "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            }
        )
        session["_price"] = price["id"]
        session["_quantity"] = quantity
        session["_payment_intent_data"] = data.get("payment_intent_data") or {}
        session["_subscription_data"] = data.get("subscription_data") or {}
        sessions[session_id] = session
        return web.json_response(public(session))

    def public(session: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in session.items() if not k.startswith("_")}

    async def line_items(session: dict[str, Any]) -> dict[str, Any]:
        price = prices[session["_price"]]
        product = await local("GET", f"/v1/products/{price['product']}")
        item = copy.deepcopy(fixtures["item"])
        item.update(
            {
                "id": "li_" + session["id"].removeprefix("cs_test_")[:24],
                "price": copy.deepcopy(price),
                "quantity": session["_quantity"],
                "currency": session["currency"],
                "description": product.get("name"),
                "amount_subtotal": session["amount_subtotal"],
                "amount_discount": session["amount_subtotal"] - session["amount_total"],
                "amount_tax": 0,
                "amount_total": session["amount_total"],
                "metadata": {},
            }
        )
        url = f"/v1/checkout/sessions/{session['id']}/line_items"
        return {"object": "list", "url": url, "has_more": False, "data": [item]}

    async def retrieve_session(request: web.Request) -> web.Response:
        session = sessions.get(request.match_info["id"])
        if session is None:
            return stripe_error(404, "No such checkout.session")
        found = public(session)
        if "line_items" in ((await params_of(request)).get("expand") or []):
            found["line_items"] = await line_items(session)
        return web.json_response(found)

    async def expire_session(request: web.Request) -> web.Response:
        session = sessions.get(request.match_info["id"])
        if session is None:
            return stripe_error(404, "No such checkout.session")
        if session["status"] != "open":
            return stripe_error(400, "Only open checkout sessions can be expired")
        session["status"] = "expired"
        await send_event("checkout.session.expired", public(session))
        return web.json_response(public(session))

    async def list_sessions(request: web.Request) -> web.Response:
        data = await params_of(request)
        since = int((data.get("created") or {}).get("gt") or 0)
        found = [public(s) for s in sessions.values() if s["created"] > since]
        return listing("/v1/checkout/sessions", sorted(found, key=lambda s: -s["created"]))

    async def pay_page(request: web.Request, key: str) -> web.Response:
        session = sessions.get(key)
        if session is None:
            raise web.HTTPNotFound()
        price = prices[session["_price"]]
        amount = f"{session['amount_total'] / 100:.2f} {session['currency'].upper()}"
        body = f"""<!doctype html><html><head><title>Stand-in Checkout</title></head><body>
<h1>Pay {html.escape(amount)}</h1>
<p data-testid="checkout-product">{html.escape(str(price["product"]))}</p>
<p>Test card 4242 4242 4242 4242</p>
<form method="post" action="/pay/{session["id"]}"><button type="submit">Pay</button></form>
<form method="post" action="/pay/{session["id"]}/cancel">
<button type="submit">Cancel</button></form>
</body></html>"""
        return web.Response(text=body, content_type="text/html")

    async def card_for(customer: str) -> str:
        method = await local(
            "POST",
            "/v1/payment_methods",
            {
                "type": "card",
                "card": {
                    "number": "4242424242424242",
                    "exp_month": 12,
                    "exp_year": 2034,
                    "cvc": "123",
                },
            },
        )
        await local("POST", f"/v1/payment_methods/{method['id']}/attach", {"customer": customer})
        return method["id"]

    async def charge_session(session: dict[str, Any]) -> None:
        """Take the session's payment with the test card, as the hosted page's Pay does."""
        customer = session["customer"]
        if customer is None:
            customer = (await local("POST", "/v1/customers", {"email": "buyer@example.com"}))["id"]
            session["customer"] = customer
        card = await card_for(customer)
        if session["mode"] == "payment":
            intent = await local(
                "POST",
                "/v1/payment_intents",
                {
                    "amount": session["amount_total"],
                    "currency": session["currency"],
                    "customer": customer,
                    "payment_method": card,
                    "confirm": True,
                    "metadata": session["_payment_intent_data"].get("metadata") or {},
                },
            )
            session["payment_intent"] = intent["id"]
        else:
            await local(
                "POST",
                f"/v1/customers/{customer}",
                {"invoice_settings": {"default_payment_method": card}},
            )
            subscription = await local(
                "POST",
                "/v1/subscriptions",
                {
                    "customer": customer,
                    "items": [{"plan": session["_price"], "quantity": session["_quantity"]}],
                    "metadata": session["_subscription_data"].get("metadata") or {},
                },
            )
            session["subscription"] = subscription["id"]
            session["invoice"] = subscription.get("latest_invoice")
        session["payment_status"] = "paid"

    async def pay(request: web.Request, key: str) -> web.Response:
        session = sessions.get(key)
        if session is None:
            raise web.HTTPNotFound()
        if session["status"] != "open":
            return web.Response(status=409, text="This checkout session is no longer open")
        await charge_session(session)
        session["status"] = "complete"
        asyncio.ensure_future(send_event("checkout.session.completed", public(session)))
        target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        raise web.HTTPSeeOther(target)

    async def pay_later(request: web.Request, key: str) -> web.Response:
        """A delayed payment method (a bank debit): the session completes, unpaid."""
        session = sessions.get(key)
        if session is None or session["status"] != "open" or session["mode"] != "payment":
            return stripe_error(400, "Only an open payment session can be paid later")
        session["status"] = "complete"
        session["payment_status"] = "unpaid"
        await send_event("checkout.session.completed", public(session))
        return web.json_response(public(session))

    async def settle(request: web.Request, key: str) -> web.Response:
        """The delayed payment succeeds or fails, days later."""
        session = sessions.get(key)
        outcome = (await params_of(request)).get("outcome")
        if (
            session is None
            or session["payment_status"] != "unpaid"
            or session["status"] != "complete"
        ):
            return stripe_error(400, "Only a session paid later can settle")
        if outcome == "succeeded":
            await charge_session(session)
            await send_event("checkout.session.async_payment_succeeded", public(session))
        elif outcome == "failed":
            await send_event("checkout.session.async_payment_failed", public(session))
        else:
            return stripe_error(400, "outcome is succeeded or failed")
        return web.json_response(public(session))

    async def complete_free(request: web.Request, key: str) -> web.Response:
        """Complete with nothing to pay, as a 100% discount code would."""
        session = sessions.get(key)
        if session is None or session["status"] != "open":
            return stripe_error(400, "Only an open session can be completed")
        session["total_details"] = {
            "amount_discount": session["amount_total"],
            "amount_shipping": 0,
            "amount_tax": 0,
        }
        session.update(status="complete", payment_status="no_payment_required", amount_total=0)
        await send_event("checkout.session.completed", public(session))
        return web.json_response(public(session))

    async def cancel(request: web.Request, key: str) -> web.Response:
        session = sessions.get(key)
        if session is None:
            raise web.HTTPNotFound()
        raise web.HTTPSeeOther(session["cancel_url"])

    # --- billing portal ---------------------------------------------------------------------

    portals: dict[str, dict[str, Any]] = {}

    async def create_portal(request: web.Request) -> web.Response:
        data = await params_of(request)
        customer = data.get("customer")
        if not customer:
            return stripe_error(400, "customer is required")
        await local("GET", f"/v1/customers/{customer}")
        portal = copy.deepcopy(fixtures["billing_portal.session"])
        portal_id = new_id("bps_")
        portal.update(
            {
                "id": portal_id,
                "customer": customer,
                "return_url": data.get("return_url"),
                "created": int(time.time()),
                "livemode": False,
                "url": f"{base_url(request)}/portal/{portal_id}",
            }
        )
        portals[portal_id] = portal
        return web.json_response(portal)

    async def portal_page(request: web.Request, key: str) -> web.Response:
        portal = portals.get(key)
        if portal is None:
            raise web.HTTPNotFound()
        back = html.escape(portal["return_url"] or "/")
        body = f"""<!doctype html><html><head><title>Stand-in Billing Portal</title></head>
<body><h1>Billing portal</h1><p data-testid="portal-customer">{html.escape(portal["customer"])}</p>
<a href="{back}">Return to the dashboard</a></body></html>"""
        return web.Response(text=body, content_type="text/html")

    # --- disputes ---------------------------------------------------------------------------

    async def open_dispute(request: web.Request, _key: str) -> web.Response:
        data = await params_of(request)
        if data.get("amount") and data.get("currency"):  # a charge made elsewhere (benchmarks)
            charge = {
                "id": data.get("charge"),
                "payment_intent": None,
                "amount": int(data["amount"]),
                "currency": data["currency"],
            }
        else:
            charge = await local("GET", f"/v1/charges/{data.get('charge', '')}")
        dispute = copy.deepcopy(fixtures["dispute"])
        dispute.update(
            {
                "id": new_id("dp_"),
                "charge": charge["id"],
                "payment_intent": charge.get("payment_intent"),
                "amount": charge["amount"],
                "currency": charge["currency"],
                "created": int(time.time()),
                "status": data.get("status") or "needs_response",
                "reason": data.get("reason") or "fraudulent",
                "livemode": False,
                "metadata": {},
            }
        )
        disputes[dispute["id"]] = dispute
        return web.json_response(dispute)

    async def dispute_status(request: web.Request, key: str) -> web.Response:
        dispute = disputes.get(key)
        if dispute is None:
            return stripe_error(404, "No such dispute")
        dispute["status"] = (await params_of(request)).get("status") or dispute["status"]
        return web.json_response(dispute)

    async def retrieve_dispute(request: web.Request) -> web.Response:
        dispute = disputes.get(request.match_info["id"])
        if dispute is None:
            return stripe_error(404, "No such dispute")
        return web.json_response(dispute)

    async def list_disputes(request: web.Request) -> web.Response:
        return listing("/v1/disputes", sorted(disputes.values(), key=lambda d: -d["created"]))

    async def update_dispute(request: web.Request) -> web.Response:
        dispute = disputes.get(request.match_info["id"])
        if dispute is None:
            return stripe_error(404, "No such dispute")
        data = await params_of(request)
        dispute["metadata"].update(data.get("metadata") or {})
        if str(data.get("submit")) == "true" and dispute["status"] == "needs_response":
            dispute["status"] = "under_review"
        return web.json_response(dispute)

    async def close_dispute(request: web.Request) -> web.Response:
        dispute = disputes.get(request.match_info["id"])
        if dispute is None:
            return stripe_error(404, "No such dispute")
        dispute["status"] = "lost"  # closing a dispute accepts it
        return web.json_response(dispute)

    # --- refunds and renewals -----------------------------------------------------------------

    async def refund_status(request: web.Request, key: str) -> web.Response:
        status = (await params_of(request)).get("status")
        if status not in ("failed", "canceled", "succeeded", "pending", "requires_action"):
            return stripe_error(400, "No such refund status")
        refund = resources.Refund._api_retrieve(key)
        refund.status = status
        refund.failure_reason = "expired_or_canceled_card" if status == "failed" else None
        return web.json_response(await local("GET", f"/v1/refunds/{key}"))

    async def renew(request: web.Request, key: str) -> web.Response:
        """The subscription's next period begins: its invoice is made and paid (or declined)."""
        subscription = await local("GET", f"/v1/subscriptions/{key}")
        invoice = await local(
            "POST", "/v1/invoices", {"customer": subscription["customer"], "subscription": key}
        )
        invoice_reasons[invoice["id"]] = "subscription_cycle"
        await local("POST", f"/v1/invoices/{invoice['id']}/pay")
        stored = resources.Invoice._api_retrieve(invoice["id"])
        if stored.status == "open":  # declined: what Stripe does and localstripe leaves out
            stored._on_payment_failure_now()
        return web.json_response(await local("GET", f"/v1/invoices/{invoice['id']}"))

    # --- a slow answer, for races -------------------------------------------------------------

    async def hold(request: web.Request, _key: str) -> web.Response:
        """The next GET of `path` is answered as things are when it arrives, but only sent
        once released: a slow network between a reader and Stripe."""
        path = (await params_of(request)).get("path", "")
        holds[path] = {"arrived": False, "release": asyncio.Event()}
        return web.json_response({"path": path})

    async def held(request: web.Request, _key: str) -> web.Response:
        path = request.query.get("path", "")
        return web.json_response({"arrived": bool(holds.get(path, {}).get("arrived"))})

    async def release(request: web.Request, _key: str) -> web.Response:
        found = holds.pop((await params_of(request)).get("path", ""), None)
        if found is not None:
            found["release"].set()
        return web.json_response({"released": found is not None})

    # --- invoices in the pinned API version's shape ---------------------------------------------

    def shaped_invoice(invoice: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        invoice = copy.deepcopy(invoice)
        invoice["billing_reason"] = invoice_reasons.get(invoice["id"], "manual")
        for line in (invoice.get("lines") or {}).get("data", []):
            plan = line.pop("plan", None) or {}
            line.pop("price", None)
            line["pricing"] = {
                "type": "price_details",
                "price_details": {"price": plan.get("id"), "product": plan.get("product")},
                "unit_amount_decimal": str(plan.get("amount")),
            }
        charge = invoice.pop("charge", None)
        intent = invoice.pop("payment_intent", None)
        if "payments" in expand:
            payment = copy.deepcopy(fixtures["invoice_payment"])
            payment.update(
                {
                    "id": "inpay_" + invoice["id"].removeprefix("in_"),
                    "invoice": invoice["id"],
                    "amount_paid": invoice.get("amount_paid"),
                    "currency": invoice.get("currency"),
                    "status": "paid" if invoice.get("status") == "paid" else "open",
                    "payment": {
                        "type": "payment_intent",
                        "payment_intent": intent,
                        "charge": charge.get("id") if isinstance(charge, dict) else charge,
                    },
                }
            )
            invoice["payments"] = {"object": "list", "has_more": False, "data": [payment]}
        return invoice

    # --- for tests ------------------------------------------------------------------------------

    async def standin_events(_request: web.Request, _key: str) -> web.Response:
        return web.json_response(sent_events)

    # Stripe's hosted pages need no API key: answered before localstripe's auth middleware.
    hosted = [
        ("GET", r"/pay/([\w]+)", pay_page),
        ("POST", r"/pay/([\w]+)", pay),
        ("POST", r"/pay/([\w]+)/cancel", cancel),
        ("GET", r"/portal/([\w]+)", portal_page),
        ("GET", r"/_standin/(events)", standin_events),
        ("POST", r"/_standin/(disputes)", open_dispute),
        ("POST", r"/_standin/(hold)", hold),
        ("GET", r"/_standin/(held)", held),
        ("POST", r"/_standin/(release)", release),
        ("POST", r"/_standin/disputes/([\w]+)/status", dispute_status),
        ("POST", r"/_standin/refunds/([\w]+)/status", refund_status),
        ("POST", r"/_standin/subscriptions/([\w]+)/renew", renew),
        ("POST", r"/_standin/checkout/([\w]+)/pay_later", pay_later),
        ("POST", r"/_standin/checkout/([\w]+)/settle", settle),
        ("POST", r"/_standin/checkout/([\w]+)/complete_free", complete_free),
    ]

    @web.middleware
    async def hosted_pages(request: web.Request, handler: Any) -> web.StreamResponse:
        for method, pattern, page in hosted:
            found = re.fullmatch(pattern, request.path)
            if found and request.method == method:
                return await page(request, found.group(1))
        return await handler(request)

    @web.middleware
    async def slow_answers(request: web.Request, handler: Any) -> web.StreamResponse:
        found = holds.get(request.path) if request.method == "GET" else None
        if found is None or found["arrived"]:
            return await handler(request)
        response = await handler(request)
        found["arrived"] = True
        await found["release"].wait()
        return response

    @web.middleware
    async def idempotency(request: web.Request, handler: Any) -> web.StreamResponse:
        """Stripe's idempotency keys: one key, one result, for the same parameters only."""
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key or not request.path.startswith("/v1/"):
            return await handler(request)
        fingerprint = request.path.encode() + b"?" + await request.read()
        if key in idempotent:
            first, status, body = idempotent[key]
            if first != fingerprint:
                body = json.dumps(
                    {
                        "error": {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be used with the "
                            "same parameters they were first used with.",
                        }
                    }
                ).encode()
                return web.Response(body=body, status=400, content_type="application/json")
            return web.Response(body=body, status=status, content_type="application/json")
        response = await handler(request)
        if isinstance(response, web.Response) and response.status < 500:
            idempotent[key] = (fingerprint, response.status, response.body or b"")
        return response

    @web.middleware
    async def invoices(request: web.Request, handler: Any) -> web.StreamResponse:
        """Invoices as the pinned API version shows them (localstripe's are older), the list's
        `created` filter localstripe lacks, and which invoices began a subscription."""
        if request.query.get("_raw") == "true":  # our own call below: localstripe's answer
            query = {k: v for k, v in request.query.items() if k != "_raw"}
            return await handler(request.clone(rel_url=request.rel_url.with_query(query)))
        if request.method == "GET" and request.path == "/v1/invoices":
            query = {k: v for k, v in request.query.items() if not k.startswith("created")}
            everything = await local("GET", "/v1/invoices", {**query, "limit": 100, "_raw": "true"})
            since = int(request.query.get("created[gt]", 0))
            found = [shaped_invoice(i, []) for i in everything["data"] if i["created"] > since]
            return listing("/v1/invoices", found)
        expand = request.query.getall("expand[0]", []) + request.query.getall("expand[]", [])
        if "payments" in expand:  # localstripe cannot expand it; added below
            query = [(k, v) for k, v in request.query.items() if not k.startswith("expand")]
            request = request.clone(rel_url=request.rel_url.with_query(query))
        response = await handler(request)
        if request.path == "/v1/subscriptions" and request.method == "POST":
            created = json.loads(response.body)  # type: ignore[union-attr]
            if created.get("latest_invoice"):
                invoice_reasons.setdefault(created["latest_invoice"], "subscription_create")
        if request.path.startswith("/v1/invoices/") and response.status == 200:
            found = json.loads(response.body)  # type: ignore[union-attr]
            if found.get("object") == "invoice":
                return web.json_response(shaped_invoice(found, expand))
        return response

    @web.middleware
    async def refund_events(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        if request.method == "POST" and request.path == "/v1/refunds" and response.status == 200:
            refund = json.loads(response.body)  # type: ignore[union-attr]
            charge = refund.get("charge")
            charge_id = charge.get("id") if isinstance(charge, dict) else charge
            if charge_id:
                await send_event("charge.refunded", await local("GET", f"/v1/charges/{charge_id}"))
        return response

    app.middlewares.insert(0, hosted_pages)
    app.middlewares.insert(1, slow_answers)
    app.middlewares.insert(2, idempotency)
    app.middlewares.append(invoices)
    app.middlewares.append(refund_events)
    app.router.add_post("/v1/prices", create_price)
    app.router.add_get("/v1/prices", list_prices)
    app.router.add_get("/v1/prices/{id}", retrieve_price)
    app.router.add_post("/v1/prices/{id}", update_price)
    app.router.add_post("/v1/checkout/sessions", create_session)
    app.router.add_get("/v1/checkout/sessions", list_sessions)
    app.router.add_get("/v1/checkout/sessions/{id}", retrieve_session)
    app.router.add_post("/v1/checkout/sessions/{id}/expire", expire_session)
    app.router.add_get("/v1/disputes", list_disputes)
    app.router.add_get("/v1/disputes/{id}", retrieve_dispute)
    app.router.add_post("/v1/disputes/{id}", update_dispute)
    app.router.add_post("/v1/disputes/{id}/close", close_dispute)
    app.router.add_post("/v1/billing_portal/sessions", create_portal)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = build_app()
    app["port"] = args.port
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
