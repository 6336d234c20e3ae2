"""Calls that reach Stripe from a member's tab are bounded: repeated clicks reuse one Checkout
Session, starting Checkout, success-page look-ups and order refreshes are limited per member,
and an order whose refresh failed is not tried again on every page load."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from dashboard_app.domain import billing
from dashboard_app.domain.billing.limits import CHECKOUT_STARTS, ORDER_REFRESHES, PAYMENT_LOOKUPS
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.rate_limits import RateLimited
from dashboard_app.models import Order
from dashboard_app.models.base import utcnow
from tests.factories import create_member
from tests.support.stripe import pay_checkout, standin_url, start_checkout

CATALOG = get_catalog()


@pytest.fixture
def gateway(stripe_standin):
    return stripe_standin.gateway()


def test_repeated_clicks_reuse_one_checkout_session_until_it_is_paid(engine, gateway) -> None:
    member = create_member(engine)
    first = start_checkout(engine, gateway, member.id, "starter")
    assert start_checkout(engine, gateway, member.id, "starter") == first
    other = start_checkout(engine, gateway, member.id, "studio")
    assert other != first
    assert pay_checkout(f"{standin_url(gateway)}/pay/{first}").status_code == 303
    after = start_checkout(engine, gateway, member.id, "starter")
    assert after != first
    assert gateway.checkout_session(after)["status"] == "open"
    assert start_checkout(engine, gateway, member.id, "starter") == after


def test_starting_checkout_is_limited_per_member(engine, gateway) -> None:
    member, other = create_member(engine), create_member(engine)
    for _ in range(CHECKOUT_STARTS[0].limit):
        start_checkout(engine, gateway, member.id, "starter")
    with pytest.raises(RateLimited):
        start_checkout(engine, gateway, member.id, "studio")
    start_checkout(engine, gateway, other.id, "starter")  # another member is not held back


def test_success_page_lookups_are_limited_per_member(engine, gateway) -> None:
    member = create_member(engine)
    session_id = start_checkout(engine, gateway, member.id, "starter")
    lookup = dict(engine=engine, gateway=gateway, catalog=CATALOG, checkout_session_id=session_id)
    for _ in range(PAYMENT_LOOKUPS[0].limit):
        billing.confirm_checkout(**lookup, user_id=member.id)
    with pytest.raises(RateLimited):
        billing.confirm_checkout(**lookup, user_id=member.id)
    billing.fulfil_checkout(**lookup)  # the webhook's own path is not a member's tab


def stale_order(engine, user_id: int, checkout_id: str) -> int:
    with Session(engine) as session, session.begin():
        order = Order(
            user_id=user_id,
            kind="pack",
            status="pending",
            stripe_checkout_session_id=checkout_id,
            refreshed_at=utcnow() - timedelta(days=2),
        )
        session.add(order)
        session.flush()
        return order.id


def test_a_failed_refresh_waits_before_it_is_tried_again(engine, gateway) -> None:
    member = create_member(engine)
    order_id = stale_order(engine, member.id, "cs_test_stripe_never_heard_of_it")
    refresh = dict(engine=engine, gateway=gateway, catalog=CATALOG, user_id=member.id)
    assert billing.refresh_stale_orders(**refresh) == []
    with Session(engine) as session:
        order = session.get(Order, order_id)
        assert order.refresh_failures == 1 and order.refresh_after > utcnow()
        # The orders page loads again: the order is not due.
        assert billing.stale_order_ids(session=session, user_id=member.id) == []
        assert order_id in billing.stale_order_ids(
            session=session, user_id=member.id, now=utcnow() + timedelta(minutes=6)
        )
    assert billing.refresh_stale_orders(**refresh) == []
    with Session(engine) as session:
        assert session.get(Order, order_id).refresh_failures == 1  # not tried again


def test_order_refreshes_are_limited_per_member(engine, gateway) -> None:
    member = create_member(engine)
    session_id = start_checkout(engine, gateway, member.id, "starter")
    refresh = dict(engine=engine, gateway=gateway, catalog=CATALOG, user_id=member.id)
    for _ in range(ORDER_REFRESHES[0].limit):
        order_id = stale_order(engine, member.id, session_id)
        assert billing.refresh_stale_orders(**refresh) == [order_id]
        with Session(engine, expire_on_commit=False) as session, session.begin():
            session.delete(session.get(Order, order_id))
    stale_order(engine, member.id, session_id)
    with pytest.raises(RateLimited):
        billing.refresh_stale_orders(**refresh)


def test_only_the_newest_page_of_orders_is_refreshed_on_load(engine) -> None:
    """The orders page refreshes the snapshots it shows first, not the member's whole history:
    an old stale order behind a full page of fresh ones waits until it is opened."""
    member = create_member(engine)
    old_stale = stale_order(engine, member.id, "cs_test_old_and_stale")
    with Session(engine) as session, session.begin():
        for n in range(billing.ORDERS_PAGE_SIZE):
            session.add(
                Order(
                    user_id=member.id,
                    kind="pack",
                    status="paid",
                    stripe_checkout_session_id=f"cs_test_fresh_{member.id}_{n}",
                    refreshed_at=utcnow(),
                )
            )
    newest_stale = stale_order(engine, member.id, "cs_test_new_and_stale")
    with Session(engine) as session:
        assert billing.stale_order_ids(session=session, user_id=member.id) == [newest_stale]
        assert old_stale in billing.stale_order_ids(
            session=session, user_id=member.id, limit=billing.ORDERS_PAGE_SIZE + 2
        )
