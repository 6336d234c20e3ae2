"""Subscription invoices against the Stripe stand-in: which plan an invoice pays for, which
invoices grant an allowance, and invoices whose fields are missing."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from dashboard_app.domain import billing, credits
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.stripe_sync import sync_catalog
from dashboard_app.models import CreditEntry, Order, Subscription
from tests.factories import create_member
from tests.support.stripe import paid_checkout, renew

CATALOG = get_catalog()
PRO = CATALOG.plans["pro"]
# A second paid plan, only for these tests: the stand-in gets its price once per run.
TEAM = PRO.model_copy(
    update={
        "name": "Team",
        "monthly_credits": 5000,
        "price_cents": 4900,
        "stripe_lookup_key": "team_monthly",
    }
)
WITH_TEAM = CATALOG.model_copy(update={"plans": {**CATALOG.plans, "team": TEAM}})


@pytest.fixture
def gateway(stripe_standin):
    gateway = stripe_standin.gateway()
    if "team_monthly" not in gateway.prices_by_lookup_key(["team_monthly"]):
        sync_catalog(gateway=gateway, catalog=WITH_TEAM)
    billing.forget_prices()
    return gateway


def subscribe(engine, gateway, user_id: int, code: str = "pro") -> dict:
    """A paid subscription at Stripe (its webhooks go nowhere): the Checkout Session."""
    return gateway.checkout_session(paid_checkout(engine, gateway, user_id, code))


def allowances(engine, user_id: int) -> list[int]:
    with Session(engine) as session:
        return [
            entry.amount
            for entry in session.exec(
                select(CreditEntry)
                .where(CreditEntry.user_id == user_id, CreditEntry.kind == "allowance")
                .order_by(CreditEntry.id)
            )
        ]


def apply(engine, gateway, invoice: dict, catalog=CATALOG) -> Order:
    plans_by_price = billing.price_plans(gateway, catalog)
    with Session(engine) as session, session.begin():
        order = billing.apply_invoice(
            session=session, invoice=invoice, catalog=catalog, plans_by_price=plans_by_price
        )
        session.expunge(order)
        return order


def test_a_paid_invoice_without_amount_paid_is_applied_once(engine, gateway) -> None:
    member = create_member(engine)
    checkout = subscribe(engine, gateway, member.id)
    billing.sync_subscription(
        engine=engine, gateway=gateway, catalog=CATALOG, subscription_id=checkout["subscription"]
    )
    invoice = gateway.invoice(checkout["invoice"])
    assert invoice["status"] == "paid" and invoice["billing_reason"] == "subscription_create"
    del invoice["amount_paid"]
    for _ in range(2):
        order = apply(engine, gateway, invoice)
    assert (order.status, order.amount_total, order.credits) == (
        "paid",
        PRO.price_cents,
        PRO.monthly_credits,
    )
    assert allowances(engine, member.id) == [PRO.monthly_credits]


def test_an_invoice_without_a_billing_reason_is_not_a_period_invoice(engine, gateway) -> None:
    member = create_member(engine)
    checkout = subscribe(engine, gateway, member.id)
    billing.sync_subscription(
        engine=engine, gateway=gateway, catalog=CATALOG, subscription_id=checkout["subscription"]
    )
    invoice = {**gateway.invoice(checkout["invoice"]), "billing_reason": None}
    order = apply(engine, gateway, invoice)
    assert (order.status, order.credits) == ("paid", 0)
    assert allowances(engine, member.id) == []


def test_renewals_grant_each_period_and_manual_invoices_do_not(engine, gateway) -> None:
    member = create_member(engine)
    checkout = subscribe(engine, gateway, member.id)
    renewal = renew(gateway, checkout["subscription"])
    manual = gateway.client.v1.invoices.create(
        params={"customer": checkout["customer"], "subscription": checkout["subscription"]}
    )
    gateway.client.v1.invoices.pay(manual.id)
    for invoice_id in (checkout["invoice"], renewal["id"], manual.id):
        billing.sync_invoice(engine=engine, gateway=gateway, catalog=CATALOG, invoice_id=invoice_id)
    assert gateway.invoice(manual.id)["billing_reason"] == "manual"
    assert allowances(engine, member.id) == [PRO.monthly_credits, PRO.monthly_credits]


def test_the_allowance_follows_the_plan_the_invoice_paid_for(engine, gateway) -> None:
    """A Pro invoice applied after the member moved to Team grants Pro's allowance, and the
    Team invoice Team's: never the plan the member happens to have when the event lands."""
    member = create_member(engine)
    checkout = subscribe(engine, gateway, member.id)
    subscription_id = checkout["subscription"]
    team_price = gateway.prices_by_lookup_key(["team_monthly"])["team_monthly"]["id"]
    item = gateway.subscription(subscription_id)["items"]["data"][0]["id"]
    gateway.client.v1.subscriptions.update(
        subscription_id, params={"items": [{"id": item, "plan": team_price}]}
    )
    team_invoice = renew(gateway, subscription_id)
    billing.forget_prices()
    billing.sync_subscription(
        engine=engine, gateway=gateway, catalog=WITH_TEAM, subscription_id=subscription_id
    )
    with Session(engine) as session:
        row = session.exec(select(Subscription).where(Subscription.user_id == member.id)).one()
        assert row.plan_code == "team"
    for invoice_id in (checkout["invoice"], team_invoice["id"]):
        billing.sync_invoice(
            engine=engine, gateway=gateway, catalog=WITH_TEAM, invoice_id=invoice_id
        )
    assert allowances(engine, member.id) == [PRO.monthly_credits, TEAM.monthly_credits]
    with Session(engine) as session:
        codes = {
            order.stripe_invoice_id: order.product_code
            for order in session.exec(select(Order).where(Order.user_id == member.id))
        }
    assert codes == {checkout["invoice"]: "pro", team_invoice["id"]: "team"}
    with Session(engine) as session:
        balance = credits.get_balances(session=session, user_id=member.id)
    assert balance.available == PRO.monthly_credits + TEAM.monthly_credits
