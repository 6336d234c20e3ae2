"""Fetch the current object from Stripe, then apply it in one short transaction of its own, so
no lock is held while Stripe answers. The webhook processor, the success page, the orders page
and reconciliation all call these same functions."""

from __future__ import annotations

import dataclasses
import logging

from sqlalchemy import Engine
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.domain.billing.catalog import plans_for_prices
from dashboard_app.domain.billing.checkout import (
    Fulfilment,
    apply_checkout,
    checkout_member,
    checkout_owner,
)
from dashboard_app.domain.billing.disputes import apply_dispute
from dashboard_app.domain.billing.errors import translates_stripe_errors
from dashboard_app.domain.billing.installation import installation_id
from dashboard_app.domain.billing.limits import ORDER_REFRESHES, PAYMENT_LOOKUPS, limit_member
from dashboard_app.domain.billing.orders import (
    get_order,
    note_refresh_failed,
    snapshot_is_due,
    snapshot_is_fresh,
    stale_order_ids,
)
from dashboard_app.domain.billing.refunds import apply_refund
from dashboard_app.domain.billing.stripe_objects import (
    invoice_charge_id,
    invoice_price_ids,
    invoice_subscription_id,
    object_id,
    subscription_price_id,
)
from dashboard_app.domain.billing.subscriptions import (
    apply_invoice,
    apply_subscription,
    refuse_duplicate,
)
from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.errors import DomainError, NotFound
from dashboard_app.integrations.stripe_gateway import StripeGateway, StripeNotFound, StripeObject
from dashboard_app.models import Order, Subscription
from dashboard_app.models.base import utcnow

log = logging.getLogger(__name__)


