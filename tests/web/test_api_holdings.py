"""Wallet holdings over the API: the last good read of the caller's wallet, paged by cursor,
with when it was read and how the last try went; a refresh is enqueued for the job workers
(never read in the request), shares the page's refresh limit, and needs a wallet and a
marketplace. Another member's holdings are never listed."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from dashboard_app.engine.client import get_client
from dashboard_app.models import HoldingsSync
from tests.domain.test_holdings import OTHER_WALLET, WALLET, set_wallet
from tests.factories import create_member, synced_holdings
from tests.support.api import make_api_key
from tests.support.marketplace import API_KEY, Marketplace

PROBLEM = "application/problem+json"


@pytest.fixture
def market_api(api, marketplace: Marketplace):  # type: ignore[no-untyped-def]
    return api.configure(MARKETPLACE_BASE_URL=marketplace.url, MARKETPLACE_API_KEY=API_KEY)


def names(page: dict) -> list[str]:
    return [item["name"] for item in page["items"]]


def test_holdings_are_paged_newest_first_with_when_they_were_read(market_api, engine) -> None:
    member = create_member(engine)
    tokens = [("Apes", f"Ape {number}") for number in range(1, 6)]
    synced_holdings(engine, member.id, WALLET, *tokens, failure="The marketplace answered 500")
    key = make_api_key(engine, member.id, scope="read")

    first = market_api.get("/holdings?limit=2", key=key)
    assert first.status_code == 200, first.text
    page = first.json()
    assert page["available"] and page["wallet"] == WALLET and page["last_synced_at"] is not None
    assert page["last_error"] == "The marketplace answered 500"  # and the old set still shows
    assert names(page) == ["Ape 5", "Ape 4"]
    assert page["items"][0]["contract"] == "0x" + "12" * 20 and page["items"][0]["token_id"] == "5"
    seen = names(page)
    while page["next_cursor"]:
        page = market_api.get(f"/holdings?limit=2&cursor={page['next_cursor']}", key=key).json()
        seen += names(page)
    assert seen == [f"Ape {number}" for number in range(5, 0, -1)]


def test_another_members_holdings_are_never_listed(market_api, engine) -> None:
    owner, other = create_member(engine), create_member(engine)
    synced_holdings(engine, owner.id, WALLET, ("Vault", "Owner's token"))
    set_wallet(engine, other.id, OTHER_WALLET)
    response = market_api.get("/holdings", key=make_api_key(engine, other.id))
    assert response.status_code == 200
    assert response.json()["items"] == [] and "Owner's token" not in response.text


def test_a_refresh_is_enqueued_once_and_read_by_the_workers_not_the_request(
    market_api, engine, marketplace: Marketplace
) -> None:
    member = create_member(engine)
    set_wallet(engine, member.id, WALLET)
    key = make_api_key(engine, member.id)
    accepted = market_api.post("/holdings/refresh", key=key)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json() == {"queued": True, "refreshing": True}
    assert accepted.headers["location"] == "/api/v1/holdings"
    with Session(engine) as session:
        mark = session.get(HoldingsSync, member.id).refresh_queued_at
    assert get_client().status(f"holdings-{member.id}-{mark.isoformat()}") == "ENQUEUED"
    assert marketplace.requests == []
    again = market_api.post("/holdings/refresh", key=key)
    assert (again.status_code, again.json()["queued"]) == (202, False)
    assert market_api.get("/holdings", key=key).json()["refreshing"] is True


def test_a_refresh_needs_a_wallet_a_write_credential_and_a_marketplace(
    api, market_api, engine
) -> None:
    member = create_member(engine)
    no_wallet = market_api.post("/holdings/refresh", key=make_api_key(engine, member.id))
    assert no_wallet.status_code == 409 and no_wallet.headers["content-type"].startswith(PROBLEM)
    assert "preferred wallet" in no_wallet.json()["detail"]
    set_wallet(engine, member.id, WALLET)
    read_only = market_api.post(
        "/holdings/refresh", key=make_api_key(engine, member.id, scope="read")
    )
    assert read_only.status_code == 403
    api.configure(MARKETPLACE_BASE_URL="")
    off = api.post("/holdings/refresh", key=make_api_key(engine, member.id))
    assert off.status_code == 409 and "no marketplace" in off.json()["detail"]
    assert api.get("/holdings", key=make_api_key(engine, member.id)).json()["available"] is False
    with Session(engine) as session:
        assert session.get(HoldingsSync, member.id) is None  # nothing was marked


def finish_refresh(engine, member: int) -> None:  # type: ignore[no-untyped-def]
    """What a worker's refresh does at its end: the member has none in flight any more."""
    with Session(engine) as session:
        sync = session.get(HoldingsSync, member)
        sync.refresh_queued_at = None
        session.add(sync)
        session.commit()


def test_refreshes_asked_through_the_api_count_against_the_members_limit(
    market_api, engine
) -> None:
    member = create_member(engine)
    set_wallet(engine, member.id, WALLET)
    key = make_api_key(engine, member.id)
    # Asking again while one runs costs nothing.
    for _ in range(10):
        assert market_api.post("/holdings/refresh", key=key).status_code == 202
    finish_refresh(engine, member.id)
    statuses = []
    for _ in range(6):
        statuses.append(market_api.post("/holdings/refresh", key=key).status_code)
        finish_refresh(engine, member.id)
    assert statuses == [202] * 5 + [429]
    with Session(engine) as session:
        assert session.get(HoldingsSync, member.id).refresh_queued_at is None  # none marked
