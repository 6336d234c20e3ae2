"""The webhook replay: a purchase, a subscription with two renewals, a refund and a dispute,
every event delivered three times, concurrently, in shuffled order, to the running app (several
workers on PostgreSQL). Balances and orders come out exactly right and the ledger checks."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlmodel import Session, select

from dashboard_app.domain import billing
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.ledger_check import check_ledger
from dashboard_app.models import CreditAccount, CreditEntry, Order, StripeEvent, Subscription
from tests.factories import create_member
from tests.support.servers import wait_for
from tests.support.stripe import make_event, paid_checkout, renew, signed, standin

CATALOG = get_catalog()
PACK = CATALOG.packs["starter"]
ALLOWANCE = CATALOG.plans["pro"].monthly_credits


def statuses(app, event_ids: list[str]) -> dict[str, str]:
    with Session(app.engine) as session:
        rows = session.exec(
            select(StripeEvent).where(StripeEvent.stripe_event_id.in_(event_ids))  # type: ignore[attr-defined]
        )
        return {row.stripe_event_id: row.status for row in rows}


def test_replayed_shuffled_concurrent_events_land_exactly_once(app) -> None:
    gateway = app.stripe.gateway()
    webhook_url = app.url("/api/stripe/webhook")
    member = create_member(app.engine)
    # Hold the stand-in's own deliveries back: this test delivers every event itself.
    app.stripe.send_webhooks_to(webhook_url, only=["test.deliveries_paused"])
    try:
        pack_id = paid_checkout(app.engine, gateway, member.id, "starter")
        plan_id = paid_checkout(app.engine, gateway, member.id, "pro")
    finally:
        app.stripe.send_webhooks_to(webhook_url)
    pack_session = gateway.checkout_session(pack_id)
    plan_session = gateway.checkout_session(plan_id)
    subscription_id = plan_session["subscription"]
    invoice_ids = [plan_session["invoice"]]
    for _renewal in range(2):
        invoice_ids.append(renew(gateway, subscription_id)["id"])
    invoices = [gateway.invoice(invoice_id) for invoice_id in invoice_ids]
    assert [invoice["status"] for invoice in invoices] == ["paid", "paid", "paid"]

    pack_charge_id = gateway.payment_intent(pack_session["payment_intent"])["latest_charge"]["id"]
    half = PACK.price_cents // 2
    gateway.client.v1.refunds.create(params={"charge": pack_charge_id, "amount": half})
    refunded_charge = gateway.charge(pack_charge_id)
    disputed_charge = gateway.charge(billing.invoice_charge_id(invoices[0]))
    subscription = gateway.subscription(subscription_id)
    dispute = standin(gateway, "disputes", charge=disputed_charge["id"])  # the bank opens one

    events = [
        make_event("checkout.session.completed", pack_session),
        make_event("checkout.session.async_payment_succeeded", pack_session),
        make_event("checkout.session.completed", plan_session),
        make_event("customer.subscription.updated", subscription),
        make_event("customer.subscription.created", subscription),
        make_event("charge.refunded", refunded_charge),
        make_event("charge.dispute.created", dispute),
    ]
    for invoice in invoices:  # the same invoice under two event ids (and types)
        events += [
            make_event("invoice.paid", invoice),
            make_event("invoice.payment_succeeded", invoice),
        ]
    deliveries = [signed(event) for event in events for _ in range(3)]
    random.Random(20261122).shuffle(deliveries)

    def deliver(delivery: tuple[bytes, dict[str, str]]) -> int:
        body, headers = delivery
        return httpx.post(webhook_url, content=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(deliver, deliveries)) == {200}

    event_ids = [event["id"] for event in events]
    wait_for(
        lambda: (
            set(statuses(app, event_ids).values()) == {"processed"}
            and len(statuses(app, event_ids)) == len(events)
        ),
        timeout=90,
        what="every event to be processed",
        interval=0.25,
    )

    with Session(app.engine) as session:
        account = session.get(CreditAccount, member.id)
        clawed = PACK.credits * half // PACK.price_cents
        # The disputed first invoice's allowance is frozen: out of the available balance.
        assert account.available == PACK.credits - clawed + 2 * ALLOWANCE
        assert account.frozen == ALLOWANCE
        assert account.lifetime == PACK.credits + 3 * ALLOWANCE
        kinds = [
            e.kind
            for e in session.exec(select(CreditEntry).where(CreditEntry.user_id == member.id))
        ]
        assert sorted(kinds) == sorted(
            ["purchase", "allowance", "allowance", "allowance", "refund_clawback", "freeze"]
        )

        orders = {
            order.stripe_checkout_session_id or order.stripe_invoice_id: order
            for order in session.exec(select(Order).where(Order.user_id == member.id))
        }
        assert set(orders) == {pack_id, *invoice_ids}
        pack = orders[pack_id]
        assert (pack.status, pack.amount_refunded, pack.credits_clawed_back) == (
            "partially_refunded",
            half,
            clawed,
        )
        assert orders[invoice_ids[0]].status == "disputed"
        assert [orders[i].status for i in invoice_ids[1:]] == ["paid", "paid"]
        assert {orders[i].credits for i in invoice_ids} == {ALLOWANCE}
        assert [orders[i].amount_total for i in invoice_ids] == [i["amount_paid"] for i in invoices]

        plan = session.exec(select(Subscription).where(Subscription.user_id == member.id)).one()
        assert (plan.plan_code, plan.status, plan.stripe_subscription_id) == (
            "pro",
            "active",
            subscription_id,
        )
    with Session(app.engine) as session:
        assert check_ledger(session=session, user_id=member.id) == []
