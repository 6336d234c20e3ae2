"""The one place that talks to Stripe. Every call uses a pinned API version and returns plain
dicts, so the billing service reads Stripe's objects the same way whether they came from the API
or from a verified webhook payload.

`STRIPE_API_BASE` points the client at a stand-in server (the tests use localstripe behind a
small Checkout and Billing Portal server); in production it is unset and the client talks to
api.stripe.com.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from typing import Any

import stripe

from dashboard_app.settings import Settings, get_settings

# The API version every request and every webhook endpoint of ours speaks. Change it only
# together with the code that reads Stripe's objects (see README, "Stripe").
API_VERSION = "2026-10-28.endive"

StripeObject = dict[str, Any]


class StripeGatewayError(Exception):
    """Stripe did not do what was asked. The text is for logs and developers; the billing
    service turns these into messages a member can act on."""


class StripeNotConfigured(StripeGatewayError):
    """This server has no Stripe secret key."""


class StripeUnavailable(StripeGatewayError):
    """Stripe could not be reached, timed out, or answered with a server error."""


class StripeRefused(StripeGatewayError):
    """Stripe answered and refused the request; `user_message` is Stripe's own text for people,
    when it gave one."""

    def __init__(self, message: str, *, user_message: str | None = None) -> None:
        super().__init__(message)
        self.user_message = user_message


class StripeNotFound(StripeRefused):
    """Stripe has no such object (or it belongs to another account)."""


def _plain(obj: Any) -> Any:
    return obj.to_dict() if hasattr(obj, "to_dict") else obj


class StripeGateway:
    def __init__(self, secret_key: str, *, api_base: str | None = None, timeout: float = 20):
        self.client = stripe.StripeClient(
            secret_key,
            stripe_version=API_VERSION,
            base_addresses={"api": api_base} if api_base else {},
            max_network_retries=2,
            http_client=stripe.HTTPXClient(timeout=timeout, allow_sync_methods=True),
        )

    # --- errors -------------------------------------------------------------------------------

    @staticmethod
    def _call(function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return _plain(function(*args, **kwargs))
        except (stripe.InvalidRequestError, stripe.IdempotencyError) as error:
            kind = StripeNotFound if error.http_status == 404 else StripeRefused
            raise kind(str(error), user_message=error.user_message) from error
        except stripe.StripeError as error:
            raise StripeUnavailable(f"{type(error).__name__}: {error}") from error

    def _pages(self, function: Any, params: dict[str, Any]) -> Iterator[StripeObject]:
        try:
            for item in function(params={**params, "limit": 100}).auto_paging_iter():
                yield _plain(item)
        except stripe.StripeError as error:
            raise StripeUnavailable(f"listing failed: {type(error).__name__}: {error}") from error

    # --- customers ------------------------------------------------------------------------------

    def create_customer(self, *, email: str, user_id: int, idempotency_key: str) -> StripeObject:
        return self._call(
            self.client.v1.customers.create,
            params={"email": email, "metadata": {"user_id": str(user_id)}},
            options={"idempotency_key": idempotency_key},
        )

    # --- catalog --------------------------------------------------------------------------------

    def prices_by_lookup_key(self, keys: list[str]) -> dict[str, StripeObject]:
        params = {"lookup_keys": keys, "active": True, "expand": ["data.product"]}
        prices = self._pages(self.client.v1.prices.list, params)
        return {price["lookup_key"]: price for price in prices if price.get("lookup_key")}

    def price(self, price_id: str) -> StripeObject:
        return self._call(self.client.v1.prices.retrieve, price_id)

    def product(self, product_id: str) -> StripeObject | None:
        try:
            return self._call(self.client.v1.products.retrieve, product_id)
        except StripeNotFound:
            return None

    def create_product(self, *, product_id: str, name: str) -> StripeObject:
        return self._call(self.client.v1.products.create, params={"id": product_id, "name": name})

    def rename_product(self, *, product_id: str, name: str) -> StripeObject:
        return self._call(self.client.v1.products.update, product_id, params={"name": name})

    def create_price(self, params: dict[str, Any]) -> StripeObject:
        return self._call(self.client.v1.prices.create, params=params)

    def deactivate_price(self, price_id: str) -> StripeObject:
        return self._call(self.client.v1.prices.update, price_id, params={"active": False})

    # --- checkout and portal ------------------------------------------------------------------

    def create_checkout_session(self, params: dict[str, Any], *, key: str) -> StripeObject:
        return self._call(
            self.client.v1.checkout.sessions.create, params=params, options={"idempotency_key": key}
        )

    def checkout_session(self, session_id: str) -> StripeObject:
        # Its line items name the Price bought: what fulfilment reads, never the metadata.
        return self._call(
            self.client.v1.checkout.sessions.retrieve,
            session_id,
            params={"expand": ["line_items"]},
        )

    def create_portal_session(self, *, customer: str, return_url: str) -> StripeObject:
        return self._call(
            self.client.v1.billing_portal.sessions.create,
            params={"customer": customer, "return_url": return_url},
        )

    # --- payments -------------------------------------------------------------------------------

    def payment_intent(self, payment_intent_id: str) -> StripeObject:
        return self._call(self.client.v1.payment_intents.retrieve, payment_intent_id)

    def charge(self, charge_id: str) -> StripeObject:
        return self._call(self.client.v1.charges.retrieve, charge_id)

    def cancel_subscription(self, subscription_id: str, *, idempotency_key: str) -> StripeObject:
        return self._call(
            self.client.v1.subscriptions.cancel,
            subscription_id,
            options={"idempotency_key": idempotency_key},
        )

    def refund(
        self,
        charge_id: str,
        *,
        idempotency_key: str,
        metadata: dict[str, str],
        amount: int | None = None,
    ) -> StripeObject:
        """Refund a charge: the whole of what is left of it, or `amount` (in cents) of it."""
        params: dict[str, Any] = {"charge": charge_id, "metadata": metadata}
        if amount is not None:
            params["amount"] = amount
        return self._call(
            self.client.v1.refunds.create,
            params=params,
            options={"idempotency_key": idempotency_key},
        )

    def refunds_of_charge(self, charge_id: str) -> Iterator[StripeObject]:
        return self._pages(self.client.v1.refunds.list, {"charge": charge_id})

    def dispute(self, dispute_id: str) -> StripeObject:
        return self._call(self.client.v1.disputes.retrieve, dispute_id)

    def invoice(self, invoice_id: str) -> StripeObject:
        # Since 2025 an invoice names its charge and payment intent only in `payments`.
        return self._call(
            self.client.v1.invoices.retrieve, invoice_id, params={"expand": ["payments"]}
        )

    def subscription(self, subscription_id: str) -> StripeObject:
        return self._call(self.client.v1.subscriptions.retrieve, subscription_id)

    # --- listing for reconciliation -------------------------------------------------------------

    def checkout_sessions_since(
        self, since: datetime, customer: str | None = None
    ) -> Iterator[StripeObject]:
        return self._pages(self.client.v1.checkout.sessions.list, _created_since(since, customer))

    def invoices_since(
        self, since: datetime, customer: str | None = None
    ) -> Iterator[StripeObject]:
        return self._pages(self.client.v1.invoices.list, _created_since(since, customer))

    def charges_since(self, since: datetime, customer: str | None = None) -> Iterator[StripeObject]:
        return self._pages(self.client.v1.charges.list, _created_since(since, customer))


def _created_since(since: datetime, customer: str | None = None) -> dict[str, Any]:
    # `gt` one second before rather than `gte`: the same set, and localstripe knows only `gt`.
    params: dict[str, Any] = {"created": {"gt": int(since.timestamp()) - 1}}
    if customer:
        params["customer"] = customer  # Stripe filters; callers check again (test servers)
    return params


def gateway_from_settings(settings: Settings) -> StripeGateway | None:
    if not settings.stripe_configured or settings.stripe_secret_key is None:
        return None
    return StripeGateway(
        settings.stripe_secret_key.get_secret_value(), api_base=settings.stripe_api_base
    )


@lru_cache
def get_gateway() -> StripeGateway | None:
    """The configured gateway, or None when this server has no Stripe keys."""
    return gateway_from_settings(get_settings())


def require_gateway() -> StripeGateway:
    gateway = get_gateway()
    if gateway is None:
        raise StripeNotConfigured("STRIPE_SECRET_KEY is not set")
    return gateway
