"""`GET /credits`, `GET /credits/ledger` and `GET /usage`, each through an API key and a JWT:
the caller's own balances, ledger and meters, never another member's."""

from __future__ import annotations

from dashboard_app.db import session_scope
from dashboard_app.domain import credits, plans
from dashboard_app.domain.catalog import get_catalog
from tests.factories import create_member


def grant(engine, user_id: int, amount: int, key: str) -> None:
    with session_scope(engine) as session:
        credits.grant_credits(
            session=session, user_id=user_id, amount=amount, idempotency_key=key, reason=key
        )


def spend(engine, user_id: int, amount: int, key: str) -> None:
    with session_scope(engine) as session:
        credits.spend_credits(
            session=session, user_id=user_id, amount=amount, idempotency_key=key, reason=key
        )


def test_balances_are_the_callers_own(jwt_api, engine, credential) -> None:
    member = create_member(engine, credits_granted=100)
    other = create_member(engine, credits_granted=7)
    spend(engine, member.id, 30, f"spend-{member.id}")
    with session_scope(engine) as session:
        credits.freeze_credits(
            session=session,
            user_id=member.id,
            amount=20,
            reference=f"dispute:dp_test_{member.id}",
            reason="Disputed payment",
        )
    response = jwt_api.get("/credits", key=credential(member.id))
    assert response.status_code == 200, response.text
    body = response.json()
    assert {
        name: body[name] for name in ("current", "reserved", "frozen", "lifetime", "spent")
    } == {
        "current": 50,
        "reserved": 0,
        "frozen": 20,
        "lifetime": 100,
        "spent": 30,
    }
    assert jwt_api.get("/credits", key=credential(other.id)).json()["current"] == 7


def test_the_ledger_pages_newest_first_and_stays_stable_while_entries_arrive(
    jwt_api, engine, credential
) -> None:
    member = create_member(engine)
    other = create_member(engine, credits_granted=5)
    for n in range(12):
        grant(engine, member.id, n + 1, f"ledger-{member.id}-{n}")
    key = credential(member.id)
    first = jwt_api.get("/credits/ledger", key=key, params={"limit": 5}).json()
    assert [entry["amount"] for entry in first["items"]] == [12, 11, 10, 9, 8]
    grant(engine, member.id, 500, f"late-{member.id}")  # arrives while the member pages
    seen = list(first["items"])
    cursor = first["next_cursor"]
    while cursor:
        page = jwt_api.get("/credits/ledger", key=key, params={"limit": 5, "cursor": cursor})
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
    assert [entry["amount"] for entry in seen] == list(range(12, 0, -1))
    ids = [entry["id"] for entry in seen]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 12
    # The newest page now starts with the entry that arrived.
    newest = jwt_api.get("/credits/ledger", key=key, params={"limit": 1}).json()
    assert newest["items"][0]["amount"] == 500
    other_ledger = jwt_api.get("/credits/ledger", key=credential(other.id)).json()
    assert [entry["amount"] for entry in other_ledger["items"]] == [5]


def test_the_ledger_filters_by_kind_and_refuses_a_bad_cursor(jwt_api, engine, credential) -> None:
    member = create_member(engine, credits_granted=40)
    spend(engine, member.id, 15, f"spend-{member.id}")
    key = credential(member.id)
    spent = jwt_api.get("/credits/ledger", key=key, params={"kind": "spend"}).json()
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in spent["items"]] == [
        ("spend", -15, 25)
    ]
    assert spent["next_cursor"] is None
    bad = jwt_api.get("/credits/ledger", key=key, params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400
    assert jwt_api.get("/credits/ledger", key=key, params={"kind": "bogus"}).status_code == 422


def test_usage_shows_this_months_meters_against_the_plans_limits(
    jwt_api, engine, credential
) -> None:
    member = create_member(engine)
    other = create_member(engine)
    with session_scope(engine) as session:
        plans.record_usage(
            session=session, user_id=member.id, metric="exports", quantity=2, reference="e-1"
        )
        plans.record_usage(
            session=session,
            user_id=member.id,
            metric="processing_seconds",
            quantity=61,
            reference="p-1",
        )
        usage = plans.usage_this_month(session=session, user_id=member.id)
        limits = plans.member_limits(session=session, user_id=member.id, catalog=get_catalog())
    body = jwt_api.get("/usage", key=credential(member.id)).json()
    assert body["meters"] == [
        {"metric": "exports", "used": 2, "limit": limits.monthly_exports},
        {"metric": "processing_minutes", "used": 2, "limit": limits.monthly_minutes},
    ]
    assert body["resets_at"].startswith(usage.resets_at.strftime("%Y-%m-%dT00:00:00"))
    assert body["plan"] == get_catalog().plan(get_catalog().default_plan).name
    other_body = jwt_api.get("/usage", key=credential(other.id)).json()
    assert [meter["used"] for meter in other_body["meters"]] == [0, 0]