@translates_stripe_errors
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
        checkout_member(session, checkout)
    payment_intent = None
    if checkout.get("mode") == "payment" and object_id(checkout.get("payment_intent")):
        payment_intent = gateway.payment_intent(object_id(checkout["payment_intent"]))  # type: ignore[arg-type]
    row = None
    if checkout.get("mode") == "subscription":
        if object_id(checkout.get("subscription")):
            row = sync_subscription(
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
        result = apply_checkout(
            session=session,
            checkout=checkout,
            catalog=catalog,
            payment_intent=payment_intent,
            failed=failed,
        )
    if row is not None:  # a subscription: its status, or that it was refused as a second one
        status = "refused_duplicate" if row.refused_as_duplicate else row.status
        result = dataclasses.replace(result, status=status)
    return result


@translates_stripe_errors
def sync_subscription(
    *,
    engine: Engine | None,
    gateway: StripeGateway,
    catalog: Catalog,
    subscription_id: str,
    fallback: StripeObject | None = None,
) -> Subscription | None:
    """Store the subscription's state at Stripe. A second live subscription beside the member's
    own (two Checkout tabs) is canceled at Stripe and its payment refunded."""
    read_at = utcnow()  # before the read: a read that started earlier is older
    try:
        subscription = gateway.subscription(subscription_id)
    except StripeNotFound:
        if fallback is None:
            raise
        subscription = fallback  # a deleted subscription may no longer be retrievable
    price_id = subscription_price_id(subscription)
    plans_by_price = plans_for_prices(gateway, catalog, [price_id] if price_id else [])
    with session_scope(engine) as session:
        row = apply_subscription(
            session=session,
            subscription=subscription,
            catalog=catalog,
            plans_by_price=plans_by_price,
            read_at=read_at,
        )
        duplicate = row is not None and row.refused_as_duplicate
        if row is not None:
            session.expunge(row)
    if duplicate:
        row = _cancel_duplicate(engine=engine, gateway=gateway, subscription=subscription)
    return row


def _cancel_duplicate(
    *, engine: Engine | None, gateway: StripeGateway, subscription: StripeObject
) -> Subscription:
    """Cancel a refused duplicate at Stripe and refund what its first invoice took. Safe to
    repeat: Stripe's idempotency keys make the second cancel and refund the first ones."""
    subscription_id = str(subscription["id"])
    with session_scope(engine) as session:
        scope = installation_id(session)
    if subscription.get("status") not in ("canceled", "incomplete_expired"):
        gateway.cancel_subscription(
            subscription_id, idempotency_key=f"refuse-{scope}-{subscription_id}"
        )
    charge_id = None
    invoice_id = object_id(subscription.get("latest_invoice"))
    invoice = gateway.invoice(invoice_id) if invoice_id else None
    if invoice is not None and invoice.get("status") == "paid":
        charge_id = invoice_charge_id(invoice)
        if charge_id and gateway.charge(charge_id).get("amount_refunded", 0) == 0:
            gateway.refund(
                charge_id,
                idempotency_key=f"refund-duplicate-{scope}-{subscription_id}",
                metadata={"reason": "duplicate subscription", "subscription": subscription_id},
            )
    with session_scope(engine) as session:
        refuse_duplicate(
            session=session, subscription_id=subscription_id, refunded_charge=charge_id
        )
        row = session.exec(
            select(Subscription).where(Subscription.stripe_subscription_id == subscription_id)
        ).one()
        session.expunge(row)
        return row


@translates_stripe_errors
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
    plans_by_price = plans_for_prices(gateway, catalog, invoice_price_ids(invoice))
    with session_scope(engine) as session:
        order = apply_invoice(
            session=session,
            invoice=invoice,
            catalog=catalog,
            plans_by_price=plans_by_price,
            failed=failed,
        )
        if order is not None:
            session.expunge(order)
    if (
        order is not None
        and order.stripe_charge_id
        and row is not None
        and row.refused_as_duplicate
    ):
        order = sync_refund(engine=engine, gateway=gateway, charge_id=order.stripe_charge_id)
    return order


@translates_stripe_errors
def sync_dispute(*, engine: Engine | None, gateway: StripeGateway, dispute_id: str) -> Order:
    """Bring the disputed order to the dispute's current state at Stripe: whichever of its
    events arrives, and in whatever order, the outcome is the same."""
    dispute = gateway.dispute(dispute_id)
    with session_scope(engine) as session:
        order = apply_dispute(session=session, dispute=dispute)
        session.expunge(order)
        return order


@translates_stripe_errors
def sync_refund(*, engine: Engine | None, gateway: StripeGateway, charge_id: str) -> Order:
    charge = gateway.charge(charge_id)
    refunds = list(gateway.refunds_of_charge(charge_id))
    with session_scope(engine) as session:
        order = apply_refund(session=session, charge=charge, refunds=refunds)
        session.expunge(order)
        return order


@translates_stripe_errors
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
            order.refresh_failures, order.refresh_after = 0, None
            session.add(order)


def confirm_checkout(
    *,
    engine: Engine | None,
    gateway: StripeGateway,
    catalog: Catalog,
    checkout_session_id: str,
    user_id: int,
) -> Fulfilment:
    """The success page's look-up of the member's own Checkout Session: limited per member, then
    fulfilled as the webhook would."""
    limit_member(
        engine=engine,
        action="billing.payment_lookup",
        user_id=user_id,
        windows=PAYMENT_LOOKUPS,
        message="We are still confirming your payment.",
    )
    return fulfil_checkout(
        engine=engine,
        gateway=gateway,
        catalog=catalog,
        checkout_session_id=checkout_session_id,
        user_id=user_id,
    )


def refresh_stale_orders(
    *, engine: Engine | None, gateway: StripeGateway, catalog: Catalog, user_id: int
) -> list[int]:
    """Bring the member's old order snapshots up to date from Stripe (the orders page asks):
    limited per member; an order whose refresh fails is not tried again until its backoff has
    passed. Returns the ids refreshed."""
    with session_scope(engine) as session:
        stale = stale_order_ids(session=session, user_id=user_id)
    if not stale:
        return []
    limit_member(
        engine=engine,
        action="billing.order_refresh",
        user_id=user_id,
        windows=ORDER_REFRESHES,
        message="Orders were checked with Stripe a moment ago.",
    )
    return _refresh_orders(engine=engine, gateway=gateway, catalog=catalog, order_ids=stale)[0]


def refresh_order_when_stale(
    *,
    engine: Engine | None,
    gateway: StripeGateway,
    catalog: Catalog,
    user_id: int,
    order_id: object,
) -> bool:
    """Before one of the member's orders is shown (the API's order detail): bring it up to date
    from Stripe when its snapshot is due. Another member's order is NotFound. Stripe out of
    reach, or refusing, leaves the stored snapshot (the failure backs off as the scheduled
    refresh's does). Returns whether the snapshot is fresh."""
    with session_scope(engine) as session:
        order = get_order(session=session, user_id=user_id, order_id=order_id)
        assert order.id is not None
        if snapshot_is_fresh(order):
            return True
        if not snapshot_is_due(order):  # a failed refresh is backing off
            return False
        known_id = order.id
    refreshed, _ = _refresh_orders(
        engine=engine, gateway=gateway, catalog=catalog, order_ids=[known_id]
    )
    return bool(refreshed)


def refresh_all_stale_orders(
    *, engine: Engine | None, gateway: StripeGateway, catalog: Catalog, limit: int = 200
) -> tuple[list[int], list[int]]:
    """The scheduled pass over every member's stale orders (at most `limit`, newest first; the
    next pass takes the rest). No member limit: no member asked. Returns (refreshed, failed)."""
    with session_scope(engine) as session:
        stale = stale_order_ids(session=session, user_id=None, limit=limit)
    return _refresh_orders(engine=engine, gateway=gateway, catalog=catalog, order_ids=stale)


def _refresh_orders(
    *, engine: Engine | None, gateway: StripeGateway, catalog: Catalog, order_ids: list[int]
) -> tuple[list[int], list[int]]:
    refreshed, failed = [], []
    for order_id in order_ids:
        try:
            refresh_order(engine=engine, gateway=gateway, catalog=catalog, order_id=order_id)
        except DomainError as error:  # one order Stripe cannot explain does not stop the rest
            log.warning("could not refresh order %s: %s", order_id, error.message)
            with session_scope(engine) as session:
                note_refresh_failed(session=session, order_id=order_id)
            failed.append(order_id)
            continue
        refreshed.append(order_id)
    return refreshed, failed
