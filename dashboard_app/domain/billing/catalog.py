"""What members can buy: the catalog's packs and paid plans, and their Stripe Prices (found by
lookup key and cached for a few minutes)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from dashboard_app.domain.billing.errors import PaymentsUnavailable
from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.errors import InvalidInput
from dashboard_app.integrations.stripe_gateway import StripeGateway, StripeObject

PRICE_CACHE_SECONDS = 300


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
    _archived_codes.clear()


def price_plans(gateway: StripeGateway, catalog: Catalog) -> dict[str, str]:
    """Stripe Price id -> plan code, for reading subscriptions."""
    prices = catalog_prices(gateway, catalog)
    found: dict[str, str] = {}
    for key, price in prices.items():
        plan = catalog.plan_for_lookup_key(key)
        if plan is not None:
            found[price["id"]] = plan
    return found


def code_of_price(price: StripeObject, catalog: Catalog) -> str | None:
    """The catalog code a Stripe Price is for: by its lookup key, or (a price archived when its
    lookup key moved to a new one) by the code `sync-catalog` wrote into its metadata or its
    product's id. Never from anything a Checkout Session or a member sets."""
    codes = {item.lookup_key: item.code for item in products(catalog)}
    if price.get("lookup_key") in codes:
        return codes[price["lookup_key"]]
    named = (price.get("metadata") or {}).get("catalog_code")
    product = price.get("product")
    product_id = product.get("id") if isinstance(product, dict) else product
    for candidate in (named, str(product_id or "").removeprefix("dash_")):
        if candidate in catalog.packs or candidate in catalog.paid_plans():
            return candidate
    return None


_archived_codes: dict[str, str | None] = {}


def plans_for_prices(
    gateway: StripeGateway, catalog: Catalog, price_ids: list[str]
) -> dict[str, str]:
    """Stripe Price id -> plan code for `price_ids`: the catalog's current prices, and any other
    (an archived price a subscription keeps) looked up at Stripe once."""
    found = price_plans(gateway, catalog)
    for price_id in price_ids:
        if price_id in found:
            continue
        if price_id not in _archived_codes:
            _archived_codes[price_id] = code_of_price(gateway.price(price_id), catalog)
        code = _archived_codes[price_id]
        if code in catalog.paid_plans():
            found[price_id] = code  # type: ignore[assignment]
    return found


def price_for(gateway: StripeGateway, catalog: Catalog, product: Product) -> str:
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
