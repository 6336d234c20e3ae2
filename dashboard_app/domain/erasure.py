"""Copies of a deleted member's personal data outside their own rows: the Stripe events that
carry their email, name and billing address. The events stay (ids and amounts are the books);
the personal values in them are replaced."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Text, cast, func, or_
from sqlmodel import Session, select

from dashboard_app.domain.audit import ERASED
from dashboard_app.models import StripeEvent

# Stripe objects hold a customer's contact and address in these fields, whatever the object.
_PERSONAL_CONTAINERS = frozenset(
    {"customer_details", "billing_details", "shipping", "shipping_details", "customer_shipping"}
)
_PERSONAL_FIELDS = frozenset(
    {"customer_email", "customer_name", "customer_phone", "customer_address", "receipt_email"}
)
# ...and a Customer object in these.
_CUSTOMER_FIELDS = frozenset({"email", "name", "phone", "address", "shipping", "description"})


def _redact(value: Any, needles: tuple[str, ...], emails: tuple[str, ...], *, own: bool) -> Any:
    """`value` with the member's personal data replaced: the contact and address fields of
    their own customer's objects, of other objects that name one of their emails, and any text
    that contains one of `needles` (every value, for their own events; emails, for others')."""

    def walk(value: Any, personal: bool) -> Any:
        if isinstance(value, dict):
            is_customer = value.get("object") == "customer"
            theirs = own or _mentions(value, emails)
            return {
                name: walk(
                    inner,
                    personal
                    or (
                        theirs
                        and (
                            name in _PERSONAL_CONTAINERS
                            or name in _PERSONAL_FIELDS
                            or (is_customer and name in _CUSTOMER_FIELDS)
                        )
                    ),
                )
                for name, inner in value.items()
            }
        if isinstance(value, list):
            return [walk(inner, personal) for inner in value]
        if isinstance(value, str) and (personal or _mentions(value, needles if own else emails)):
            return ERASED
        return value

    return walk(value, False)


def redact_stripe_events(
    *, session: Session, stripe_customer_id: str | None, personal_values: Iterable[str]
) -> int:
    """Replace the member's personal data in stored Stripe events: events of their customer,
    or mentioning one of their values (found by their emails or customer id); returns how
    many events changed."""
    needles = tuple(sorted({v.strip().lower() for v in personal_values if len(v.strip()) >= 3}))
    emails = tuple(v for v in needles if "@" in v)
    markers = list(emails)
    if stripe_customer_id:
        markers.append(stripe_customer_id.lower())
    if not markers:
        return 0
    payload_text = func.lower(cast(StripeEvent.payload, Text))
    events = session.exec(
        select(StripeEvent).where(
            or_(*(payload_text.contains(marker, autoescape=True) for marker in markers))
        )
    )
    changed = 0
    for event in events:
        own = stripe_customer_id is not None and _customer_of(event.payload) == stripe_customer_id
        redacted = _redact(event.payload, needles, emails, own=own)
        error = event.last_error
        if error and _mentions(error, needles if own else emails):
            error = ERASED
        if redacted != event.payload or error != event.last_error:
            event.payload, event.last_error = redacted, error
            session.add(event)
            changed += 1
    session.flush()
    return changed


def _customer_of(payload: dict[str, Any]) -> str | None:
    obj = (payload.get("data") or {}).get("object") or {}
    customer = obj.get("customer") if obj.get("object") != "customer" else obj.get("id")
    return customer if isinstance(customer, str) else None


def _mentions(value: Any, needles: tuple[str, ...]) -> bool:
    if isinstance(value, dict):
        return any(_mentions(inner, needles) for inner in value.values())
    if isinstance(value, list):
        return any(_mentions(inner, needles) for inner in value)
    return isinstance(value, str) and any(needle in value.lower() for needle in needles)
