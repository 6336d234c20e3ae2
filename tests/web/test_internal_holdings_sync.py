"""POST /internal/sync/holdings, for schedulers outside the app: refused without the token, bad
input refused with nothing changed, one member by id or every stale member enqueued (the
marketplace is read by the job workers, never in the request), counts answered, every call
audited with the caller's address."""

from __future__ import annotations

import secrets

import pytest
from sqlmodel import Session

from dashboard_app.engine.client import get_client
from dashboard_app.models import HoldingsSync
from tests.domain.test_holdings import OTHER_WALLET, WALLET, member_with_wallet
from tests.factories import create_member, synced_holdings
from tests.support.marketplace import API_KEY, Marketplace
from tests.web.test_auth_routes import configure  # noqa: F401  (fixture)
from tests.web.test_internal_sync import audit_entries

PATH = "/internal/sync/holdings"
TOKEN = secrets.token_urlsafe(32)


@pytest.fixture
def routes(configure, db_url, tmp_path, marketplace: Marketplace):  # noqa: F811
    return configure(
        DATABASE_URL=db_url,
        DATA_DIR=str(tmp_path),
        INTERNAL_API_TOKEN=TOKEN,
        MARKETPLACE_BASE_URL=marketplace.url,
        MARKETPLACE_API_KEY=API_KEY,
    )


def queued_at(engine, member: int):  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        sync = session.get(HoldingsSync, member)
        return sync.refresh_queued_at if sync else None


def test_a_call_without_the_token_is_refused_and_audited(routes, engine) -> None:
    member = member_with_wallet(engine)
    response = routes.post(
        PATH, headers={"X-Internal-Token": "wrong"}, json={"stale": True}, client="203.0.113.9"
    )
    assert response.status_code == 401
    [entry] = audit_entries(engine)
    assert entry.action == "internal.refused" and entry.ip_address == "203.0.113.9"
    assert entry.after == {"path": PATH}
    assert queued_at(engine, member) is None


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"member": 987654}, 404, "No member has the id 987654"),
        ({"member": "12"}, 400, "member must be a member id"),
        ({"member": True}, 400, "member must be a member id"),
        ({"member": -3}, 400, "member must be a member id"),
        ({"stale": False}, 400, "stale must be true"),
        ({}, 400, '{"member": <member id>} or {"stale": true}'),
        ({"member": 1, "stale": True}, 400, '{"member": <member id>} or {"stale": true}'),
        ({"stale": True, "extra": 1}, 400, "extra"),
        ([1], 400, "JSON object"),
        ("not json", 400, "JSON object"),
    ],
)
def test_bad_input_gets_a_clear_error_and_changes_nothing(
    routes, engine, body, status, message
) -> None:
    member = member_with_wallet(engine)
    kwargs = {"content": body} if isinstance(body, str) else {"json": body}
    response = routes.post(PATH, headers={"X-Internal-Token": TOKEN}, **kwargs)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert queued_at(engine, member) is None
    [entry] = audit_entries(engine)
    assert entry.action == "internal.holdings_sync_refused"


def test_a_member_without_a_wallet_is_refused(routes, engine) -> None:
    member = create_member(engine)
    response = routes.post(PATH, headers={"X-Internal-Token": TOKEN}, json={"member": member.id})
    assert response.status_code == 400
    assert "no wallet" in response.json()["error"]


def test_one_member_is_enqueued_once(routes, engine, marketplace: Marketplace) -> None:
    member, other = member_with_wallet(engine), member_with_wallet(engine, OTHER_WALLET)

    first = routes.post(
        PATH, headers={"X-Internal-Token": TOKEN}, json={"member": member}, client="198.51.100.4"
    )
    again = routes.post(PATH, headers={"X-Internal-Token": TOKEN}, json={"member": member})

    assert first.status_code == 200, first.text
    assert first.json() == {"queued": 1, "already_running": 0}
    assert again.json() == {"queued": 0, "already_running": 1}
    mark = queued_at(engine, member)
    assert mark is not None and queued_at(engine, other) is None
    workflow = f"holdings-{member}-{mark.isoformat()}"
    assert get_client().status(workflow) == "ENQUEUED"
    assert marketplace.requests == []  # nothing read in the request
    entry = audit_entries(engine)[0]
    assert entry.action == "internal.holdings_sync" and entry.ip_address == "198.51.100.4"
    assert entry.subject_user_id == member and entry.after["queued"] == 1


def test_every_stale_member_is_enqueued(routes, engine) -> None:
    stale = member_with_wallet(engine, WALLET)
    fresh = create_member(engine)
    synced_holdings(engine, fresh.id, OTHER_WALLET, ("apes", "Ape"))
    create_member(engine)  # no wallet: nothing to read

    response = routes.post(PATH, headers={"X-Internal-Token": TOKEN}, json={"stale": True})

    assert response.status_code == 200, response.text
    assert response.json() == {"queued": 1, "already_running": 0}
    assert queued_at(engine, stale) is not None
    assert queued_at(engine, fresh.id) is None


def test_without_a_marketplace_the_call_is_refused(configure, db_url, engine) -> None:  # noqa: F811
    routes = configure(DATABASE_URL=db_url, INTERNAL_API_TOKEN=TOKEN, MARKETPLACE_BASE_URL="")
    member = member_with_wallet(engine)
    response = routes.post(PATH, headers={"X-Internal-Token": TOKEN}, json={"member": member})
    assert response.status_code == 503
    assert "No marketplace" in response.json()["error"]
    assert queued_at(engine, member) is None
