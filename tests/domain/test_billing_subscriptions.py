"""Subscriptions against the Stripe stand-in, through the same event processing the webhook
uses: a second subscription bought from another tab, a slow read racing a cancellation, a
failed renewal, cancelling at the period's end and cancelling now."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlmodel import Session, select

from dashboard_app.domain import billing
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.ledger_check import check_ledger
from dashboard_app.domain.plans import current_plan_code
from dashboard_app.models import AuditEntry, CreditEntry, Order, Subscription
from tests.factories import create_member
from tests.support.servers import wait_for
from tests.support.stripe import (
    deliver,
    make_event,
    paid_checkout,
    pay_checkout,
    renew,
    standin,
    standin_url,
    start_checkout,
)

CATALOG = get_catalog()
PRO = CATALOG.plans["pro"]


@pytest.fixture
def gateway(stripe_standin):
    return stripe_standin.gateway()


def fulfil(engine, gateway, session_id: str) -> billing.Fulfilment:
    return billing.fulfil_checkout(
        engine=engine, gateway=gateway, catalog=CATALOG, checkout_session_id=session_id
    )


def subscribed(engine, gateway) -> tuple[int, dict]:
    """A member with a paid, fulfilled Pro subscription: (member id, its Checkout Session)."""
    member = create_member(engine)
    session_id = paid_checkout(engine, gateway, member.id, "pro")
    fulfil(engine, gateway, session_id)
    return member.id, gateway.checkout_session(session_id)


def rows(engine, user_id: int) -> dict[str, Subscription]:
    with Session(engine) as session:
        found = session.exec(select(Subscription).where(Subscription.user_id == user_id))
        return {row.stripe_subscription_id: row for row in found}


def allowances(engine, user_id: int) -> list[int]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(CreditEntry.amount).where(
                    CreditEntry.user_id == user_id, CreditEntry.kind == "allowance"
                )
            )
        )


def another_tab_checkout(gateway, session_id: str) -> str:
    """A Checkout Session like `session_id`, made as start_checkout makes it in a later window."""
    made = gateway.checkout_session(session_id)
    params = {
        "mode": made["mode"],
        "customer": made["customer"],
        "client_reference_id": made["client_reference_id"],
        "line_items": [{"price": made["line_items"]["data"][0]["price"]["id"], "quantity": 1}],
        "success_url": made["success_url"],
        "cancel_url": made["cancel_url"],
        "metadata": made["metadata"],
        "subscription_data": {"metadata": {"user_id": made["client_reference_id"]}},
    }
    return gateway.create_checkout_session(params, key=f"another-tab-{session_id}")["id"]


def test_a_second_subscription_from_another_tab_is_canceled_and_refunded(engine, gateway) -> None:
    member = create_member(engine)
    # Two tabs open Checkout while the member has no subscription yet (the second in another
    # ten-minute window, so it is not the first one reused); both are paid.
    first = start_checkout(engine, gateway, member.id, "pro")
    second = another_tab_checkout(gateway, first)
    for session_id in (first, second):
        assert pay_checkout(f"{standin_url(gateway)}/pay/{session_id}").status_code == 303
    kept = fulfil(engine, gateway, first)
    refused = fulfil(engine, gateway, second)
    fulfil(engine, gateway, second)  # again: nothing more happens

    kept_id, refused_id = (gateway.checkout_session(s)["subscription"] for s in (first, second))
    assert gateway.subscription(kept_id)["status"] == "active"
    assert gateway.subscription(refused_id)["status"] == "canceled"
    refused_invoice = gateway.invoice(gateway.checkout_session(second)["invoice"])
    charge = gateway.charge(billing.invoice_charge_id(refused_invoice))
    assert charge["amount_refunded"] == PRO.price_cents

    found = rows(engine, member.id)
    assert (found[kept_id].status, found[kept_id].refused_as_duplicate) == ("active", False)
    assert (found[refused_id].status, found[refused_id].refused_as_duplicate) == (
        "canceled",
        True,
    )
    assert allowances(engine, member.id) == [PRO.monthly_credits]
    with Session(engine) as session:
        order = session.exec(
            select(Order).where(Order.stripe_invoice_id == refused_invoice["id"])
        ).one()
        assert (order.status, order.credits, order.amount_refunded) == (
            "refunded",
            0,
            PRO.price_cents,
        )
        audit = session.exec(
            select(AuditEntry).where(
                AuditEntry.subject_user_id == member.id,
                AuditEntry.action == "billing.duplicate_subscription_refused",
            )
        ).all()
        assert len(audit) == 1
        assert audit[0].after["subscription"] == refused_id
        assert audit[0].after["kept"] == kept_id
        assert current_plan_code(session=session, user_id=member.id, catalog=CATALOG) == "pro"
    with Session(engine) as fresh:  # ledger check reads a snapshot of its own
        assert check_ledger(session=fresh, user_id=member.id) == []
    # What the success pages of the two tabs learn.
    assert (kept.status, refused.status) == ("active", "refused_duplicate")


def test_a_slow_read_of_an_update_does_not_undo_a_cancellation(engine, gateway) -> None:
    member_id, checkout = subscribed(engine, gateway)
    subscription_id = checkout["subscription"]
    before = gateway.subscription(subscription_id)
    path = f"/v1/subscriptions/{subscription_id}"
    base = standin_url(gateway)
    standin(gateway, "hold", path=path)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # customer.subscription.updated: its read of the subscription is slow to come back...
        updated = pool.submit(
            deliver, engine, gateway, make_event("customer.subscription.updated", before)
        )
        wait_for(
            lambda: httpx.get(f"{base}/_standin/held", params={"path": path}).json()["arrived"],
            timeout=10,
            what="the slow read to reach Stripe",
        )
        # ...and meanwhile the member cancels, and the deletion is applied at once.
        canceled = gateway.client.v1.subscriptions.cancel(subscription_id).to_dict()
        assert deliver(engine, gateway, make_event("customer.subscription.deleted", canceled))
        assert rows(engine, member_id)[subscription_id].status == "canceled"
        standin(gateway, "release", path=path)
        assert updated.result(timeout=30) == "processed"
    assert rows(engine, member_id)[subscription_id].status == "canceled"
    with Session(engine) as session:
        assert current_plan_code(session=session, user_id=member_id, catalog=CATALOG) == "free"


def test_a_deleted_subscription_ends_the_plan(engine, gateway) -> None:
    member_id, checkout = subscribed(engine, gateway)
    canceled = gateway.client.v1.subscriptions.cancel(checkout["subscription"]).to_dict()
    assert deliver(engine, gateway, make_event("customer.subscription.deleted", canceled)) == (
        "processed"
    )
    row = rows(engine, member_id)[checkout["subscription"]]
    assert row.status == "canceled"
    with Session(engine) as session:
        assert current_plan_code(session=session, user_id=member_id, catalog=CATALOG) == "free"
        assert billing.live_subscription(session=session, user_id=member_id) is None


def test_cancel_at_period_end_keeps_the_plan_until_then(engine, gateway) -> None:
    member_id, checkout = subscribed(engine, gateway)
    updated = gateway.client.v1.subscriptions.update(
        checkout["subscription"], params={"cancel_at_period_end": True}
    ).to_dict()
    assert deliver(engine, gateway, make_event("customer.subscription.updated", updated)) == (
        "processed"
    )
    row = rows(engine, member_id)[checkout["subscription"]]
    assert (row.status, row.cancel_at_period_end) == ("active", True)
    with Session(engine) as session:
        assert current_plan_code(session=session, user_id=member_id, catalog=CATALOG) == "pro"


def test_a_failed_renewal_marks_the_member_past_due_until_paid(engine, gateway) -> None:
    member_id, checkout = subscribed(engine, gateway)
    customer = checkout["customer"]
    declining = gateway.client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": "4000000000000341", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    gateway.client.v1.payment_methods.attach(declining.id, params={"customer": customer})
    gateway.client.v1.customers.update(
        customer, params={"invoice_settings": {"default_payment_method": declining.id}}
    )
    invoice = renew(gateway, checkout["subscription"])
    assert invoice["status"] == "open"
    event = make_event("invoice.payment_failed", invoice)
    assert deliver(engine, gateway, event) == "processed"
    with Session(engine) as session:
        assert billing.past_due(session=session, user_id=member_id)
        order = session.exec(select(Order).where(Order.stripe_invoice_id == invoice["id"])).one()
        assert (order.status, order.credits) == ("failed", 0)
    assert allowances(engine, member_id) == [PRO.monthly_credits]
