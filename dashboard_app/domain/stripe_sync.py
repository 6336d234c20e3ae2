"""Operator tasks against Stripe: make Stripe's products and prices match the catalog, and
reconcile a period (repair whatever a lost webhook missed). Both are safe to run again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.domain import billing
from dashboard_app.domain.billing.errors import translates_stripe_errors
from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.errors import DomainError
from dashboard_app.integrations.stripe_gateway import StripeGateway, StripeObject
from dashboard_app.models import CreditEntry, Order, Subscription


def product_id(code: str) -> str:
    return f"dash_{code}"


def _price_matches(price: StripeObject | None, item: billing.Product) -> bool:
    if price is None:
        return False
    recurring = price.get("recurring") or {}
    return (
        price.get("unit_amount") == item.price_cents
        and str(price.get("currency", "")).lower() == item.currency
        and (recurring.get("interval") if recurring else None) == item.interval
        and price.get("active", True)
    )


@translates_stripe_errors
def sync_catalog(*, gateway: StripeGateway, catalog: Catalog) -> list[str]:
    """Create or update a Product and a Price (by lookup key) for every pack and paid plan.
    A changed price gets a new Stripe Price that takes over the lookup key; the old one is
    archived, and subscriptions on it keep it until changed."""
    actions: list[str] = []
    items = billing.products(catalog)
    for item in items:
        found = gateway.product(product_id(item.code))
        if found is None:
            gateway.create_product(product_id=product_id(item.code), name=item.name)
            actions.append(f"created product {product_id(item.code)} ({item.name})")
        elif found.get("name") != item.name:
            gateway.rename_product(product_id=product_id(item.code), name=item.name)
            actions.append(f"renamed product {product_id(item.code)} to {item.name}")
    prices = gateway.prices_by_lookup_key([item.lookup_key for item in items])
    for item in items:
        current = prices.get(item.lookup_key)
        if _price_matches(current, item):
            continue
        params: dict[str, Any] = {
            "product": product_id(item.code),
            "unit_amount": item.price_cents,
            "currency": item.currency,
            "lookup_key": item.lookup_key,
            "transfer_lookup_key": True,
            "metadata": {"catalog_code": item.code},
        }
        if item.interval:
            params["recurring"] = {"interval": item.interval}
        created = gateway.create_price(params)
        actions.append(
            f"created price {created['id']} for {item.lookup_key}: "
            f"{billing.format_money(item.price_cents, item.currency)}"
            + (f" per {item.interval}" if item.interval else "")
        )
        if current is not None:
            gateway.deactivate_price(current["id"])
            actions.append(f"archived price {current['id']} (was {item.lookup_key})")
    billing.forget_prices()
    return actions


# --- Reconciliation ------------------------------------------------------------------------------


def _fingerprint(engine: Engine | None, *, order_filter: Any, keys: list[str]) -> tuple:
    with session_scope(engine) as session:
        orders = [
            (o.id, o.status, o.credits, o.amount_refunded, o.credits_clawed_back, o.amount_total)
            for o in session.exec(select(Order).where(order_filter))
        ]
        entries = list(
            session.exec(
                select(CreditEntry.idempotency_key).where(
                    CreditEntry.idempotency_key.in_(keys)  # type: ignore[attr-defined]
                )
            )
        )
        return (sorted(orders, key=str), sorted(entries))


def _subscription_state(engine: Engine | None, subscription_id: str | None) -> tuple | None:
    if not subscription_id:
        return None
    with session_scope(engine) as session:
        row = session.exec(
            select(Subscription).where(Subscription.stripe_subscription_id == subscription_id)
        ).first()
        if row is None:
            return None
        return (row.plan_code, row.status, row.current_period_end, row.cancel_at_period_end)


@translates_stripe_errors
def reconcile(
    *,
    engine: Engine | None,
    gateway: StripeGateway,
    catalog: Catalog,
    since: datetime,
    customer: str | None = None,
) -> tuple[list[str], list[str]]:
    """Walk Stripe's checkout sessions, invoices and charges created since `since` (only one
    customer's, when given) and apply each one's current state. Returns (what was repaired,
    what could not be)."""
    repaired: list[str] = []
    problems: list[str] = []

    def theirs(stripe_object: StripeObject) -> bool:
        return customer is None or billing.object_id(stripe_object.get("customer")) == customer

    def attempt(label: str, before: Callable[[], Any], work: Callable[[], Any]) -> None:
        state = before()
        try:
            work()
        except DomainError as error:
            problems.append(f"{label}: {error.message}")
            return
        if before() != state:
            repaired.append(label)

    for checkout in gateway.checkout_sessions_since(since, customer):
        if not theirs(checkout) or billing.checkout_owner(checkout) is None:
            continue  # not made by this dashboard
        cid = checkout["id"]
        attempt(
            f"checkout session {cid}",
            lambda cid=cid, sub=checkout.get("subscription"): (
                _fingerprint(
                    engine,
                    order_filter=Order.stripe_checkout_session_id == cid,
                    keys=[f"checkout:{cid}"],
                ),
                _subscription_state(engine, billing.object_id(sub)),
            ),
            lambda cid=cid: billing.fulfil_checkout(
                engine=engine, gateway=gateway, catalog=catalog, checkout_session_id=cid
            ),
        )
    for invoice in gateway.invoices_since(since, customer):
        if not theirs(invoice) or billing.invoice_subscription_id(invoice) is None:
            continue
        iid = invoice["id"]
        attempt(
            f"invoice {iid}",
            lambda iid=iid, sub=billing.invoice_subscription_id(invoice): (
                _fingerprint(
                    engine, order_filter=Order.stripe_invoice_id == iid, keys=[f"allowance:{iid}"]
                ),
                _subscription_state(engine, sub),
            ),
            lambda iid=iid: billing.sync_invoice(
                engine=engine, gateway=gateway, catalog=catalog, invoice_id=iid
            ),
        )
    for charge in gateway.charges_since(since, customer):
        if not theirs(charge) or not charge.get("amount_refunded"):
            continue
        chid = charge["id"]
        attempt(
            f"refund of charge {chid}",
            lambda chid=chid, pi=billing.object_id(charge.get("payment_intent")): _fingerprint(
                engine,
                order_filter=(Order.stripe_charge_id == chid)
                | (Order.stripe_payment_intent_id == (pi or "-")),
                keys=[],
            ),
            lambda chid=chid: billing.sync_refund(engine=engine, gateway=gateway, charge_id=chid),
        )
    return repaired, problems
