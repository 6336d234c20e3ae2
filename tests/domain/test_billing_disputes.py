"""Disputes against the Stripe stand-in, through the same event processing the webhook uses.
Stripe promises no order for its events: every order of created, updated and closed brings the
member, the order and the ledger to the dispute's state at Stripe."""

from __future__ import annotations

import itertools

import pytest
from sqlmodel import Session, select

from dashboard_app.domain import credits
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import InsufficientCredits
from dashboard_app.domain.ledger_check import check_ledger
from dashboard_app.models import AuditEntry, CreditAccount, Order, StripeEvent, User
from tests.factories import create_member
from tests.support.stripe import deliver, make_event, paid_checkout, standin

CATALOG = get_catalog()
STARTER = CATALOG.packs["starter"]
KINDS = ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed")


@pytest.fixture
def gateway(stripe_standin):
    return stripe_standin.gateway()


def bought_pack(engine, gateway) -> tuple[int, str]:
    """A member who paid for the Starter pack (fulfilled): (member id, charge id)."""
    from dashboard_app.domain import billing

    member = create_member(engine)
    session_id = paid_checkout(engine, gateway, member.id)
    billing.fulfil_checkout(
        engine=engine, gateway=gateway, catalog=CATALOG, checkout_session_id=session_id
    )
    with Session(engine) as session:
        order = session.exec(select(Order).where(Order.user_id == member.id)).one()
    return member.id, order.stripe_charge_id


def dispute_events(gateway, charge_id: str, outcome: str) -> tuple[dict, dict[str, dict]]:
    """The dispute as the bank opens it, the member answers and the bank decides, with the
    event Stripe sends at each step (each carrying the dispute as it was then)."""
    opened = standin(gateway, "disputes", charge=charge_id, reason="fraudulent")
    events = {KINDS[0]: make_event(KINDS[0], opened)}
    answered = gateway.client.v1.disputes.update(opened["id"], params={"submit": True})
    events[KINDS[1]] = make_event(KINDS[1], answered.to_dict())
    closed = standin(gateway, f"disputes/{opened['id']}/status", status=outcome)
    events[KINDS[2]] = make_event(KINDS[2], closed)
    return opened, events


def audit_actions(engine, user_id: int) -> list[str]:
    with Session(engine) as session:
        return sorted(
            entry.action
            for entry in session.exec(
                select(AuditEntry).where(AuditEntry.subject_user_id == user_id)
            )
            if entry.action.startswith("billing.dispute")
        )


def event_statuses(engine, events: list[dict]) -> list[str]:
    with Session(engine) as session:
        return [
            session.exec(
                select(StripeEvent.status).where(StripeEvent.stripe_event_id == event["id"])
            ).one()
            for event in events
        ]


@pytest.mark.parametrize("outcome", ["won", "lost"])
@pytest.mark.parametrize("order", list(itertools.permutations(KINDS)), ids="-".join)
def test_every_order_of_dispute_events_ends_in_the_disputes_state(
    engine, gateway, order: tuple[str, ...], outcome: str
) -> None:
    member_id, charge_id = bought_pack(engine, gateway)
    dispute, events = dispute_events(gateway, charge_id, outcome)
    delivered = [events[kind] for kind in order]
    for event in delivered:
        deliver(engine, gateway, event)
    assert event_statuses(engine, delivered) == ["processed"] * 3
    with Session(engine) as session:
        user = session.get(User, member_id)
        assert user.billing_flag and "disputed" in user.billing_flag
        account = session.get(CreditAccount, member_id)
        order_row = session.exec(select(Order).where(Order.user_id == member_id)).one()
        assert (order_row.stripe_dispute_id, order_row.dispute_status) == (dispute["id"], outcome)
        assert (account.frozen, order_row.credits_frozen) == (0, 0)
        if outcome == "won":
            assert account.available == STARTER.credits
            assert (order_row.status, order_row.credits_clawed_back) == ("paid", 0)
        else:
            assert account.available == 0
            assert (order_row.status, order_row.credits_clawed_back) == (
                "refunded",
                STARTER.credits,
            )
    with Session(engine) as fresh:  # ledger check reads a snapshot of its own
        assert check_ledger(session=fresh, user_id=member_id) == []
    assert audit_actions(engine, member_id) == ["billing.dispute_closed", "billing.dispute_opened"]


def test_credits_stay_frozen_while_the_dispute_is_open(engine, gateway) -> None:
    member_id, charge_id = bought_pack(engine, gateway)
    opened = standin(gateway, "disputes", charge=charge_id, reason="fraudulent")
    assert deliver(engine, gateway, make_event(KINDS[0], opened)) == "processed"
    answered = gateway.client.v1.disputes.update(opened["id"], params={"submit": True})
    assert deliver(engine, gateway, make_event(KINDS[1], answered.to_dict())) == "processed"
    with Session(engine) as session:
        account = session.get(CreditAccount, member_id)
        assert (account.available, account.frozen) == (0, STARTER.credits)
        order = session.exec(select(Order).where(Order.user_id == member_id)).one()
        assert (order.status, order.dispute_status) == ("disputed", "under_review")
    with Session(engine) as session, session.begin(), pytest.raises(InsufficientCredits):
        credits.spend_credits(session=session, user_id=member_id, amount=1, idempotency_key="x")
    assert audit_actions(engine, member_id) == ["billing.dispute_opened"]
