"""Fulfilling credit packs against the Stripe stand-in: what a pack grants comes from the catalog
and the money paid, never from what the Checkout Session carries."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from dashboard_app.domain import billing, credits
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.models import CreditEntry, Order
from tests.factories import count_rows, create_member
from tests.support.stripe import (
    deliver,
    make_event,
    pay_checkout,
    standin,
    standin_url,
    start_checkout,
)

CATALOG = get_catalog()
STARTER = CATALOG.packs["starter"]
STUDIO = CATALOG.packs["studio"]


def available(engine, user_id: int) -> int:
    with Session(engine) as session:
        return credits.get_balances(session=session, user_id=user_id).available


def only_order(engine, user_id: int) -> Order:
    with Session(engine) as session:
        return session.exec(select(Order).where(Order.user_id == user_id)).one()


def fulfil(engine, gateway, session_id: str) -> billing.Fulfilment:
    return billing.fulfil_checkout(
        engine=engine, gateway=gateway, catalog=CATALOG, checkout_session_id=session_id
    )


def test_a_packs_credits_come_from_the_catalog_not_from_the_sessions_metadata(
    engine, stripe_standin
) -> None:
    """A session for the Starter price whose metadata claims the Studio pack and a fortune of
    credits grants what the Starter pack gives."""
    gateway = stripe_standin.gateway()
    member = create_member(engine)
    customer = billing.ensure_customer(engine=engine, gateway=gateway, user_id=member.id)
    starter_price = billing.catalog_prices(gateway, CATALOG)[STARTER.stripe_lookup_key]["id"]
    claims = {"user_id": str(member.id), "product": "studio", "kind": "pack", "credits": "99999"}
    checkout = gateway.create_checkout_session(
        {
            "mode": "payment",
            "customer": customer,
            "client_reference_id": str(member.id),
            "line_items": [{"price": starter_price, "quantity": 1}],
            "success_url": "http://localhost/s",
            "cancel_url": "http://localhost/c",
            "metadata": claims,
        },
        key=f"test-claims-{member.id}",
    )
    assert pay_checkout(checkout["url"]).status_code == 303
    result = fulfil(engine, gateway, checkout["id"])
    assert result.credits_granted == STARTER.credits
    assert available(engine, member.id) == STARTER.credits
    order = only_order(engine, member.id)
    assert (order.product_code, order.credits) == ("starter", STARTER.credits)
    assert order.items[0]["name"] == STARTER.name


def test_no_payment_required_grants_nothing_for_a_pack_with_a_price(engine, stripe_standin) -> None:
    gateway = stripe_standin.gateway()
    member = create_member(engine)
    session_id = start_checkout(engine, gateway, member.id, "studio")
    standin(gateway, f"checkout/{session_id}/complete_free")  # a 100% discount code
    result = fulfil(engine, gateway, session_id)
    assert result.credits_granted == 0
    assert available(engine, member.id) == 0
    assert count_rows(engine, CreditEntry, CreditEntry.user_id == member.id) == 0
    order = only_order(engine, member.id)
    assert (order.amount_total, order.credits) == (0, 0)


def test_a_discounted_payment_grants_in_proportion_to_the_money_paid(
    engine, stripe_standin
) -> None:
    gateway = stripe_standin.gateway()
    member = create_member(engine)
    session_id = start_checkout(engine, gateway, member.id, "studio")
    assert pay_checkout(f"{standin_url(gateway)}/pay/{session_id}").status_code == 303
    checkout = gateway.checkout_session(session_id)
    assert checkout["line_items"]["data"][0]["price"]["lookup_key"] == STUDIO.stripe_lookup_key
    # As Stripe shows a session paid with a 25% discount code.
    paid = STUDIO.price_cents * 3 // 4
    discounted = {**checkout, "amount_total": paid}
    with Session(engine) as session, session.begin():
        result = billing.apply_checkout(session=session, checkout=discounted, catalog=CATALOG)
    assert result.credits_granted == STUDIO.credits * 3 // 4
    assert available(engine, member.id) == STUDIO.credits * 3 // 4


def test_an_expired_checkout_leaves_no_order_and_grants_nothing(engine, stripe_standin) -> None:
    gateway = stripe_standin.gateway()
    member = create_member(engine)
    session_id = start_checkout(engine, gateway, member.id, "starter")
    expired = gateway.client.v1.checkout.sessions.expire(session_id).to_dict()
    assert expired["status"] == "expired"
    event = make_event("checkout.session.expired", expired)
    assert deliver(engine, gateway, event) == "processed"
    assert count_rows(engine, Order, Order.user_id == member.id) == 0
    assert available(engine, member.id) == 0


@pytest.mark.parametrize("outcome", ["failed", "succeeded"])
def test_a_delayed_payment_grants_only_once_it_succeeds(
    engine, stripe_standin, outcome: str
) -> None:
    gateway = stripe_standin.gateway()
    member = create_member(engine)
    session_id = start_checkout(engine, gateway, member.id, "starter")
    completed = standin(gateway, f"checkout/{session_id}/pay_later")
    assert deliver(engine, gateway, make_event("checkout.session.completed", completed)) == (
        "processed"
    )
    order = only_order(engine, member.id)
    assert (order.status, available(engine, member.id)) == ("pending", 0)
    settled = standin(gateway, f"checkout/{session_id}/settle", outcome=outcome)
    kind = f"checkout.session.async_payment_{outcome}"
    assert deliver(engine, gateway, make_event(kind, settled)) == "processed"
    # A late redelivery of the completion changes nothing.
    assert deliver(engine, gateway, make_event("checkout.session.completed", completed)) == (
        "processed"
    )
    order = only_order(engine, member.id)
    if outcome == "failed":
        assert (order.status, available(engine, member.id)) == ("failed", 0)
    else:
        assert (order.status, available(engine, member.id)) == ("paid", STARTER.credits)
        assert order.stripe_charge_id
