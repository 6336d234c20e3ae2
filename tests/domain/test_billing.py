"""Billing services against the Stripe stand-in (localstripe plus Checkout): checkout,
fulfilment exactly once, subscriptions, refunds, disputes, catalog sync and reconciliation."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from dashboard_app.db import build_engine
from dashboard_app.domain import billing, credits
from dashboard_app.domain.billing import PaymentsUnavailable
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import InsufficientCredits, InvalidInput, NotFound
from dashboard_app.domain.ledger_check import check_ledger
from dashboard_app.domain.stripe_sync import reconcile, sync_catalog
from dashboard_app.models import CreditAccount, CreditEntry, Order, Subscription, User
from dashboard_app.models.base import utcnow
from tests.factories import count_rows, create_member
from tests.support.stripe import StripeStandin, make_dispute, paid_checkout, start_checkout

CATALOG = get_catalog()
STARTER = CATALOG.packs["starter"]
PRO = CATALOG.plans["pro"]


@pytest.fixture
def gateway(stripe_standin):
    return stripe_standin.gateway()


def checkout(engine, gateway, user_id: int, code: str = "starter") -> str:
    return start_checkout(engine, gateway, user_id, code)


def fulfil(engine, gateway, session_id: str, user_id: int | None = None) -> billing.Fulfilment:
    return billing.fulfil_checkout(
        engine=engine,
        gateway=gateway,
        catalog=CATALOG,
        checkout_session_id=session_id,
        user_id=user_id,
    )


def balances(engine, user_id: int) -> credits.Balances:
    with Session(engine) as session:
        return credits.get_balances(session=session, user_id=user_id)


def order_of(engine, session_id: str) -> Order:
    with Session(engine) as session:
        return session.exec(
            select(Order).where(Order.stripe_checkout_session_id == session_id)
        ).one()


def assert_ledger_consistent(engine) -> None:
    with Session(engine) as session:
        assert check_ledger(session=session) == []


def test_checkout_creates_one_customer_and_is_priced_by_the_catalog(engine, gateway) -> None:
    member = create_member(engine)
    first = checkout(engine, gateway, member.id)
    second = checkout(engine, gateway, member.id)
    with Session(engine) as session:
        customer = session.get(User, member.id).stripe_customer_id
    assert customer and customer.startswith("cus_")
    for session_id in (first, second):
        stripe_session = gateway.checkout_session(session_id)
        assert stripe_session["customer"] == customer
        assert stripe_session["client_reference_id"] == str(member.id)
        assert stripe_session["amount_total"] == STARTER.price_cents
        assert stripe_session["metadata"]["credits"] == str(STARTER.credits)
    assert balances(engine, member.id).available == 0
    assert count_rows(engine, Order) == 0  # an order appears once a session completes


def test_unknown_products_are_refused(engine, gateway) -> None:
    member = create_member(engine)
    with pytest.raises(InvalidInput):
        checkout(engine, gateway, member.id, "diamond")
    assert count_rows(engine, Order) == 0


def test_a_price_that_differs_from_the_catalog_is_refused(engine, gateway) -> None:
    member = create_member(engine)
    dearer = CATALOG.model_copy(
        update={"packs": {"starter": STARTER.model_copy(update={"price_cents": 99_900})}}
    )
    billing.forget_prices()
    with pytest.raises(PaymentsUnavailable, match="sync-catalog"):
        billing.start_checkout(
            engine=engine,
            gateway=gateway,
            catalog=dearer,
            user_id=member.id,
            code="starter",
            success_url="http://localhost/s",
            cancel_url="http://localhost/c",
        )
    assert count_rows(engine, Order) == 0


def test_paid_checkout_grants_exactly_once_however_often_and_concurrently_fulfilled(
    engine, gateway
) -> None:
    member = create_member(engine)
    session_id = paid_checkout(engine, gateway, member.id)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: fulfil(engine, gateway, session_id), range(12)))
    results.append(fulfil(engine, gateway, session_id, user_id=member.id))
    assert {r.credits_granted for r in results} == {STARTER.credits}
    assert balances(engine, member.id).available == STARTER.credits
    assert balances(engine, member.id).lifetime == STARTER.credits
    assert count_rows(engine, CreditEntry, CreditEntry.kind == "purchase") == 1
    order = order_of(engine, session_id)
    assert order.status == "paid"
    assert order.stripe_charge_id and order.stripe_charge_id.startswith("ch_")
    assert_ledger_consistent(engine)


def test_unpaid_checkout_grants_nothing(engine, gateway) -> None:
    member = create_member(engine)
    session_id = checkout(engine, gateway, member.id)
    result = fulfil(engine, gateway, session_id, user_id=member.id)
    assert (result.status, result.credits_granted, result.order_id) == ("open", 0, None)
    assert balances(engine, member.id).available == 0
    assert count_rows(engine, Order) == 0


def test_another_members_session_grants_nothing_and_is_not_found(engine, gateway) -> None:
    owner, other = create_member(engine), create_member(engine)
    session_id = paid_checkout(engine, gateway, owner.id)
    with pytest.raises(NotFound):
        fulfil(engine, gateway, session_id, user_id=other.id)
    with pytest.raises(NotFound):
        fulfil(engine, gateway, "cs_test_doesnotexist", user_id=other.id)
    assert balances(engine, owner.id).available == 0
    assert balances(engine, other.id).available == 0
    assert count_rows(engine, Order) == 0


def test_subscription_checkout_sets_the_plan_and_grants_the_allowance_for_the_period(
    engine, gateway
) -> None:
    member = create_member(engine)
    session_id = paid_checkout(engine, gateway, member.id, "pro")
    result = fulfil(engine, gateway, session_id, user_id=member.id)
    fulfil(engine, gateway, session_id)
    assert result.mode == "subscription"
    with Session(engine) as session:
        subscription = session.exec(
            select(Subscription).where(Subscription.user_id == member.id)
        ).one()
        assert (subscription.plan_code, subscription.status) == ("pro", "active")
        assert subscription.current_period_end > utcnow() + timedelta(days=27)
        allowance = session.exec(select(CreditEntry).where(CreditEntry.kind == "allowance")).one()
        assert allowance.amount == PRO.monthly_credits
        assert allowance.expires_at == subscription.current_period_end
        order = session.exec(select(Order).where(Order.user_id == member.id)).one()
        assert (order.kind, order.status, order.credits) == (
            "subscription",
            "paid",
            PRO.monthly_credits,
        )
        assert order.amount_total == PRO.price_cents
    with pytest.raises(InvalidInput, match="already have a subscription"):
        checkout(engine, gateway, member.id, "pro")


def refund(gateway, charge_id: str, amount: int) -> dict:
    gateway.client.v1.refunds.create(params={"charge": charge_id, "amount": amount})
    return gateway.charge(charge_id)


def test_refunds_claw_back_in_proportion_and_record_what_was_already_spent(engine, gateway) -> None:
    member = create_member(engine)
    session_id = paid_checkout(engine, gateway, member.id)
    fulfil(engine, gateway, session_id)
    with Session(engine) as session, session.begin():
        credits.spend_credits(session=session, user_id=member.id, amount=400, idempotency_key="s1")
    charge_id = order_of(engine, session_id).stripe_charge_id

    refund(gateway, charge_id, STARTER.price_cents // 2)  # half the money: 250 credits
    for _ in range(3):
        billing.sync_refund(engine=engine, gateway=gateway, charge_id=charge_id)
    order = order_of(engine, session_id)
    assert (order.status, order.amount_refunded, order.credits_clawed_back) == (
        "partially_refunded",
        STARTER.price_cents // 2,
        250,
    )
    with Session(engine) as session:
        account = session.get(CreditAccount, member.id)
        assert (account.available, account.clawback_shortfall) == (0, 150)

    refund(gateway, charge_id, STARTER.price_cents - STARTER.price_cents // 2)
    billing.sync_refund(engine=engine, gateway=gateway, charge_id=charge_id)
    order = order_of(engine, session_id)
    assert (order.status, order.credits_clawed_back) == ("refunded", STARTER.credits)
    with Session(engine) as session:
        account = session.get(CreditAccount, member.id)
        assert (account.available, account.clawback_shortfall) == (0, 400)
    assert count_rows(engine, CreditEntry, CreditEntry.kind == "refund_clawback") == 2
    assert_ledger_consistent(engine)


def test_a_dispute_flags_the_member_and_freezes_the_purchase_until_it_is_closed(
    engine, gateway
) -> None:
    member = create_member(engine)
    session_id = paid_checkout(engine, gateway, member.id)
    fulfil(engine, gateway, session_id)
    charge = gateway.charge(order_of(engine, session_id).stripe_charge_id)
    dispute = make_dispute(charge)
    for _ in range(2):
        with Session(engine) as session, session.begin():
            billing.apply_dispute(session=session, dispute=dispute)
    with Session(engine) as session:
        assert session.get(CreditAccount, member.id).frozen == STARTER.credits
        assert "disputed" in session.get(User, member.id).billing_flag
    assert order_of(engine, session_id).status == "disputed"
    with Session(engine) as session, session.begin(), pytest.raises(InsufficientCredits):
        credits.spend_credits(session=session, user_id=member.id, amount=1, idempotency_key="s")

    lost = {**dispute, "status": "lost"}
    for _ in range(2):
        with Session(engine) as session, session.begin():
            billing.apply_dispute(session=session, dispute=lost)
    with Session(engine) as session:
        account = session.get(CreditAccount, member.id)
        assert (account.available, account.frozen) == (0, 0)
    order = order_of(engine, session_id)
    assert (order.status, order.credits_clawed_back) == ("refunded", STARTER.credits)
    assert_ledger_consistent(engine)


def test_a_won_dispute_thaws_the_credits(engine, gateway) -> None:
    member = create_member(engine)
    session_id = paid_checkout(engine, gateway, member.id)
    fulfil(engine, gateway, session_id)
    dispute = make_dispute(gateway.charge(order_of(engine, session_id).stripe_charge_id))
    with Session(engine) as session, session.begin():
        billing.apply_dispute(session=session, dispute=dispute)
    with Session(engine) as session, session.begin():
        billing.apply_dispute(session=session, dispute={**dispute, "status": "won"})
    assert balances(engine, member.id) == credits.Balances(
        available=STARTER.credits, reserved=0, lifetime=STARTER.credits, spent=0, frozen=0
    )
    assert order_of(engine, session_id).status == "paid"


def test_sync_catalog_is_safe_to_repeat_and_moves_the_lookup_key_when_a_price_changes(
    gateway,
) -> None:
    assert sync_catalog(gateway=gateway, catalog=CATALOG) == []
    before = gateway.prices_by_lookup_key(["pack_studio"])["pack_studio"]
    studio = CATALOG.packs["studio"]
    changed = CATALOG.model_copy(
        update={
            "packs": {**CATALOG.packs, "studio": studio.model_copy(update={"price_cents": 4900})}
        }
    )
    try:
        actions = sync_catalog(gateway=gateway, catalog=changed)
        assert any("pack_studio" in action and "$49.00" in action for action in actions)
        assert any(before["id"] in action and "archived" in action for action in actions)
        after = gateway.prices_by_lookup_key(["pack_studio"])["pack_studio"]
        assert after["id"] != before["id"] and after["unit_amount"] == 4900
        assert sync_catalog(gateway=gateway, catalog=changed) == []
    finally:
        sync_catalog(gateway=gateway, catalog=CATALOG)  # the other tests expect the catalog
    assert gateway.prices_by_lookup_key(["pack_studio"])["pack_studio"]["unit_amount"] == 3900


@pytest.fixture
def own_stripe():
    """A Stripe stand-in of this test's own: reconciliation walks everything in the account,
    and other tests' sessions name members (#1, #2...) that this database also has."""
    standin = StripeStandin()
    standin.start()
    billing.forget_prices()
    try:
        gateway = standin.gateway()
        sync_catalog(gateway=gateway, catalog=CATALOG)
        yield gateway
    finally:
        standin.stop()
        billing.forget_prices()


