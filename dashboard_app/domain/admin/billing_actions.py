"""An admin's billing actions, which call Stripe: refund an order (in full or in part) and bring
one member up to date with Stripe now. Each reads and checks in one short transaction, calls
Stripe with no transaction open, then records what happened.

A refund only asks Stripe to refund: the credits are taken back when Stripe's refund event
arrives, by the same rule as for any refund (`billing.apply_refund`), so a refund made here and
one made in Stripe's dashboard end the same way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.domain import billing
from dashboard_app.domain.admin.guard import (
    audit_action,
    check_form_token,
    check_reason,
    done_before,
    require_admin,
    target_member,
)
from dashboard_app.domain.billing.installation import installation_id
from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.errors import DomainError, InvalidInput, NotFound
from dashboard_app.domain.ids import record_id
from dashboard_app.integrations.stripe_gateway import StripeGateway
from dashboard_app.models import Order, Subscription, User
from dashboard_app.models.base import utcnow

REFUNDABLE = ("paid", "partially_refunded")
SYNC_DAYS = 90


@dataclass(frozen=True)
class RefundRequested:
    message: str
    repeated: bool = False


def refund_order(
    *,
    engine: Engine | None,
    gateway: StripeGateway,
    actor_user_id: object,
    order_id: object,
    amount_cents: int,
    reason: object,
    form_token: object,
    member_id: int | None = None,
) -> RefundRequested:
    """Refund `amount_cents` of an order's payment at Stripe (at most what is left of it);
    with `member_id`, an order of anyone else is not found."""
    with session_scope(engine) as session:
        actor = require_admin(session=session, actor_user_id=actor_user_id)  # type: ignore[arg-type]
        reason_text = check_reason(reason)
        token = check_form_token(form_token)
        if record_id(order_id) is None:
            raise NotFound("No such order")
        order = session.get(Order, order_id)
        if order is None or member_id not in (None, order.user_id):
            raise NotFound("No such order")
        member = target_member(session, order.user_id)
        if done_before(
            session, member_id=order.user_id, action="admin.order_refunded", form_token=token
        ):
            return RefundRequested("Already refunded: this form was sent before.", repeated=True)
        if order.status not in REFUNDABLE or not order.stripe_charge_id:
            raise InvalidInput(f"Order #{order.id} is {order.status}: it cannot be refunded now.")
        left = order.amount_total - order.amount_refunded
        if not 0 < amount_cents <= left:
            raise InvalidInput(
                f"At most {billing.format_money(left, order.currency)} of order #{order.id} "
                "can still be refunded.",
                field="amount",
            )
        charge_id, currency, refunded_before = (
            order.stripe_charge_id,
            order.currency,
            order.amount_refunded,
        )
        scope = installation_id(session)
        actor_id, owner_id = actor.id, member.id
    with billing.stripe_errors():
        refund = gateway.refund(
            charge_id,
            amount=amount_cents,
            idempotency_key=f"admin-refund-{scope}-{order_id}-{token}",
            metadata={"order": str(order_id), "admin": str(actor_id), "reason": reason_text[:400]},
        )
    with session_scope(engine) as session:
        # Stripe has acted: the entry is written whatever happened to the actor since.
        actor = session.get(User, actor_id)
        assert actor is not None
        audit_action(
            session,
            action="admin.order_refunded",
            actor=actor,
            member_id=owner_id,
            before={"order": order_id, "amount_refunded": refunded_before},
            after={"order": order_id, "refund": refund.get("id"), "amount": amount_cents},
            reason=reason_text,
            form_token=token,
        )
    money = billing.format_money(amount_cents, currency)
    return RefundRequested(
        f"Refund of {money} sent to Stripe; the credits follow when Stripe confirms it."
    )


@dataclass(frozen=True)
class Synced:
    message: str
    problems: list[str]


def sync_member(
    *,
    engine: Engine | None,
    gateway: StripeGateway,
    catalog: Catalog,
    actor_user_id: object,
    member_id: object,
    reason: object,
    form_token: object,
) -> Synced:
    """Bring the member up to date with Stripe now: their Checkout Sessions of the last
    SYNC_DAYS days (a purchase whose webhook never arrived has no order yet), every order and
    every subscription. What a lost webhook missed is repaired, exactly once, as
    reconciliation would."""
    with session_scope(engine) as session:
        actor = require_admin(session=session, actor_user_id=actor_user_id)  # type: ignore[arg-type]
        reason_text = check_reason(reason)
        token = check_form_token(form_token)
        member = target_member(session, member_id)
        assert member.id is not None
        order_ids = list(session.exec(select(Order.id).where(Order.user_id == member.id)))
        subscription_ids = [
            s
            for s in session.exec(
                select(Subscription.stripe_subscription_id).where(Subscription.user_id == member.id)
            )
            if s
        ]
        actor_id, member_id, customer = actor.id, member.id, member.stripe_customer_id
    problems: list[str] = []
    checkouts = 0
    since = utcnow() - timedelta(days=SYNC_DAYS)
    sessions: list[str] = []
    if customer:  # Checkout always runs with the member's own customer (billing.purchase)
        with billing.stripe_errors():
            sessions = [
                c["id"]
                for c in gateway.checkout_sessions_since(since)
                if billing.object_id(c.get("customer")) == customer
            ]
    for checkout_id in sessions:
        try:
            billing.fulfil_checkout(
                engine=engine, gateway=gateway, catalog=catalog, checkout_session_id=checkout_id
            )
            checkouts += 1
        except DomainError as error:
            problems.append(f"checkout {checkout_id}: {error.message}")
    with session_scope(engine) as session:  # fulfilment may have made orders
        order_ids = list(session.exec(select(Order.id).where(Order.user_id == member_id)))
    for subscription_id in subscription_ids:
        try:
            billing.sync_subscription(
                engine=engine, gateway=gateway, catalog=catalog, subscription_id=subscription_id
            )
        except DomainError as error:
            problems.append(f"subscription {subscription_id}: {error.message}")
    for order_id in order_ids:
        try:
            billing.refresh_order(
                engine=engine, gateway=gateway, catalog=catalog, order_id=order_id
            )
        except DomainError as error:
            problems.append(f"order #{order_id}: {error.message}")
    with session_scope(engine) as session:
        # Stripe has acted: the entry is written whatever happened to the actor since.
        actor = session.get(User, actor_id)
        assert actor is not None
        audit_action(
            session,
            action="admin.stripe_synced",
            actor=actor,
            member_id=member_id,
            before={},
            after={
                "checkouts": checkouts,
                "orders": len(order_ids),
                "subscriptions": len(subscription_ids),
                "problems": problems[:20],
            },
            reason=reason_text,
            form_token=token,
        )
    message = (
        f"Checked {len(sessions)} checkout(s), {len(order_ids)} order(s) and "
        f"{len(subscription_ids)} subscription(s) with Stripe."
    )
    if problems:
        message += f" {len(problems)} could not be checked."
    return Synced(message, problems)
