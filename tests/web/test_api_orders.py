"""`GET /orders` and `GET /orders/{order_id}`, through an API key and a JWT: the caller's own
orders, newest first and cursor paged; one order brought up to date from Stripe first when its
snapshot is old, and answered from the snapshot with its age when Stripe is out of reach."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from dashboard_app.domain import billing
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.integrations.stripe_gateway import get_gateway
from dashboard_app.models import Order
from dashboard_app.models.base import utcnow
from tests.factories import create_member
from tests.support.servers import free_port
from tests.support.stripe import SECRET_KEY, paid_checkout


@pytest.fixture
def use_stripe(jwt_api):
    """Point the in-process API at a Stripe (the gateway is cached per process: forget it on
    the way in and out)."""

    def configure(secret_key: str, api_base: str) -> None:
        jwt_api.configure(STRIPE_SECRET_KEY=secret_key, STRIPE_API_BASE=api_base)
        get_gateway.cache_clear()

    yield configure
    get_gateway.cache_clear()


def add_order(engine, user_id: int, *, refreshed_ago: timedelta | None, **fields) -> int:
    with Session(engine) as session, session.begin():
        order = Order(
            user_id=user_id,
            kind="pack",
            status="paid",
            product_code="starter",
            amount_total=900,
            credits=100,
            items=[{"name": "Starter pack", "quantity": 1, "amount": 900}],
            refreshed_at=None if refreshed_ago is None else utcnow() - refreshed_ago,
            **fields,
        )
        session.add(order)
        session.flush()
        return order.id


def test_orders_page_newest_first_and_only_the_callers(jwt_api, engine, credential) -> None:
    member, other = create_member(engine), create_member(engine)
    mine = [add_order(engine, member.id, refreshed_ago=timedelta(hours=1)) for _ in range(5)]
    add_order(engine, other.id, refreshed_ago=timedelta(hours=1))
    key = credential(member.id)
    first = jwt_api.get("/orders", key=key, params={"limit": 2})
    assert first.status_code == 200, first.text
    seen = first.json()["items"]
    cursor = first.json()["next_cursor"]
    later = add_order(engine, member.id, refreshed_ago=timedelta(hours=1))  # arrives meanwhile
    while cursor:
        page = jwt_api.get("/orders", key=key, params={"limit": 2, "cursor": cursor}).json()
        seen += page["items"]
        cursor = page["next_cursor"]
    assert [order["id"] for order in seen] == sorted(mine, reverse=True)
    assert later not in [order["id"] for order in seen]
    assert seen[0]["amount_total"] == 900 and seen[0]["snapshot_age_seconds"] >= 3600


def test_another_members_order_is_404_like_a_missing_one(jwt_api, engine, credential) -> None:
    owner, other = create_member(engine), create_member(engine)
    order_id = add_order(engine, owner.id, refreshed_ago=timedelta(hours=1))
    theirs = jwt_api.get(f"/orders/{order_id}", key=credential(other.id))
    missing = jwt_api.get(f"/orders/{order_id + 1000}", key=credential(other.id))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.headers["content-type"].startswith("application/problem+json")
    assert {k: v for k, v in theirs.json().items() if k != "instance"} == {
        k: v for k, v in missing.json().items() if k != "instance"
    }
    assert "900" not in theirs.text
    assert jwt_api.get(f"/orders/{order_id}", key=credential(owner.id)).status_code == 200


def test_a_fresh_order_is_answered_from_its_snapshot(jwt_api, engine, credential) -> None:
    member = create_member(engine)
    order_id = add_order(engine, member.id, refreshed_ago=timedelta(hours=2))
    body = jwt_api.get(f"/orders/{order_id}", key=credential(member.id)).json()
    assert body["fresh"] is True
    assert body["lines"] == [{"name": "Starter pack", "quantity": 1, "amount": 900}]
    assert 2 * 3600 - 5 <= body["snapshot_age_seconds"] <= 2 * 3600 + 60


def test_stripe_out_of_reach_answers_the_stored_snapshot_with_its_age(
    jwt_api, engine, credential, use_stripe
) -> None:
    use_stripe("sk_test_nowhere", f"http://127.0.0.1:{free_port()}")
    member = create_member(engine)
    order_id = add_order(
        engine,
        member.id,
        refreshed_ago=timedelta(days=2),
        stripe_checkout_session_id=f"cs_test_unreachable_{member.id}",
    )
    response = jwt_api.get(f"/orders/{order_id}", key=credential(member.id))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["status"], body["fresh"]) == (order_id, "paid", False)
    assert body["snapshot_age_seconds"] >= 2 * 86400
    with Session(engine) as session:
        assert session.get(Order, order_id).refresh_failures == 1


def test_a_stale_order_is_refreshed_from_stripe_first(
    jwt_api, engine, credential, stripe_standin, use_stripe
) -> None:
    use_stripe(SECRET_KEY, stripe_standin.url)
    gateway = stripe_standin.gateway()
    member = create_member(engine)
    session_id = paid_checkout(engine, gateway, member.id)
    billing.fulfil_checkout(
        engine=engine, gateway=gateway, catalog=get_catalog(), checkout_session_id=session_id
    )
    with Session(engine) as session, session.begin():
        order = session.exec(
            select(Order).where(Order.stripe_checkout_session_id == session_id)
        ).one()
        order.refreshed_at = utcnow() - timedelta(hours=13)
        session.add(order)
        order_id = order.id
    response = jwt_api.get(f"/orders/{order_id}", key=credential(member.id))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["fresh"] is True and body["snapshot_age_seconds"] < 60
    assert body["status"] == "paid"