def test_reconcile_repairs_what_a_lost_webhook_missed_and_then_finds_nothing(
    engine, own_stripe
) -> None:
    gateway = own_stripe
    member = create_member(engine)
    since = utcnow() - timedelta(minutes=1)
    session_id = paid_checkout(engine, gateway, member.id)  # its webhook went nowhere
    plan_id = paid_checkout(engine, gateway, member.id, "pro")
    invoice_id = gateway.checkout_session(plan_id)["invoice"]
    repaired, problems = reconcile(engine=engine, gateway=gateway, catalog=CATALOG, since=since)
    assert problems == []
    assert set(repaired) == {
        f"checkout session {session_id}",
        f"checkout session {plan_id}",
    }
    assert balances(engine, member.id).available == STARTER.credits + PRO.monthly_credits
    again, problems = reconcile(engine=engine, gateway=gateway, catalog=CATALOG, since=since)
    assert (again, problems) == ([], [])
    assert balances(engine, member.id).available == STARTER.credits + PRO.monthly_credits
    with Session(engine) as session:
        assert session.exec(select(Order).where(Order.stripe_invoice_id == invoice_id)).one()


def test_reconcile_reports_what_it_cannot_repair(engine, own_stripe) -> None:
    """A paid session for a member this database does not have (another installation's) is a
    problem to report, and nothing is granted to anyone."""
    gateway = own_stripe
    member = create_member(engine)
    since = utcnow() - timedelta(minutes=1)
    stranger = paid_checkout(engine, gateway, member.id)
    with Session(engine) as session, session.begin():
        session.get(User, member.id).stripe_customer_id = "cus_someone_else"
    repaired, problems = reconcile(engine=engine, gateway=gateway, catalog=CATALOG, since=since)
    assert repaired == []
    assert problems == [
        f"checkout session {stranger}: This checkout session names no member of ours"
    ]
    assert balances(engine, member.id).available == 0
    assert count_rows(engine, Order) == 0


