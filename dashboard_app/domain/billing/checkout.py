"""Checkout Sessions becoming orders: the rules that run inside the caller's transaction.

A payment-mode session grants its pack's credits under the key `checkout:<session id>`, once,
however often and however concurrently it is applied. Which pack, and how many credits, come
from the catalog, the session's Stripe Price and the money paid; the session's metadata only
names the member (and is checked against its customer)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from dashboard_app.domain import credits
from dashboard_app.domain.billing.catalog import code_of_price
from dashboard_app.domain.billing.members import UnknownOrder, lock_member
from dashboard_app.domain.billing.stripe_objects import amount, int_or_none, object_id
from dashboard_app.domain.catalog import Catalog, PackConfig
from dashboard_app.domain.errors import NotFound
from dashboard_app.integrations.stripe_gateway import StripeObject
from dashboard_app.models import Order, User
from dashboard_app.models.base import utcnow


def checkout_owner(checkout: StripeObject) -> int | None:
    """The member a checkout session was made for; None when its two records disagree."""
    reference = int_or_none(checkout.get("client_reference_id"))
    named = int_or_none((checkout.get("metadata") or {}).get("user_id"))
    if reference is not None and named is not None and reference != named:
        return None
    return reference or named


def pack_bought(checkout: StripeObject, catalog: Catalog) -> tuple[str, PackConfig, int]:
    """(code, pack, quantity) of a payment session, read from its line item's Stripe Price (the
    session is fetched with `line_items` expanded): never from its metadata."""
    items = (checkout.get("line_items") or {}).get("data") or []
    price = items[0].get("price") if items else None
    code = code_of_price(price, catalog) if isinstance(price, dict) else None
    if code not in catalog.packs:
        raise UnknownOrder(f"checkout session {checkout.get('id')} is for no pack in the catalog")
    quantity = max(1, int_or_none(items[0].get("quantity")) or 1)
    return code, catalog.packs[code], quantity  # type: ignore[return-value, index]


def pack_credits(checkout: StripeObject, pack: PackConfig, quantity: int, catalog: Catalog) -> int:
    """The catalog's credits for the money paid: all of them at the catalog's price, fewer in
    proportion when less was paid (a discount), none when nothing was paid for a pack that has
    a price (`no_payment_required`, a 100% discount)."""
    full = pack.price_cents * quantity
    if str(checkout.get("currency") or "").lower() != catalog.currency:
        return 0
    if full == 0:
        return pack.credits * quantity
    if checkout.get("payment_status") == "no_payment_required":
        return 0
    return pack.credits * quantity * min(amount(checkout.get("amount_total")), full) // full


def _order_for_checkout(
    session: Session, checkout: StripeObject, catalog: Catalog, user_id: int
) -> Order:
    order = session.exec(
        select(Order).where(Order.stripe_checkout_session_id == checkout["id"])
    ).first()
    if order is not None:
        return order
    code, pack, quantity = pack_bought(checkout, catalog)
    granted = pack_credits(checkout, pack, quantity, catalog)
    paid = amount(checkout.get("amount_total"))
    order = Order(
        user_id=user_id,
        kind="pack",
        status="pending",
        product_code=code,
        stripe_checkout_session_id=checkout["id"],
        amount_total=paid,
        currency=str(checkout.get("currency") or catalog.currency).lower()[:3],
        credits=granted,
        items=[{"name": pack.name, "quantity": quantity, "amount": paid, "credits": granted}],
    )
    session.add(order)
    session.flush()
    return order


def checkout_member(session: Session, checkout: StripeObject) -> int:
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
    owner = checkout_member(session, checkout)
    lock_member(session, owner)
    granted, order_id, status = 0, None, str(checkout.get("status") or "")
    known = session.exec(
        select(Order.id).where(Order.stripe_checkout_session_id == checkout["id"])
    ).first()
    if checkout.get("mode") == "payment" and (known or checkout.get("status") == "complete"):
        order = _order_for_checkout(session, checkout, catalog, owner)
        order.amount_total = amount(checkout.get("amount_total"))
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
