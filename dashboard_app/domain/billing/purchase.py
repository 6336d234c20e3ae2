"""What a member's click starts at Stripe: their Stripe customer, a Checkout Session, the Billing
Portal. Each reads the database, calls Stripe with no transaction open, then writes briefly.
Starting Checkout is limited per member, and repeated clicks reuse one session."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from dashboard_app.db import session_scope
from dashboard_app.domain.billing.catalog import find_product, price_for
from dashboard_app.domain.billing.errors import translates_stripe_errors
from dashboard_app.domain.billing.installation import installation_id
from dashboard_app.domain.billing.limits import CHECKOUT_REUSE, CHECKOUT_STARTS, limit_member
from dashboard_app.domain.billing.members import lock_member
from dashboard_app.domain.billing.subscriptions import live_subscription
from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.errors import InvalidInput, NotFound, PermissionDenied
from dashboard_app.integrations.stripe_gateway import StripeGateway
from dashboard_app.models import User
from dashboard_app.models.base import utcnow


@translates_stripe_errors
def ensure_customer(*, engine: Engine | None, gateway: StripeGateway, user_id: int) -> str:
    """The member's Stripe customer, created the first time and reused after."""
    with session_scope(engine) as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("No such member")
        if user.stripe_customer_id:
            return user.stripe_customer_id
        email = user.email
        # Two clicks racing create one customer (Stripe keeps keys for 24 hours); the
        # installation's id keeps member #1 of another database out of it.
        key = f"customer-{installation_id(session)}-{user_id}"
    customer = gateway.create_customer(email=email, user_id=user_id, idempotency_key=key)
    with session_scope(engine) as session:
        user = lock_member(session, user_id)
        if not user.stripe_customer_id:  # a racing request may have stored one first
            user.stripe_customer_id = customer["id"]
            session.add(user)
        return user.stripe_customer_id


@translates_stripe_errors
def start_checkout(
    *,
    engine: Engine | None,
    gateway: StripeGateway,
    catalog: Catalog,
    user_id: int,
    code: str,
    success_url: str,
    cancel_url: str,
) -> str:
    """Create a Stripe Checkout Session for a pack or a plan; returns the URL to send the
    browser to. The price comes only from the catalog, never from the browser."""
    product = find_product(catalog, code)
    with session_scope(engine) as session:
        user = session.get(User, user_id)
        if user is None or user.status != "active" or user.deleted_at is not None:
            raise PermissionDenied("This account cannot buy anything")
        if product.kind == "subscription" and live_subscription(session=session, user_id=user_id):
            raise InvalidInput(
                "You already have a subscription; change it with Manage subscription",
                field="product",
            )
    limit_member(
        engine=engine,
        action="billing.checkout",
        user_id=user_id,
        windows=CHECKOUT_STARTS,
        message="You have opened Checkout many times in a short while.",
    )
    price_id = price_for(gateway, catalog, product)
    customer = ensure_customer(engine=engine, gateway=gateway, user_id=user_id)
    metadata = {
        "user_id": str(user_id),
        "product": product.code,
        "kind": product.kind,
        "credits": str(product.credits),
    }
    params: dict[str, Any] = {
        "mode": "payment" if product.kind == "pack" else "subscription",
        "customer": customer,
        "client_reference_id": str(user_id),
        "line_items": [{"price": price_id, "quantity": 1}],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "metadata": metadata,
    }
    if product.kind == "pack":
        params["payment_intent_data"] = {"metadata": metadata}
    else:
        params["subscription_data"] = {"metadata": {"user_id": str(user_id), "plan": code}}
    # No order yet: one is made when the session completes (an abandoned checkout leaves none).
    # Clicks within one window reuse one session (Stripe answers a repeated key with the first
    # session); once that one is paid or expired, the next click gets a new one.
    with session_scope(engine) as session:
        scope = installation_id(session)
    bucket = int(utcnow().timestamp() // CHECKOUT_REUSE.total_seconds())
    key = f"checkout-{scope}-{user_id}-{product.code}-{bucket}"
    checkout = gateway.create_checkout_session(params, key=key)
    if gateway.checkout_session(checkout["id"]).get("status") != "open":
        checkout = gateway.create_checkout_session(params, key=f"{key}-after-{checkout['id']}")
    return checkout["url"]


@translates_stripe_errors
def portal_url(
    *, engine: Engine | None, gateway: StripeGateway, user_id: int, return_url: str
) -> str:
    with session_scope(engine) as session:
        user = session.get(User, user_id)
        customer = user.stripe_customer_id if user else None
    if not customer:
        raise InvalidInput("There is no subscription or payment to manage yet")
    return gateway.create_portal_session(customer=customer, return_url=return_url)["url"]
