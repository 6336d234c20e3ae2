"""Refunds against the Stripe stand-in, through the same event processing the webhook uses: a
refund claws credits back, a refund that fails or is canceled afterwards gives them back, and a
new refund after that claws back again."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from dashboard_app.domain import billing, credits
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.ledger_check import check_ledger
from dashboard_app.models import Order
from tests.factories import create_member
from tests.support.stripe import deliver, make_event, paid_checkout, standin

CATALOG = get_catalog()
STARTER = CATALOG.packs["starter"]


@pytest.fixture
def gateway(stripe_standin):
    return stripe_standin.gateway()


def bought_pack(engine, gateway) -> tuple[int, str]:
    member = create_member(engine)
    session_id = paid_checkout(engine, gateway, member.id)
    billing.fulfil_checkout(
        engine=engine, gateway=gateway, catalog=CATALOG, checkout_session_id=session_id
    )
    return member.id, order_of(engine, member.id).stripe_charge_id


def order_of(engine, user_id: int) -> Order:
    with Session(engine) as session:
        return session.exec(select(Order).where(Order.user_id == user_id)).one()


def available(engine, user_id: int) -> int:
    with Session(engine) as session:
        assert check_ledger(session=session, user_id=user_id) == []
        return credits.get_balances(session=session, user_id=user_id).available


def refunded(engine, gateway, charge_id: str, amount: int) -> dict:
    """Refund at Stripe and deliver `charge.refunded`; returns the refund."""
    refund = gateway.client.v1.refunds.create(params={"charge": charge_id, "amount": amount})
    assert deliver(engine, gateway, make_event("charge.refunded", gateway.charge(charge_id))) == (
        "processed"
    )
    return refund.to_dict()


def test_a_refund_that_fails_gives_the_credits_back(engine, gateway) -> None:
    member_id, charge_id = bought_pack(engine, gateway)
    refund = refunded(engine, gateway, charge_id, STARTER.price_cents)
    assert available(engine, member_id) == 0
    failed = standin(gateway, f"refunds/{refund['id']}/status", status="failed")
    assert deliver(engine, gateway, make_event("refund.failed", failed)) == "processed"
    assert available(engine, member_id) == STARTER.credits
    order = order_of(engine, member_id)
    assert (order.status, order.amount_refunded, order.credits_clawed_back) == ("paid", 0, 0)
    # A new refund of the same amount takes them back again.
    refunded(engine, gateway, charge_id, STARTER.price_cents)
    assert available(engine, member_id) == 0
    assert order_of(engine, member_id).status == "refunded"


def test_a_canceled_refund_gives_its_share_back(engine, gateway) -> None:
    member_id, charge_id = bought_pack(engine, gateway)
    half = STARTER.price_cents // 2
    first = refunded(engine, gateway, charge_id, half)
    refunded(engine, gateway, charge_id, half)
    assert available(engine, member_id) == 0
    canceled = standin(gateway, f"refunds/{first['id']}/status", status="canceled")
    assert deliver(engine, gateway, make_event("charge.refund.updated", canceled)) == "processed"
    share = STARTER.credits - STARTER.credits * half // STARTER.price_cents
    assert available(engine, member_id) == share
    order = order_of(engine, member_id)
    assert (order.status, order.amount_refunded) == ("partially_refunded", half)


def test_a_failed_refund_returns_only_what_was_taken(engine, gateway) -> None:
    """Credits spent before the refund were never taken back (the shortfall); when the refund
    fails, only what was taken comes back."""
    member_id, charge_id = bought_pack(engine, gateway)
    with Session(engine) as session, session.begin():
        credits.spend_credits(session=session, user_id=member_id, amount=400, idempotency_key="s")
    refund = refunded(engine, gateway, charge_id, STARTER.price_cents)
    assert available(engine, member_id) == 0
    failed = standin(gateway, f"refunds/{refund['id']}/status", status="failed")
    assert deliver(engine, gateway, make_event("refund.updated", failed)) == "processed"
    assert available(engine, member_id) == STARTER.credits - 400
