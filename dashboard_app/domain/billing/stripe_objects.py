"""Reading Stripe's objects (plain dicts, from the API or a verified webhook payload): the fields
billing needs, whichever API version shape they come in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dashboard_app.domain.catalog import Catalog
from dashboard_app.integrations.stripe_gateway import StripeObject


def object_id(value: Any) -> str | None:
    """An expandable field: either an id or the object itself."""
    if isinstance(value, dict):
        return value.get("id")
    return value or None


def timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def amount(value: Any) -> int:
    """A money field (in cents); 0 when absent or unreadable."""
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def int_or_none(value: Any) -> int | None:
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


def invoice_amount_paid(invoice: StripeObject) -> int:
    """What a paid invoice took; its total when Stripe's `amount_paid` is missing."""
    if invoice.get("amount_paid") is not None:
        return amount(invoice["amount_paid"])
    return amount(invoice.get("total", invoice.get("amount_due")))


def line_price_id(line: StripeObject) -> str | None:
    """The Price an invoice line is for: `pricing.price_details.price` in the pinned API
    version, `price` or `plan` in older ones."""
    details = (line.get("pricing") or {}).get("price_details") or {}
    return (
        object_id(details.get("price"))
        or object_id(line.get("price"))
        or object_id(line.get("plan"))
    )


def _is_proration(line: StripeObject) -> bool:
    parent = line.get("parent") or {}
    details = parent.get("subscription_item_details") or parent.get("invoice_item_details") or {}
    return bool(details.get("proration") or line.get("proration"))


def invoice_price_ids(invoice: StripeObject) -> list[str]:
    """The Prices of an invoice's period lines (prorations left out), in order."""
    found: list[str] = []
    for line in (invoice.get("lines") or {}).get("data", []):
        price = line_price_id(line)
        if price and not _is_proration(line) and price not in found:
            found.append(price)
    return found


def invoice_items(invoice: StripeObject) -> list[dict[str, Any]]:
    lines = (invoice.get("lines") or {}).get("data", [])
    return [
        {
            "name": str(line.get("description") or "Subscription")[:200],
            "quantity": int(line.get("quantity") or 1),
            "amount": amount(line.get("amount")),
        }
        for line in lines[:20]
    ]


def invoice_period_end(invoice: StripeObject) -> datetime | None:
    ends = [
        (line.get("period") or {}).get("end")
        for line in (invoice.get("lines") or {}).get("data", [])
    ]
    ends = [end for end in ends if end]
    return timestamp(max(ends) if ends else invoice.get("period_end"))


def subscription_period_end(subscription: StripeObject) -> datetime | None:
    ends = [
        item.get("current_period_end")
        for item in (subscription.get("items") or {}).get("data", [])
        if item.get("current_period_end")
    ]
    return timestamp(max(ends) if ends else subscription.get("current_period_end"))


def subscription_price_id(subscription: StripeObject) -> str | None:
    for item in (subscription.get("items") or {}).get("data", []):
        price = object_id(item.get("price")) or object_id(item.get("plan"))
        if price:
            return price
    return None


def plan_of_subscription(
    subscription: StripeObject, catalog: Catalog, plans_by_price: dict[str, str]
) -> str | None:
    for item in (subscription.get("items") or {}).get("data", []):
        price = item.get("price")
        if isinstance(price, dict) and catalog.plan_for_lookup_key(price.get("lookup_key")):
            return catalog.plan_for_lookup_key(price.get("lookup_key"))
    price_id = subscription_price_id(subscription)
    if price_id and price_id in plans_by_price:
        return plans_by_price[price_id]
    named = (subscription.get("metadata") or {}).get("plan")
    return named if named in catalog.paid_plans() else None
