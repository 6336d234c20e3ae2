"""One order opened through the API is brought up to date from Stripe first when its snapshot is
older than the freshness window or missing; Stripe out of reach leaves the stored snapshot."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from dashboard_app.domain import billing
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import NotFound
from dashboard_app.integrations.stripe_gateway import StripeGateway
from dashboard_app.models import Order
from dashboard_app.models.base import utcnow
from tests.factories import create_member
from tests.support.servers import free_port
from tests.support.stripe import paid_checkout

CATALOG = get_catalog()


def nowhere() -> StripeGateway:
    return StripeGateway("sk_test_nowhere", api_base=f"http://127.0.0.1:{free_port()}", timeout=2)


def paid_order(engine, gateway, user_id: int, *, refreshed_ago: timedelta | None) -> int:
    session_id = paid_checkout(engine, gateway, user_id)
    billing.fulfil_checkout(
        engine=engine, gateway=gateway, catalog=CATALOG, checkout_session_id=session_id
    )
    with Session(engine) as session, session.begin():
        row = session.exec(
            select(Order).where(Order.stripe_checkout_session_id == session_id)
        ).one()
        row.refreshed_at = None if refreshed_ago is None else utcnow() - refreshed_ago
        session.add(row)
        return row.id


def refresh(engine, gateway, user_id: int, order_id: int) -> bool:
    return billing.refresh_order_when_stale(
        engine=engine, gateway=gateway, catalog=CATALOG, user_id=user_id, order_id=order_id
    )


@pytest.mark.parametrize("refreshed_ago", [None, timedelta(hours=13)])
def test_a_stale_or_never_refreshed_order_is_refreshed_from_stripe(
    engine, stripe_standin, refreshed_ago
) -> None:
    gateway = stripe_standin.gateway()
    member = create_member(engine)
    order_id = paid_order(engine, gateway, member.id, refreshed_ago=refreshed_ago)
    before = utcnow()
    assert refresh(engine, gateway, member.id, order_id) is True
    with Session(engine) as session:
        order = session.get(Order, order_id)
        assert order.refreshed_at >= before - timedelta(seconds=1)
        assert (order.status, order.refresh_failures) == ("paid", 0)


def test_a_fresh_order_is_not_sent_to_stripe(engine, stripe_standin) -> None:
    member = create_member(engine)
    order_id = paid_order(
        engine, stripe_standin.gateway(), member.id, refreshed_ago=timedelta(hours=11)
    )
    # Stripe out of reach changes nothing: the snapshot is fresh, so nothing asks Stripe.
    assert refresh(engine, nowhere(), member.id, order_id) is True
    with Session(engine) as session:
        assert session.get(Order, order_id).refresh_failures == 0


def test_stripe_out_of_reach_keeps_the_snapshot_and_backs_off(engine, stripe_standin) -> None:
    member = create_member(engine)
    order_id = paid_order(
        engine, stripe_standin.gateway(), member.id, refreshed_ago=timedelta(days=2)
    )
    with Session(engine) as session:
        snapshot = session.get(Order, order_id).model_dump()
    assert refresh(engine, nowhere(), member.id, order_id) is False
    with Session(engine) as session:
        order = session.get(Order, order_id)
        assert order.refresh_failures == 1 and order.refresh_after > utcnow()
        kept = order.model_dump()
    changed = {name for name in snapshot if snapshot[name] != kept[name]}
    assert changed == {"refresh_failures", "refresh_after"}
    # Opened again at once: not tried again until the backoff passes.
    assert refresh(engine, nowhere(), member.id, order_id) is False
    with Session(engine) as session:
        assert session.get(Order, order_id).refresh_failures == 1


def test_an_order_stripe_has_no_record_of_answers_its_snapshot(engine) -> None:
    member = create_member(engine)
    with Session(engine) as session, session.begin():
        order = Order(
            user_id=member.id, kind="pack", stripe_checkout_session_id="cs_test_never_heard_of"
        )
        session.add(order)
        session.flush()
        order_id = order.id
    assert refresh(engine, nowhere(), member.id, order_id) is False


def test_another_members_order_is_not_found_and_not_refreshed(engine, stripe_standin) -> None:
    gateway = stripe_standin.gateway()
    owner, other = create_member(engine), create_member(engine)
    order_id = paid_order(engine, gateway, owner.id, refreshed_ago=None)
    for user_id, order in ((other.id, order_id), (owner.id, order_id + 1000), (owner.id, "x")):
        with pytest.raises(NotFound):
            refresh(engine, gateway, user_id, order)
    with Session(engine) as session:
        assert session.get(Order, order_id).refreshed_at is None
