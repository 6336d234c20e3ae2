"""Wallet holdings, read from the stand-in marketplace: a refresh replaces the set, a failure
keeps the last good one, a new wallet hides the old set, one refresh in flight per member,
freshness, and the admins' collection summary."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dashboard_app.db import session_scope
from dashboard_app.domain import holdings, profiles
from dashboard_app.integrations.marketplace import (
    Inventory,
    MarketplaceClient,
    MarketplaceConfig,
    Nft,
)
from dashboard_app.models import Holding, HoldingsSync
from dashboard_app.models.base import utcnow
from tests.factories import count_rows, create_member
from tests.support.marketplace import API_KEY, Marketplace, token

WALLET = "0x" + "ab" * 20
OTHER_WALLET = "0x" + "cd" * 20
APES = "0x" + "11" * 20
PUNKS = "0x" + "22" * 20
FRESH = timedelta(hours=6)


def set_wallet(engine: Engine, user_id: int, wallet: str) -> None:
    with session_scope(engine) as session:
        profile = profiles.get_profile(session=session, user_id=user_id)
        profile.wallet_address = wallet
        session.add(profile)


def member_with_wallet(engine: Engine, wallet: str = WALLET) -> int:
    user = create_member(engine)
    assert user.id is not None
    set_wallet(engine, user.id, wallet)
    return user.id


def refresh(engine: Engine, market: Marketplace, user_id: int, queued_at=None):  # type: ignore[no-untyped-def]
    config = MarketplaceConfig(
        base_url=market.url, api_key=API_KEY, backoff_seconds=0.01, max_attempts=2
    )
    with MarketplaceClient(config) as client:
        return holdings.refresh_holdings(
            engine=engine,
            fetch=client.fetch_holdings,
            user_id=user_id,
            chain="ethereum",
            queued_at=queued_at,
        )


def view(engine: Engine, user_id: int, now=None) -> holdings.HoldingsView:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return holdings.holdings_view(
            session=session, user_id=user_id, chain="ethereum", fresh_for=FRESH, now=now
        )


def shown(engine: Engine, user_id: int) -> list[str]:
    return [f"{h.collection}#{h.token_id}" for h in view(engine, user_id).holdings]


def test_a_refresh_stores_the_wallets_tokens(engine: Engine, marketplace: Marketplace) -> None:
    member = member_with_wallet(engine, WALLET.upper().replace("0X", "0x"))
    marketplace.hold(WALLET, token(APES, "1", "apes", name="Ape one"), token(PUNKS, "7", "punks"))

    outcome = refresh(engine, marketplace, member)

    assert outcome == holdings.RefreshOutcome(refreshed=True, holdings=2)
    seen = view(engine, member)
    assert shown(engine, member) == ["apes#1", "punks#7"]
    ape = seen.holdings[0]
    assert (ape.name, ape.contract, ape.image_url) == (
        "Ape one",
        APES,
        "https://img.example/apes/1.png",
    )
    assert ape.token_metadata["metadata_url"] == "https://meta.example/apes/1.json"
    assert seen.last_synced_at is not None and seen.last_error is None
    assert (seen.stale, seen.refreshing) == (False, False)
    # The wallet is asked for as the marketplace spells addresses: lower case.
    assert [r.address for r in marketplace.requests] == [WALLET]


def test_a_second_refresh_replaces_the_set(engine: Engine, marketplace: Marketplace) -> None:
    member = member_with_wallet(engine)
    marketplace.hold(WALLET, token(APES, "1", "apes"), token(APES, "2", "apes"))
    refresh(engine, marketplace, member)
    marketplace.hold(WALLET, token(APES, "2", "apes"), token(PUNKS, "9", "punks"))

    refresh(engine, marketplace, member)

    assert shown(engine, member) == ["apes#2", "punks#9"]
    assert count_rows(engine, Holding, Holding.user_id == member) == 2


def test_a_failure_keeps_the_last_good_set_and_says_when_it_synced(
    engine: Engine, marketplace: Marketplace
) -> None:
    member = member_with_wallet(engine)
    marketplace.hold(WALLET, token(APES, "1", "apes"))
    refresh(engine, marketplace, member)
    synced = view(engine, member).last_synced_at
    marketplace.hold(WALLET, token(PUNKS, "9", "punks"))
    marketplace.behaviour.failing = 100

    outcome = refresh(engine, marketplace, member)

    assert outcome is not None and outcome.refreshed is False
    seen = view(engine, member)
    assert shown(engine, member) == ["apes#1"]
    assert seen.last_synced_at == synced
    assert seen.last_error == "The marketplace did not answer after 2 attempts (HTTP 500)"
    assert seen.last_attempt_at is not None and synced is not None
    assert seen.last_attempt_at > synced
    # The next good refresh clears the error.
    marketplace.behaviour.failing = 0
    refresh(engine, marketplace, member)
    assert (shown(engine, member), view(engine, member).last_error) == (["punks#9"], None)


def test_a_new_wallet_hides_the_old_holdings(engine: Engine, marketplace: Marketplace) -> None:
    member = member_with_wallet(engine)
    marketplace.hold(WALLET, token(APES, "1", "apes"))
    marketplace.hold(OTHER_WALLET, token(PUNKS, "3", "punks"))
    refresh(engine, marketplace, member)

    set_wallet(engine, member, OTHER_WALLET)

    seen = view(engine, member)
    assert (seen.wallet, seen.holdings, seen.last_synced_at) == (OTHER_WALLET, [], None)
    assert seen.stale is True
    with session_scope(engine) as session:
        assert holdings.collection_summary(session=session) == []
        assert holdings.stale_members(session=session, chain="ethereum", fresh_for=FRESH) == [
            member
        ]
    refresh(engine, marketplace, member)
    assert shown(engine, member) == ["punks#3"]


def test_no_wallet_shows_nothing(engine: Engine, marketplace: Marketplace) -> None:
    user = create_member(engine)
    assert user.id is not None
    assert view(engine, user.id) == holdings.HoldingsView(wallet="")
    with session_scope(engine) as session:
        assert holdings.stale_members(session=session, chain="ethereum", fresh_for=FRESH) == []


def test_holdings_go_stale_after_the_freshness_window(
    engine: Engine, marketplace: Marketplace
) -> None:
    member = member_with_wallet(engine)
    refresh(engine, marketplace, member)
    assert view(engine, member).stale is False
    later = utcnow() + FRESH + timedelta(seconds=1)
    assert view(engine, member, now=later).stale is True
    with session_scope(engine) as session:
        assert holdings.stale_members(session=session, chain="ethereum", fresh_for=FRESH) == []
        assert holdings.stale_members(
            session=session, chain="ethereum", fresh_for=FRESH, now=later
        ) == [member]


def test_one_refresh_in_flight_per_member(engine: Engine) -> None:
    member = member_with_wallet(engine)
    with session_scope(engine) as session:
        first = holdings.request_refresh(session=session, user_id=member)
    with session_scope(engine) as session:
        assert holdings.request_refresh(session=session, user_id=member) is None
    assert first is not None
    assert view(engine, member).refreshing is True
    # A mark left by a worker that died is given up after a while.
    later = first + holdings.REFRESH_ABANDONED_AFTER + timedelta(seconds=1)
    with session_scope(engine) as session:
        assert holdings.request_refresh(session=session, user_id=member, now=later) == later


def test_racing_requests_start_one_refresh(engine: Engine) -> None:
    member = member_with_wallet(engine)
    barrier = threading.Barrier(4)
    granted: list[object] = []

    def ask() -> None:
        barrier.wait()
        with session_scope(engine) as session:
            granted.append(holdings.request_refresh(session=session, user_id=member))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len([mark for mark in granted if mark is not None]) == 1
    assert count_rows(engine, HoldingsSync, HoldingsSync.user_id == member) == 1


def test_a_settled_refresh_is_not_run_again(engine: Engine, marketplace: Marketplace) -> None:
    member = member_with_wallet(engine)
    marketplace.hold(WALLET, token(APES, "1", "apes"))
    with session_scope(engine) as session:
        queued_at = holdings.request_refresh(session=session, user_id=member)
    assert refresh(engine, marketplace, member, queued_at) is not None
    assert view(engine, member).refreshing is False

    # The same refresh again (a worker recovering it): nothing is read.
    assert refresh(engine, marketplace, member, queued_at) is None
    assert len(marketplace.requests) == 1


def test_an_unknown_member_cannot_be_refreshed(engine: Engine) -> None:
    with pytest.raises(holdings.NotFound), session_scope(engine) as session:
        holdings.request_refresh(session=session, user_id=987654)


def test_the_collection_summary_counts_members_and_tokens(
    engine: Engine, marketplace: Marketplace
) -> None:
    first, second = member_with_wallet(engine, WALLET), member_with_wallet(engine, OTHER_WALLET)
    marketplace.hold(WALLET, token(APES, "1", "apes"), token(APES, "2", "apes"))
    marketplace.hold(OTHER_WALLET, token(APES, "5", "apes"), token(PUNKS, "3", "punks"))
    refresh(engine, marketplace, first)
    refresh(engine, marketplace, second)

    with session_scope(engine) as session:
        summary = holdings.collection_summary(session=session)

    assert summary == [
        holdings.CollectionFigures(collection="apes", members=2, holdings=3),
        holdings.CollectionFigures(collection="punks", members=1, holdings=1),
    ]


def test_the_page_asks_again_only_a_while_after_a_failure(
    engine: Engine, marketplace: Marketplace
) -> None:
    member = member_with_wallet(engine)
    assert view(engine, member).due is True  # never read
    marketplace.behaviour.failing = 100
    refresh(engine, marketplace, member)
    seen = view(engine, member)
    assert (seen.stale, seen.due) == (True, False)
    later = utcnow() + holdings.RETRY_AFTER_FAILURE + timedelta(seconds=1)
    assert view(engine, member, now=later).due is True


def test_a_member_can_ask_for_a_few_refreshes_at_a_time(engine: Engine) -> None:
    member = member_with_wallet(engine)
    for _ in range(holdings.MEMBER_REFRESHES[0].limit):
        with session_scope(engine) as session:
            holdings.take_member_refresh(session=session, user_id=member, secret="s" * 32)
    with pytest.raises(holdings.rate_limits.RateLimited), session_scope(engine) as session:
        holdings.take_member_refresh(session=session, user_id=member, secret="s" * 32)


def test_a_token_with_characters_a_database_refuses_is_stored_cleaned(
    engine: Engine, marketplace: Marketplace
) -> None:
    """Anyone can send a token to a wallet: NUL characters (refused by PostgreSQL), NaN in its
    metadata (not JSON) and a plain-http image are cleaned, and the refresh succeeds."""
    member = member_with_wallet(engine)
    marketplace.hold(
        WALLET,
        token(APES, "1", "apes", name="Poi\x00soned", rarity=float("nan"), level=3,
              image_url="http://img.example/apes/1.png"),
    )  # fmt: skip
    outcome = refresh(engine, marketplace, member)
    assert outcome is not None and outcome.refreshed, outcome
    with Session(engine) as session:
        [stored] = session.exec(select(Holding).where(Holding.user_id == member)).all()
    assert stored.name == "Poisoned" and stored.image_url == ""
    assert "rarity" not in stored.token_metadata and stored.token_metadata["level"] == 3


def test_an_answer_that_cannot_be_stored_is_a_recorded_failure_not_a_stuck_refresh(
    engine: Engine,
) -> None:
    member = member_with_wallet(engine)
    with Session(engine) as session:
        queued_at = holdings.request_refresh(session=session, user_id=member)
        session.commit()
    # Whatever the reason a database refuses the set (here: metadata that is not JSON).
    unstorable = Nft(contract=APES, token_id="1", collection="apes", name="Odd",
                     image_url="", metadata={"when": object()})  # fmt: skip
    outcome = holdings.refresh_holdings(
        engine=engine,
        fetch=lambda wallet: Inventory(nfts=[unstorable]),
        user_id=member,
        chain="ethereum",
        queued_at=queued_at,
    )
    assert outcome is not None and not outcome.refreshed
    with Session(engine) as session:
        sync = session.get(HoldingsSync, member)
    assert sync.refresh_queued_at is None and sync.last_error == outcome.error


def test_a_superseded_slow_refresh_does_not_overwrite_the_newer_one(
    engine: Engine, marketplace: Marketplace
) -> None:
    member = member_with_wallet(engine)
    with Session(engine) as session:
        slow = holdings.request_refresh(session=session, user_id=member)
        session.commit()
    marketplace.hold(WALLET, token(APES, "2", "apes", name="Newer"))

    def slow_fetch(wallet: str) -> Inventory:
        # While it reads, it runs past the abandon window: a newer refresh is asked for and
        # writes first.
        later = slow + holdings.REFRESH_ABANDONED_AFTER + timedelta(seconds=1)
        with Session(engine) as session:
            newer = holdings.request_refresh(session=session, user_id=member, now=later)
            session.commit()
        assert refresh(engine, marketplace, member, queued_at=newer).refreshed
        return Inventory(nfts=[Nft(contract=APES, token_id="1", collection="apes",
                                   name="Older", image_url="", metadata={})])  # fmt: skip

    holdings.refresh_holdings(
        engine=engine, fetch=slow_fetch, user_id=member, chain="ethereum", queued_at=slow
    )
    with Session(engine) as session:
        names = [h.name for h in session.exec(select(Holding).where(Holding.user_id == member))]
    assert names == ["Newer"]
