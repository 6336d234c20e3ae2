"""What refunds and disputes do to the ledger, through the billing services: a dispute freezes
only what is left of the payment, through ledger entries, and blocks no other credits."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from dashboard_app.domain import billing, credits
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.ledger_check import check_ledger
from dashboard_app.models import CreditAccount, CreditEntry, Order
from tests.factories import create_member
from tests.support.stripe import make_dispute, paid_checkout

CATALOG = get_catalog()
STARTER = CATALOG.packs["starter"]


@pytest.fixture
def gateway(stripe_standin):
    return stripe_standin.gateway()


def bought_starter(engine, gateway, user_id: int) -> Order:
    session_id = paid_checkout(engine, gateway, user_id)
    billing.fulfil_checkout(
        engine=engine, gateway=gateway, catalog=CATALOG, checkout_session_id=session_id
    )
    with Session(engine) as session:
        return session.exec(
            select(Order).where(Order.stripe_checkout_session_id == session_id)
        ).one()


def in_transaction(engine, operation, **kwargs):
    with Session(engine) as session, session.begin():
        return operation(session=session, **kwargs)


def account(engine, user_id: int) -> CreditAccount:
    with Session(engine) as session:
        return session.get(CreditAccount, user_id)


def order(engine, order_id: int) -> Order:
    with Session(engine) as session:
        return session.get(Order, order_id)


def kinds(engine, user_id: int) -> list[str]:
    with Session(engine) as session:
        rows = session.exec(
            select(CreditEntry.kind).where(CreditEntry.user_id == user_id).order_by(CreditEntry.id)
        )
        return list(rows)


def assert_consistent(engine, user_id: int) -> None:
    with Session(engine) as session:
        assert [str(p) for p in check_ledger(session=session, user_id=user_id)] == []


def test_a_dispute_on_spent_credits_freezes_what_is_left_and_blocks_nothing_else(
    engine, gateway
) -> None:
    member = create_member(engine).id
    bought = bought_starter(engine, gateway, member)
    in_transaction(
        engine,
        credits.spend_credits,
        user_id=member,
        amount=STARTER.credits - 50,
        idempotency_key="s1",
    )
    dispute = make_dispute(gateway.charge(bought.stripe_charge_id))
    in_transaction(engine, billing.apply_dispute, dispute=dispute)
    # Only the 50 credits still available could be frozen.
    assert (account(engine, member).available, account(engine, member).frozen) == (0, 50)
    assert order(engine, bought.id).credits_frozen == 50
    assert kinds(engine, member)[-1] == "freeze"
    # A bonus that arrives during the dispute is the member's to spend.
    in_transaction(engine, credits.grant_credits, user_id=member, amount=100, idempotency_key="b")
    in_transaction(engine, credits.spend_credits, user_id=member, amount=100, idempotency_key="s2")
    assert_consistent(engine, member)

    # Lost: the 50 frozen are taken, the rest of the payment's credits were spent.
    in_transaction(engine, billing.apply_dispute, dispute={**dispute, "status": "lost"})
    after = account(engine, member)
    assert (after.available, after.frozen, after.clawback_shortfall) == (
        0,
        0,
        STARTER.credits - 50,
    )
    closed = order(engine, bought.id)
    assert (closed.credits_frozen, closed.credits_clawed_back) == (0, STARTER.credits)
    assert_consistent(engine, member)


def test_a_refund_during_a_dispute_takes_the_frozen_credits_and_a_win_thaws_the_rest(
    engine, gateway
) -> None:
    member = create_member(engine).id
    bought = bought_starter(engine, gateway, member)
    dispute = make_dispute(gateway.charge(bought.stripe_charge_id))
    in_transaction(engine, billing.apply_dispute, dispute=dispute)
    assert (account(engine, member).available, account(engine, member).frozen) == (
        0,
        STARTER.credits,
    )
    gateway.client.v1.refunds.create(
        params={"charge": bought.stripe_charge_id, "amount": STARTER.price_cents // 2}
    )
    billing.sync_refund(engine=engine, gateway=gateway, charge_id=bought.stripe_charge_id)
    half = STARTER.credits // 2
    assert (account(engine, member).available, account(engine, member).frozen) == (0, half)
    assert order(engine, bought.id).credits_frozen == half

    in_transaction(engine, billing.apply_dispute, dispute={**dispute, "status": "won"})
    after = account(engine, member)
    assert (after.available, after.frozen, after.clawback_shortfall) == (half, 0, 0)
    assert order(engine, bought.id).credits_frozen == 0
    assert kinds(engine, member) == ["purchase", "freeze", "refund_clawback", "thaw"]
    assert_consistent(engine, member)
