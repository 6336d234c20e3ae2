"""Amounts as an admin types them: whole credits, and money in the catalog's currency."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from dashboard_app.domain.billing import format_money
from dashboard_app.domain.credits import MAX_CREDITS_PER_OPERATION
from dashboard_app.domain.errors import InvalidInput

WHOLE = re.compile(r"^[+-]?\d+$")


def read_credit_amount(text: object) -> int:
    """A positive whole number of credits, at most what one operation may move ("1,500" too)."""
    cleaned = text.strip().replace(",", "").replace("_", "") if isinstance(text, str) else ""
    if not cleaned:
        raise InvalidInput("Enter a number of credits", field="amount")
    if not WHOLE.match(cleaned):
        raise InvalidInput("Credits must be a whole number, like 250", field="amount")
    amount = int(cleaned)
    if amount <= 0:
        raise InvalidInput("Credits must be a positive whole number", field="amount")
    if amount > MAX_CREDITS_PER_OPERATION:
        raise InvalidInput(
            f"At most {MAX_CREDITS_PER_OPERATION:,} credits can move at once", field="amount"
        )
    return amount


def read_money(text: object, currency: str) -> int:
    """An amount of money typed as "12" or "12.50", in cents; more than cents is refused."""
    cleaned = text.strip().replace(",", "") if isinstance(text, str) else ""
    if not cleaned:
        raise InvalidInput("Enter an amount to refund", field="amount")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidInput("Enter an amount like 4.50", field="amount") from None
    if not value.is_finite() or value <= 0:
        raise InvalidInput("The amount must be more than zero", field="amount")
    cents = value * 100
    if cents != cents.to_integral_value():
        raise InvalidInput(
            f"Amounts in {currency.upper()} have at most two decimals", field="amount"
        )
    if cents > 100_000_000:
        raise InvalidInput(f"At most {format_money(100_000_000, currency)}", field="amount")
    return int(cents)
