"""Receiving a verified Stripe event: stored once, and a dispute's first event applied from its
payload in the same transaction (no call to Stripe, no second transaction)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from dashboard_app.db import session_scope
from dashboard_app.domain import billing, stripe_events
from dashboard_app.domain.billing import UnknownOrder
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.ledger_check import check_ledger
from dashboard_app.models import CreditAccount, Order, StripeEvent
from tests.factories import count_rows, create_member
from tests.support.sql import statements_sent
from tests.support.stripe import deliver, make_dispute, make_event, paid_checkout, standin

STARTER = get_catalog().packs["starter"]


@pytest.fixture
def gateway(stripe_standin):
    return stripe_standin.gateway()


def bought_pack(engine, gateway) -> tuple[int, dict]:
    """A member who paid for the Starter pack: (member id, the charge)."""
    member = create_member(engine)
    session_id = paid_checkout(engine, gateway, member.id)
    billing.fulfil_checkout(
        engine=engine, gateway=gateway, catalog=get_catalog(), checkout_session_id=session_id
    )
    with Session(engine) as session:
        order = session.exec(select(Order).where(Order.user_id == member.id)).one()
    return member.id, gateway.charge(order.stripe_charge_id)


def receive(engine, event: dict) -> stripe_events.Received:
    event = json.loads(json.dumps(event, default=str))
    with session_scope(engine) as session:
        return stripe_events.receive_event(session=session, event=event)


def frozen(engine, member_id: int) -> tuple[int, int, str]:
    with Session(engine) as session:
        account = session.get(CreditAccount, member_id)
        order = session.exec(select(Order).where(Order.user_id == member_id)).one()
        return account.frozen, order.credits_frozen, order.status


def test_a_dispute_s_first_event_is_stored_and_applied_in_one_transaction(engine, gateway) -> None:
    member_id, charge = bought_pack(engine, gateway)
    # A dispute Stripe never heard of: applying it cannot have asked Stripe for it.
    stripe_event = make_event("charge.dispute.created", make_dispute(charge))
    commits: list[object] = []

    def count(connection) -> None:  # type: ignore[no-untyped-def]
        commits.append(connection)

    event.listen(engine, "commit", count)
    try:
        with statements_sent(engine) as sent:
            received = receive(engine, stripe_event)
    finally:
        event.remove(engine, "commit", count)
    assert received.processed and not received.duplicate
    assert len(commits) == 1
    assert [s.split()[0] for s in sent].count("INSERT") >= 3  # event, ledger entry, audit
    assert frozen(engine, member_id) == (STARTER.credits, STARTER.credits, "disputed")
    with Session(engine) as session:
        row = session.exec(
            select(StripeEvent).where(StripeEvent.stripe_event_id == stripe_event["id"])
        ).one()
        assert (row.status, row.attempts, row.processed_at is not None) == ("processed", 1, True)
    with Session(engine) as fresh:
        assert check_ledger(session=fresh, user_id=member_id) == []


def test_a_repeated_delivery_is_a_duplicate_and_freezes_nothing_more(engine, gateway) -> None:
    member_id, charge = bought_pack(engine, gateway)
    event = make_event("charge.dispute.created", make_dispute(charge))
    first = receive(engine, event)
    again = receive(engine, event)
    assert (again.id, again.duplicate, again.processed) == (first.id, True, False)
    assert count_rows(engine, StripeEvent, StripeEvent.stripe_event_id == event["id"]) == 1
    assert frozen(engine, member_id) == (STARTER.credits, STARTER.credits, "disputed")


def test_a_first_event_after_a_later_one_changes_nothing(engine, gateway) -> None:
    """The dispute was answered and is under review (its update fetched from Stripe); its
    opening event arriving late does not bring the status back."""
    member_id, charge = bought_pack(engine, gateway)
    opened = standin(gateway, "disputes", charge=charge["id"], reason="fraudulent")
    answered = gateway.client.v1.disputes.update(opened["id"], params={"submit": True})
    assert deliver(engine, gateway, make_event("charge.dispute.updated", answered.to_dict()))
    assert receive(engine, make_event("charge.dispute.created", opened)).processed
    with Session(engine) as session:
        order = session.exec(select(Order).where(Order.user_id == member_id)).one()
        assert (order.dispute_status, order.credits_frozen) == ("under_review", STARTER.credits)


def test_an_event_that_cannot_be_applied_stores_nothing_and_is_kept_for_retries(
    engine, gateway
) -> None:
    """A dispute whose payment is not known here yet: receiving it raises and rolls back; the
    endpoint then stores it alone, and processing records the failure for a retry."""
    charge = {
        "id": "ch_unknown_here",
        "payment_intent": "pi_unknown_here",
        "amount": 900,
        "currency": "usd",
    }
    event = make_event("charge.dispute.created", make_dispute(charge))
    with pytest.raises(UnknownOrder):
        receive(engine, event)
    assert count_rows(engine, StripeEvent, StripeEvent.stripe_event_id == event["id"]) == 0
    assert deliver(engine, gateway, event) == "failed"
    assert count_rows(engine, StripeEvent, StripeEvent.stripe_event_id == event["id"]) == 1


def test_other_events_are_stored_for_processing(engine, gateway) -> None:
    event = make_event("customer.subscription.updated", {"id": "sub_x", "object": "subscription"})
    received = receive(engine, event)
    assert (received.duplicate, received.processed) == (False, False)
    with Session(engine) as session:
        row = session.get(StripeEvent, received.id)
        assert (row.status, row.attempts) == ("received", 0)