def test_refunding_a_subscription_invoice_takes_back_its_allowance(engine, gateway) -> None:
    member = create_member(engine)
    session_id = paid_checkout(engine, gateway, member.id, "pro")
    fulfil(engine, gateway, session_id)
    invoice = gateway.invoice(gateway.checkout_session(session_id)["invoice"])
    assert "charge" not in invoice  # the current API version names it only in `payments`
    charge_id = billing.invoice_charge_id(invoice)
    refund(gateway, charge_id, PRO.price_cents)
    order = billing.sync_refund(engine=engine, gateway=gateway, charge_id=charge_id)
    assert (order.kind, order.status, order.credits_clawed_back) == (
        "subscription",
        "refunded",
        PRO.monthly_credits,
    )
    assert balances(engine, member.id).available == 0
    assert_ledger_consistent(engine)


def test_two_databases_sharing_one_stripe_account_get_their_own_customers(
    databases, gateway
) -> None:
    """Member #1 of one installation is not member #1 of another: Stripe's idempotency key for
    creating a customer names the installation too."""
    urls = [databases.migrated(), databases.migrated()]
    engines = [build_engine(url) for url in urls]
    try:
        members = [create_member(each) for each in engines]
        assert members[0].id == members[1].id  # both count from 1
        customers = [
            billing.ensure_customer(engine=each, gateway=gateway, user_id=member.id)
            for each, member in zip(engines, members, strict=True)
        ]
        assert customers[0] != customers[1]
        for customer, member in zip(customers, members, strict=True):
            assert gateway.client.v1.customers.retrieve(customer).email == member.email
    finally:
        for each, url in zip(engines, urls, strict=True):
            each.dispose()
            databases.drop(url)
