"""POST /internal/sync/stripe, for schedulers outside the app: off without a token, refused
without the right one, bad input refused with nothing changed, every call audited with the
caller's address; a good call repairs what a lost webhook missed."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from dashboard_app.domain import billing, credits
from dashboard_app.domain.audit import audit_trail
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.stripe_sync import sync_catalog
from dashboard_app.integrations.stripe_gateway import get_gateway
from dashboard_app.models import AuditEntry, User
from dashboard_app.models.base import utcnow
from tests.factories import create_member
from tests.support.stripe import SECRET_KEY, StripeStandin, paid_checkout
from tests.web.test_auth_routes import configure  # noqa: F401  (fixture)

PATH = "/internal/sync/stripe"
TOKEN = secrets.token_urlsafe(32)
CATALOG = get_catalog()
STARTER = CATALOG.packs["starter"]


@pytest.fixture
def own_stripe():
    standin = StripeStandin()
    standin.start()
    billing.forget_prices()
    get_gateway.cache_clear()
    try:
        sync_catalog(gateway=standin.gateway(), catalog=CATALOG)
        yield standin
    finally:
        standin.stop()
        billing.forget_prices()
        get_gateway.cache_clear()


@pytest.fixture
def routes(configure, db_url, own_stripe):  # noqa: F811
    return configure(
        DATABASE_URL=db_url,
        INTERNAL_API_TOKEN=TOKEN,
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_API_BASE=own_stripe.url,
    )


def available(engine, user_id: int) -> int:
    with Session(engine) as session:
        return credits.get_balances(session=session, user_id=user_id).available


def audit_entries(engine, prefix: str = "internal.") -> list[AuditEntry]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(AuditEntry)
                .where(col(AuditEntry.action).startswith(prefix))
                .order_by(col(AuditEntry.id))
            )
        )


def test_without_a_token_setting_the_endpoint_does_not_exist(configure, db_url, engine) -> None:  # noqa: F811
    routes = configure(DATABASE_URL=db_url, INTERNAL_API_TOKEN="")
    response = routes.post(PATH, headers={"X-Internal-Token": ""}, json={"since": "2026-01-01"})
    assert response.status_code == 404
    assert audit_entries(engine) == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Internal-Token": ""},
        {"X-Internal-Token": "wrong"},
        {"X-Internal-Token": TOKEN[:-1]},
        {"Authorization": f"Bearer {TOKEN}"},
    ],
)
def test_a_call_without_the_token_is_refused_and_audited(routes, engine, headers) -> None:
    member = create_member(engine)
    response = routes.post(
        PATH, headers=headers, json={"since": utcnow().isoformat()}, client="203.0.113.9"
    )
    assert response.status_code == 401
    assert "X-Internal-Token" in response.json()["error"]
    [entry] = audit_entries(engine)
    assert entry.action == "internal.refused" and entry.ip_address == "203.0.113.9"
    assert available(engine, member.id) == 0


def test_repeated_refusals_from_one_address_are_limited(routes, engine) -> None:
    for _ in range(20):
        assert routes.post(PATH, json={}, client="203.0.113.7").status_code == 401
    limited = routes.post(PATH, json={}, client="203.0.113.7")
    assert limited.status_code == 429
    assert len(audit_entries(engine)) == 20  # a flood does not fill the audit log
    other = routes.post(PATH, json={}, client="203.0.113.8")
    assert other.status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"customer": "cus_nobodyhere"}, 404, "No member has the Stripe customer cus_nobodyhere"),
        ({"since": "yesterday"}, 400, "since"),
        ({"since": "2026-11-01T00:00:00"}, 400, "time zone"),
        ({"since": "2999-01-01T00:00:00Z"}, 400, "future"),
        ({"customer": "not a customer id"}, 400, "customer"),
        ({"customer": 42}, 400, "customer"),
        ({}, 400, "customer"),
        ({"since": "2026-11-01T00:00:00Z", "extra": 1}, 400, "extra"),
        ([1, 2], 400, "JSON object"),
        ("not json", 400, "JSON object"),
    ],
)
def test_bad_input_gets_a_clear_error_and_changes_nothing(
    routes, engine, own_stripe, body, status, message
) -> None:
    member = create_member(engine)
    paid_checkout(engine, own_stripe.gateway(), member.id)  # a repair a good call would make
    kwargs = {"content": body} if isinstance(body, str) else {"json": body}
    response = routes.post(PATH, headers={"X-Internal-Token": TOKEN}, **kwargs)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert available(engine, member.id) == 0
    [entry] = audit_entries(engine)
    assert entry.action == "internal.stripe_sync_refused"
    assert entry.ip_address == "127.0.0.1"


def test_syncing_all_since_a_time_repairs_and_audits(routes, engine, own_stripe) -> None:
    member = create_member(engine)
    since = (utcnow() - timedelta(minutes=5)).isoformat()
    session_id = paid_checkout(engine, own_stripe.gateway(), member.id)

    response = routes.post(
        PATH, headers={"X-Internal-Token": TOKEN}, json={"since": since}, client="198.51.100.4"
    )

    assert response.status_code == 200, response.text
    assert response.json()["repaired"] == [f"checkout session {session_id}"]
    assert response.json()["could_not_repair"] == []
    assert available(engine, member.id) == STARTER.credits
    [entry] = audit_entries(engine)
    assert entry.action == "internal.stripe_sync" and entry.ip_address == "198.51.100.4"
    assert entry.after["repaired"] == 1 and entry.after["since"].startswith(since[:16])


def test_syncing_one_member_by_customer_id_repairs_only_theirs(routes, engine, own_stripe) -> None:
    gateway = own_stripe.gateway()
    member, other = create_member(engine), create_member(engine)
    mine = paid_checkout(engine, gateway, member.id)
    paid_checkout(engine, gateway, other.id)
    with Session(engine) as session:
        customer = session.get(User, member.id).stripe_customer_id
    assert customer

    response = routes.post(PATH, headers={"X-Internal-Token": TOKEN}, json={"customer": customer})

    assert response.status_code == 200, response.text
    assert response.json()["repaired"] == [f"checkout session {mine}"]
    assert (available(engine, member.id), available(engine, other.id)) == (STARTER.credits, 0)
    [entry] = audit_entries(engine)
    assert entry.subject_user_id == member.id and entry.after["customer"] == customer
    with Session(engine) as session:
        newest = audit_trail(session=session, subject_user_id=member.id)[0]
    assert newest.action == "internal.stripe_sync"
