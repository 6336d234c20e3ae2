"""Billing: what members can buy, Checkout, and turning Stripe's objects into orders,
subscriptions and ledger entries exactly once.

Two kinds of function live here:
- `apply_*` take a database session and Stripe objects (plain dicts) and change the database.
  They make no network calls; the caller owns the transaction.
- `start_checkout`, `fulfil_checkout`, `sync_*` and `refresh_order` fetch the current objects
  from Stripe first, then apply them in one short transaction of their own, so no lock is held
  while Stripe answers. The webhook processor, the success page and reconciliation all call
  these same functions.

Exactly-once rests on the business object, not on the event: a checkout session grants under the
key `checkout:<session id>`, an invoice under `allowance:<invoice id>`, a refund under
`refund:<charge id>:<amount refunded so far>` and a lost dispute under `dispute:<dispute id>`,
and every apply function first locks the member's row, so two deliveries of the same fact
serialise and the second finds the work done.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from dashboard_app.db import session_scope
from dashboard_app.domain import credits
from dashboard_app.domain.audit import record_audit
from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.errors import DomainError, InvalidInput, NotFound, PermissionDenied
from dashboard_app.domain.plans import LIVE_SUBSCRIPTION_STATUSES, sync_plans
from dashboard_app.integrations.stripe_gateway import (
    PaymentsUnavailable,
    StripeGateway,
    StripeNotFound,
    StripeObject,
)
from dashboard_app.models import Order, Plan, Subscription, User
from dashboard_app.models.base import utcnow
from dashboard_app.models.plans import SUBSCRIPTION_STATUSES

ORDER_FRESHNESS = timedelta(hours=12)
PRICE_CACHE_SECONDS = 300
ORDERS_PAGE_SIZE = 20


class UnknownOrder(DomainError):
    """An event about a payment whose order is not known yet (it may still be on its way):
    the event is retried later rather than dropped."""


@dataclass(frozen=True)
class Product:
    code: str
    kind: Literal["pack", "subscription"]
    name: str
    credits: int  # a pack's credits, or a plan's monthly allowance
    price_cents: int
    currency: str
    lookup_key: str
    interval: str | None = None


def products(catalog: Catalog) -> list[Product]:
    packs = [
        Product(
            code=code,
            kind="pack",
            name=pack.name,
            credits=pack.credits,
            price_cents=pack.price_cents,
            currency=catalog.currency,
            lookup_key=pack.stripe_lookup_key,
        )
        for code, pack in catalog.packs.items()
    ]
    plans = [
        Product(
            code=code,
            kind="subscription",
            name=plan.name,
            credits=plan.monthly_credits,
            price_cents=plan.price_cents or 0,
            currency=catalog.currency,
            lookup_key=plan.stripe_lookup_key or "",
            interval=plan.interval,
        )
        for code, plan in catalog.paid_plans().items()
    ]
    return packs + plans


def find_product(catalog: Catalog, code: str) -> Product:
    for product in products(catalog):
        if product.code == code:
            return product
    raise InvalidInput("There is no such pack or plan", field="product")


def format_money(cents: int, currency: str) -> str:
    symbol = {"usd": "$", "eur": "€", "gbp": "£"}.get(currency.lower())
    amount = f"{cents / 100:,.2f}"
    return f"{symbol}{amount}" if symbol else f"{amount} {currency.upper()}"


# --- Stripe prices, found by lookup key ------------------------------------------------------

_price_cache: dict[int, tuple[float, dict[str, StripeObject]]] = {}


def catalog_prices(gateway: StripeGateway, catalog: Catalog) -> dict[str, StripeObject]:
    """The active Stripe Price of each lookup key in the catalog, cached for a few minutes."""
    cached = _price_cache.get(id(gateway))
    if cached is not None and time.monotonic() - cached[0] < PRICE_CACHE_SECONDS:
        return cached[1]
    keys = [product.lookup_key for product in products(catalog)]
    prices = gateway.prices_by_lookup_key(keys) if keys else {}
    _price_cache[id(gateway)] = (time.monotonic(), prices)
    return prices


def forget_prices() -> None:
    _price_cache.clear()


def price_plans(gateway: StripeGateway, catalog: Catalog) -> dict[str, str]:
    """Stripe Price id -> plan code, for reading subscriptions."""
    prices = catalog_prices(gateway, catalog)
    found: dict[str, str] = {}
    for key, price in prices.items():
        plan = catalog.plan_for_lookup_key(key)
        if plan is not None:
            found[price["id"]] = plan
    return found


def _price_for(gateway: StripeGateway, catalog: Catalog, product: Product) -> str:
    price = catalog_prices(gateway, catalog).get(product.lookup_key)
    matches = (
        price is not None
        and price.get("unit_amount") == product.price_cents
        and str(price.get("currency", "")).lower() == product.currency
    )
    if not matches:
        forget_prices()  # look again next time: an operator may be syncing right now
        raise PaymentsUnavailable(
            f"{product.name} cannot be bought right now: its Stripe price does not match the "
            "catalog. An operator needs to run `python -m dashboard_app stripe sync-catalog`."
        )
    return price["id"]  # type: ignore[index]


# --- Reading Stripe objects ---------------------------------------------------------------------


def object_id(value: Any) -> str | None:
    """An expandable field: either an id or the object itself."""
    if isinstance(value, dict):
        return value.get("id")
    return value or None


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _int_or_none(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def invoice_subscription_id(invoice: StripeObject) -> str | None:
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return object_id(details.get("subscription")) or object_id(invoice.get("subscription"))


def _invoice_payment(invoice: StripeObject, field: str) -> str | None:
    """`charge` or `payment_intent` of an invoice: a top-level field in older API versions, in
    `invoice.payments` (when expanded) since 2025."""
    found = object_id(invoice.get(field))
    for payment in (invoice.get("payments") or {}).get("data", []):
        found = found or object_id((payment.get("payment") or {}).get(field))
    return found


def invoice_charge_id(invoice: StripeObject) -> str | None:
    return _invoice_payment(invoice, "charge")


def invoice_payment_intent_id(invoice: StripeObject) -> str | None:
    return _invoice_payment(invoice, "payment_intent")


def _subscription_period_end(subscription: StripeObject) -> datetime | None:
    ends = [
        item.get("current_period_end")
        for item in (subscription.get("items") or {}).get("data", [])
        if item.get("current_period_end")
    ]
    return _timestamp(max(ends) if ends else subscription.get("current_period_end"))


def _subscription_price_id(subscription: StripeObject) -> str | None:
    for item in (subscription.get("items") or {}).get("data", []):
        price = object_id(item.get("price")) or object_id(item.get("plan"))
        if price:
            return price
    return None


def _plan_of_subscription(
    subscription: StripeObject, catalog: Catalog, plans_by_price: dict[str, str]
) -> str | None:
    for item in (subscription.get("items") or {}).get("data", []):
        price = item.get("price")
        if isinstance(price, dict) and catalog.plan_for_lookup_key(price.get("lookup_key")):
            return catalog.plan_for_lookup_key(price.get("lookup_key"))
    price_id = _subscription_price_id(subscription)
    if price_id and price_id in plans_by_price:
        return plans_by_price[price_id]
    named = (subscription.get("metadata") or {}).get("plan")
    return named if named in catalog.paid_plans() else None


# --- Members and their Stripe customers ----------------------------------------------------------


def _lock_member(session: Session, user_id: int) -> User:
    """The member's row, locked: all billing changes for one member happen one at a time."""
    user = session.exec(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if user is None:
        raise NotFound("No such member")
    return user


def _member_for(
    session: Session, *, customer: str | None, metadata: dict[str, Any] | None
) -> int | None:
    if customer:
        user_id = session.exec(select(User.id).where(User.stripe_customer_id == customer)).first()
        if user_id is not None:
            return user_id
    # The metadata we set names the member; trusted only for a member not yet linked to
    # another customer (a customer created just before its id could be stored).
    named = _int_or_none((metadata or {}).get("user_id"))
    user = session.get(User, named) if named is not None else None
    if user is not None and user.stripe_customer_id in (None, customer):
        return named
    return None


def ensure_customer(*, engine: Engine | None, gateway: StripeGateway, user_id: int) -> str:
    """The member's Stripe customer, created the first time and reused after."""
    with session_scope(engine) as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("No such member")
        if user.stripe_customer_id:
            return user.stripe_customer_id
        email = user.email
    customer = gateway.create_customer(email=email, user_id=user_id)
    with session_scope(engine) as session:
        user = _lock_member(session, user_id)
        if not user.stripe_customer_id:  # a racing request may have stored one first
            user.stripe_customer_id = customer["id"]
            session.add(user)
        return user.stripe_customer_id


# --- Checkout -----------------------------------------------------------------------------------


def live_subscription(*, session: Session, user_id: int) -> Subscription | None:
    return session.exec(
        select(Subscription)
        .where(Subscription.user_id == user_id)
        .where(col(Subscription.status).in_(LIVE_SUBSCRIPTION_STATUSES))
        .order_by(col(Subscription.updated_at).desc())
    ).first()


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
    price_id = _price_for(gateway, catalog, product)
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
    checkout = gateway.create_checkout_session(params, key=f"checkout-{uuid.uuid4()}")
    return checkout["url"]


def checkout_owner(checkout: StripeObject) -> int | None:
    """The member a checkout session was made for; None when its two records disagree."""
    reference = _int_or_none(checkout.get("client_reference_id"))
    named = _int_or_none((checkout.get("metadata") or {}).get("user_id"))
    if reference is not None and named is not None and reference != named:
        return None
    return reference or named


def _order_for_checkout(
    session: Session, checkout: StripeObject, catalog: Catalog, user_id: int
) -> Order:
    order = session.exec(
        select(Order).where(Order.stripe_checkout_session_id == checkout["id"])
    ).first()
    if order is not None:
        return order
    metadata = checkout.get("metadata") or {}
    code = metadata.get("product", "")
    pack = catalog.packs.get(code)
    granted = _int_or_none(metadata.get("credits")) or (pack.credits if pack else 0)
    name = pack.name if pack else code or "Credit pack"
    order = Order(
        user_id=user_id,
        kind="pack",
        status="pending",
        product_code=code[:32],
        stripe_checkout_session_id=checkout["id"],
        amount_total=int(checkout.get("amount_total") or 0),
        currency=str(checkout.get("currency") or catalog.currency).lower()[:3],
        credits=granted,
        items=[
            {
                "name": name,
                "quantity": 1,
                "amount": int(checkout.get("amount_total") or 0),
                "credits": granted,
            }
        ],
    )
    session.add(order)
    session.flush()
    return order


def _checkout_member(session: Session, checkout: StripeObject) -> int:
    """The member id a checkout session belongs to: named by it, and with its customer."""
    owner = checkout_owner(checkout)
    member = session.get(User, owner) if owner is not None else None
    customer = object_id(checkout.get("customer"))
    if member is None or (member.stripe_customer_id and customer != member.stripe_customer_id):
        raise NotFound("This checkout session names no member of ours")
    return owner  # type: ignore[return-value]


@dataclass(frozen=True)
class Fulfilment:
    mode: str
    status: str  # the order's status, or the subscription's
    credits_granted: int  # by this checkout, whenever that happened
    order_id: int | None
    available: int


def apply_checkout(
    *,
    session: Session,
    checkout: StripeObject,
    catalog: Catalog,
    payment_intent: StripeObject | None = None,
    failed: bool = False,
) -> Fulfilment:
    owner = _checkout_member(session, checkout)
    _lock_member(session, owner)
    granted, order_id, status = 0, None, str(checkout.get("status") or "")
    known = session.exec(
        select(Order.id).where(Order.stripe_checkout_session_id == checkout["id"])
    ).first()
    if checkout.get("mode") == "payment" and (known or checkout.get("status") == "complete"):
        order = _order_for_checkout(session, checkout, catalog, owner)
        order.amount_total = int(checkout.get("amount_total") or order.amount_total)
        order.stripe_payment_intent_id = object_id(checkout.get("payment_intent"))
        if payment_intent is not None:
            charge = payment_intent.get("latest_charge")
            order.stripe_charge_id = object_id(charge)
            if isinstance(charge, dict) and charge.get("receipt_url"):
                order.receipt_url = charge["receipt_url"]
        if checkout.get("payment_status") in ("paid", "no_payment_required"):
            if order.credits > 0:
                credits.grant_credits(
                    session=session,
                    user_id=owner,
                    amount=order.credits,
                    kind="purchase",
                    idempotency_key=f"checkout:{checkout['id']}",
                    reference=f"order:{order.id}",
                    reason=order.items[0]["name"] if order.items else "Credit pack",
                )
            granted = order.credits
            if order.status in ("pending", "failed"):
                order.status = "paid"
        elif (failed or checkout.get("status") == "expired") and order.status == "pending":
            order.status = "failed"
        order.updated_at = order.refreshed_at = utcnow()
        session.add(order)
        order_id, status = order.id, order.status
    session.flush()
    return Fulfilment(
        mode=str(checkout.get("mode")),
        status=status,
        credits_granted=granted,
        order_id=order_id,
        available=credits.get_balances(session=session, user_id=owner).available,
    )


def fulfil_checkout(
    *,
    engine: Engine | None,
    gateway: StripeGateway,
    catalog: Catalog,
    checkout_session_id: str,
    user_id: int | None = None,
    failed: bool = False,
) -> Fulfilment:
    """Fulfil a Checkout Session from its current state at Stripe: the one function behind both
    the webhook and the success page. Grants only when paid, and only once however often and
    however concurrently it runs. With `user_id`, another member's session is NotFound."""
    if not checkout_session_id.startswith("cs_") or len(checkout_session_id) > 255:
        raise NotFound("No such checkout session")
    try:
        checkout = gateway.checkout_session(checkout_session_id)
    except StripeNotFound:
        raise NotFound("No such checkout session") from None
    if user_id is not None and checkout_owner(checkout) != user_id:
        raise NotFound("No such checkout session")
    with session_scope(engine) as session:  # refuse a stranger's session before changing anything
        _checkout_member(session, checkout)
    payment_intent = None
    if checkout.get("mode") == "payment" and object_id(checkout.get("payment_intent")):
        payment_intent = gateway.payment_intent(object_id(checkout["payment_intent"]))  # type: ignore[arg-type]
    if checkout.get("mode") == "subscription":
        if object_id(checkout.get("subscription")):
            sync_subscription(
                engine=engine,
                gateway=gateway,
                catalog=catalog,
                subscription_id=object_id(checkout["subscription"]),  # type: ignore[arg-type]
            )
        if object_id(checkout.get("invoice")):
            sync_invoice(
                engine=engine,
                gateway=gateway,
                catalog=catalog,
                invoice_id=object_id(checkout["invoice"]),  # type: ignore[arg-type]
            )
    with session_scope(engine) as session:
        return apply_checkout(
            session=session,
            checkout=checkout,
            catalog=catalog,
            payment_intent=payment_intent,
            failed=failed,
        )


# --- Subscriptions and invoices -------------------------------------------------------------------


def apply_subscription(
    *,
    session: Session,
    subscription: StripeObject,
    catalog: Catalog,
    plans_by_price: dict[str, str],
) -> Subscription | None:
    """Store a subscription's current state (plan, status, period end, cancel at period end)."""
    user_id = _member_for(
        session,
        customer=object_id(subscription.get("customer")),
        metadata=subscription.get("metadata"),
    )
    if user_id is None:
        raise UnknownOrder(f"subscription {subscription.get('id')} names no member of ours")
    _lock_member(session, user_id)
    row = session.exec(
        select(Subscription).where(Subscription.stripe_subscription_id == subscription["id"])
    ).first()
    plan = _plan_of_subscription(subscription, catalog, plans_by_price)
    if plan is None:
        if row is None:
            raise UnknownOrder(f"subscription {subscription['id']} is for no plan in the catalog")
        plan = row.plan_code
    if session.get(Plan, plan) is None:  # the plans table mirrors the catalog
        sync_plans(session=session, catalog=catalog)
    status = str(subscription.get("status") or "")
    if status not in SUBSCRIPTION_STATUSES:
        status = row.status if row is not None else "incomplete"
    row = row or Subscription(user_id=user_id, stripe_subscription_id=subscription["id"])
    row.user_id = user_id
    row.plan_code = plan
    row.status = status
    row.current_period_end = _subscription_period_end(subscription)
    row.cancel_at_period_end = bool(
        subscription.get("cancel_at_period_end") or subscription.get("cancel_at")
    )
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row


def sync_subscription(
    *,
    engine: Engine | None,
    gateway: StripeGateway,
    catalog: Catalog,
    subscription_id: str,
    fallback: StripeObject | None = None,
) -> Subscription | None:
    try:
        subscription = gateway.subscription(subscription_id)
    except StripeNotFound:
        if fallback is None:
            raise
        subscription = fallback  # a deleted subscription may no longer be retrievable
    plans_by_price = price_plans(gateway, catalog)
    with session_scope(engine) as session:
        row = apply_subscription(
            session=session,
            subscription=subscription,
            catalog=catalog,
            plans_by_price=plans_by_price,
        )
        if row is not None:
            session.expunge(row)
        return row


def _invoice_items(invoice: StripeObject) -> list[dict[str, Any]]:
    lines = (invoice.get("lines") or {}).get("data", [])
    return [
        {
            "name": str(line.get("description") or "Subscription")[:200],
            "quantity": int(line.get("quantity") or 1),
            "amount": int(line.get("amount") or 0),
        }
        for line in lines[:20]
    ]


def _invoice_period_end(invoice: StripeObject) -> datetime | None:
    ends = [
        (line.get("period") or {}).get("end")
        for line in (invoice.get("lines") or {}).get("data", [])
    ]
    ends = [end for end in ends if end]
    return _timestamp(max(ends) if ends else invoice.get("period_end"))


def apply_invoice(
    *,
    session: Session,
    invoice: StripeObject,
    catalog: Catalog,
    plan_code: str | None,
    failed: bool = False,
    now: datetime | None = None,
) -> Order | None:
    """A subscription invoice becomes an order; once paid, it grants the plan's allowance for
    its period (expiring when the period ends)."""
    subscription_id = invoice_subscription_id(invoice)
    if subscription_id is None:
        return None  # not a subscription invoice: nothing of ours
    now = now or utcnow()
    user_id = _member_for(
        session,
        customer=object_id(invoice.get("customer")),
        metadata=(invoice.get("parent") or {}).get("subscription_details", {}).get("metadata"),
    )
    if user_id is None:
        raise UnknownOrder(f"invoice {invoice.get('id')} names no member of ours")
    _lock_member(session, user_id)
    order = session.exec(select(Order).where(Order.stripe_invoice_id == invoice["id"])).first()
    if order is None:
        order = Order(user_id=user_id, kind="subscription", stripe_invoice_id=invoice["id"])
        if invoice.get("created"):
            order.created_at = _timestamp(invoice["created"])  # type: ignore[assignment]
    paid = invoice.get("status") == "paid"
    order.product_code = (plan_code or order.product_code)[:32]
    order.stripe_subscription_id = subscription_id
    order.amount_total = int(invoice.get("amount_paid") if paid else invoice.get("amount_due") or 0)
    order.currency = str(invoice.get("currency") or catalog.currency).lower()[:3]
    order.items = _invoice_items(invoice)
    order.receipt_url = invoice.get("hosted_invoice_url") or order.receipt_url
    order.stripe_charge_id = invoice_charge_id(invoice) or order.stripe_charge_id
    order.stripe_payment_intent_id = (
        invoice_payment_intent_id(invoice) or order.stripe_payment_intent_id
    )
    session.add(order)
    session.flush()
    if paid:
        allowance = catalog.plans[plan_code].monthly_credits if plan_code in catalog.plans else 0
        period_end = _invoice_period_end(invoice)
        # Only a period's own invoice grants: not a $0 invoice, a proration or a manual one.
        periodic = invoice.get("billing_reason") in (
            None,
            "subscription_create",
            "subscription_cycle",
        )
        if (
            allowance
            and periodic
            and int(invoice.get("amount_paid") or 0) > 0
            and order.credits == 0
            and (period_end is None or period_end > now)
        ):
            credits.grant_credits(
                session=session,
                user_id=user_id,
                amount=allowance,
                kind="allowance",
                idempotency_key=f"allowance:{invoice['id']}",
                reference=f"order:{order.id}",
                reason=f"{catalog.plans[plan_code].name} allowance",  # type: ignore[index]
                expires_at=period_end,
                now=now,
            )
            order.credits = allowance
        if order.status in ("pending", "failed"):
            order.status = "paid"
    elif failed and order.status == "pending":
        order.status = "failed"
    order.updated_at = order.refreshed_at = now
    session.add(order)
    session.flush()
    return order


def sync_invoice(
    *,
    engine: Engine | None,
    gateway: StripeGateway,
    catalog: Catalog,
    invoice_id: str,
    failed: bool = False,
) -> Order | None:
    invoice = gateway.invoice(invoice_id)
    subscription_id = invoice_subscription_id(invoice)
    if subscription_id is None:
        return None
    # The subscription first: an invoice may arrive before its subscription's own events.
    row = sync_subscription(
        engine=engine, gateway=gateway, catalog=catalog, subscription_id=subscription_id
    )
    with session_scope(engine) as session:
        order = apply_invoice(
            session=session,
            invoice=invoice,
            catalog=catalog,
            plan_code=row.plan_code if row else None,
            failed=failed,
        )
        if order is not None:
            session.expunge(order)
        return order


# --- Refunds and disputes -------------------------------------------------------------------------


def _order_for_charge(session: Session, charge_id: str | None, payment_intent: str | None) -> Order:
    order = None
    if charge_id:
        order = session.exec(select(Order).where(Order.stripe_charge_id == charge_id)).first()
    if order is None and payment_intent:
        order = session.exec(
            select(Order).where(Order.stripe_payment_intent_id == payment_intent)
        ).first()
    if order is None:
        raise UnknownOrder(f"no order is known yet for charge {charge_id}")
    _lock_member(session, order.user_id)
    session.refresh(order)
    return order


def _freeze_reference(order: Order) -> str:
    return f"dispute:{order.stripe_dispute_id}"


def _take_back(session: Session, order: Order, amount: int, *, key: str, reason: str) -> None:
    """Claw back `amount` of the order's credits, those frozen by its dispute first (the ledger
    stops at zero and records the shortfall) and count them on the order."""
    taken = credits.claw_back_credits(
        session=session,
        user_id=order.user_id,
        amount=amount,
        idempotency_key=key,
        reason=reason,
        reference=f"order:{order.id}",
        frozen_reference=_freeze_reference(order) if order.credits_frozen else None,
    )
    order.credits_clawed_back += amount
    order.credits_frozen -= taken.from_frozen


def _refund_status(order: Order) -> str:
    if order.status == "disputed":
        return "disputed"
    if order.amount_refunded <= 0:
        return order.status
    return "refunded" if order.amount_refunded >= order.amount_total else "partially_refunded"


def apply_refund(*, session: Session, charge: StripeObject) -> Order:
    """Claw back the credits of a refunded payment in proportion to the amount refunded so far.
    What was already spent cannot be taken back: the shortfall is recorded for admins."""
    order = _order_for_charge(session, charge.get("id"), object_id(charge.get("payment_intent")))
    refunded = int(charge.get("amount_refunded") or 0)
    if refunded <= order.amount_refunded:
        return order  # already applied (or an older view of the charge)
    total = order.amount_total or int(charge.get("amount") or 0)
    target = order.credits if total <= 0 else order.credits * min(refunded, total) // total
    owed = target - order.credits_clawed_back
    if owed > 0:
        _take_back(
            session,
            order,
            owed,
            key=f"refund:{charge['id']}:{refunded}",
            reason=f"Refund of order #{order.id}",
        )
    order.amount_refunded = refunded
    order.status = _refund_status(order)
    order.stripe_charge_id = order.stripe_charge_id or charge.get("id")
    order.updated_at = utcnow()
    session.add(order)
    session.flush()
    return order


def sync_refund(*, engine: Engine | None, gateway: StripeGateway, charge_id: str) -> Order:
    charge = gateway.charge(charge_id)
    with session_scope(engine) as session:
        order = apply_refund(session=session, charge=charge)
        session.expunge(order)
        return order


def apply_dispute(*, session: Session, dispute: StripeObject, closed: bool = False) -> Order:
    """A dispute flags the member and freezes what is left of that payment's credits; a lost
    dispute takes them back, a won one thaws them."""
    order = _order_for_charge(
        session, object_id(dispute.get("charge")), object_id(dispute.get("payment_intent"))
    )
    dispute_id = str(dispute["id"])
    if order.stripe_dispute_id not in (None, dispute_id):
        return order  # a second dispute on one charge is not possible at Stripe
    user = session.get(User, order.user_id)
    assert user is not None
    opened_now = order.stripe_dispute_id is None
    order.stripe_dispute_id = dispute_id
    if not closed:
        if opened_now:
            _open_dispute(session, order, user, dispute)
    elif opened_now or order.status == "disputed":  # not closed before (either order)
        _close_dispute(session, order, dispute)
    order.updated_at = utcnow()
    session.add_all([order, user])
    session.flush()
    return order


def _open_dispute(session: Session, order: Order, user: User, dispute: StripeObject) -> None:
    order.status = "disputed"
    left = order.credits - order.credits_clawed_back
    if left > 0:
        order.credits_frozen = credits.freeze_credits(
            session=session,
            user_id=order.user_id,
            amount=left,
            reference=_freeze_reference(order),
            reason=f"Frozen while the payment of order #{order.id} is disputed",
        )
    reason = dispute.get("reason") or "no reason given"
    user.billing_flag = f"Payment of order #{order.id} disputed ({reason})"[:500]
    record_audit(
        session=session,
        action="billing.dispute_opened",
        subject_user_id=order.user_id,
        after={"order": order.id, "dispute": dispute["id"], "frozen": order.credits_frozen},
    )


def _close_dispute(session: Session, order: Order, dispute: StripeObject) -> None:
    outcome = str(dispute.get("status") or "")
    left = order.credits - order.credits_clawed_back
    if outcome == "lost":
        if left > 0:
            _take_back(
                session,
                order,
                left,
                key=f"dispute:{dispute['id']}",
                reason=f"Dispute lost on order #{order.id}",
            )
        order.status = "refunded"
    else:
        order.status = "paid"
        order.status = _refund_status(order)
    if order.credits_frozen:  # a won dispute, or more frozen than a lost one took back
        order.credits_frozen -= credits.thaw_credits(
            session=session, reference=_freeze_reference(order)
        )
    record_audit(
        session=session,
        action="billing.dispute_closed",
        subject_user_id=order.user_id,
        after={"order": order.id, "dispute": dispute["id"], "outcome": outcome},
    )


# --- Portal -------------------------------------------------------------------------------------


def portal_url(
    *, engine: Engine | None, gateway: StripeGateway, user_id: int, return_url: str
) -> str:
    with session_scope(engine) as session:
        user = session.get(User, user_id)
        customer = user.stripe_customer_id if user else None
    if not customer:
        raise InvalidInput("There is no subscription or payment to manage yet")
    return gateway.create_portal_session(customer=customer, return_url=return_url)["url"]


# --- Orders -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrdersPage:
    orders: list[Order]
    next_before_id: int | None


def list_orders(
    *, session: Session, user_id: int, before_id: int | None = None, limit: int = ORDERS_PAGE_SIZE
) -> OrdersPage:
    query = select(Order).where(Order.user_id == user_id)
    if before_id is not None:
        query = query.where(col(Order.id) < before_id)
    rows = list(session.exec(query.order_by(col(Order.id).desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return OrdersPage(orders=rows, next_before_id=rows[-1].id if more and rows else None)


def get_order(*, session: Session, user_id: int, order_id: int) -> Order:
    order = session.get(Order, order_id)
    if order is None or order.user_id != user_id:
        raise NotFound("No such order")
    return order


def stale_order_ids(
    *, session: Session, user_id: int, now: datetime | None = None, limit: int = 20
) -> list[int]:
    """Orders whose snapshot is older than the freshness window."""
    cutoff = (now or utcnow()) - ORDER_FRESHNESS
    return list(
        session.exec(
            select(Order.id)
            .where(Order.user_id == user_id)
            .where(col(Order.refreshed_at).is_(None) | (col(Order.refreshed_at) < cutoff))
            .order_by(col(Order.id).desc())
            .limit(limit)
        )
    )


def refresh_order(
    *, engine: Engine | None, gateway: StripeGateway, catalog: Catalog, order_id: int
) -> None:
    """Bring one order's snapshot up to date from Stripe (and repair what a lost webhook
    missed)."""
    with session_scope(engine) as session:
        order = session.get(Order, order_id)
        if order is None:
            raise NotFound("No such order")
        checkout, invoice, charge = (
            order.stripe_checkout_session_id,
            order.stripe_invoice_id,
            order.stripe_charge_id,
        )
    if checkout:
        fulfil_checkout(
            engine=engine, gateway=gateway, catalog=catalog, checkout_session_id=checkout
        )
    if invoice:
        sync_invoice(engine=engine, gateway=gateway, catalog=catalog, invoice_id=invoice)
    if charge is None:  # fulfilment may just have learnt it
        with session_scope(engine) as session:
            charge = session.exec(
                select(Order.stripe_charge_id).where(Order.id == order_id)
            ).first()
    if charge:
        sync_refund(engine=engine, gateway=gateway, charge_id=charge)
    with session_scope(engine) as session:
        order = session.get(Order, order_id)
        if order is not None:
            order.refreshed_at = utcnow()
            session.add(order)


def past_due(*, session: Session, user_id: int) -> bool:
    return (
        session.exec(
            select(Subscription.id)
            .where(Subscription.user_id == user_id)
            .where(col(Subscription.status).in_(("past_due", "unpaid")))
        ).first()
        is not None
    )
