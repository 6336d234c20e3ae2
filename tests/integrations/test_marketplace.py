"""The marketplace client against the stand-in marketplace (tests/support/marketplace.py): paging,
the key header, 429 with Retry-After, 500s, timeouts and malformed answers."""

from __future__ import annotations

import time

import pytest

from dashboard_app.integrations.marketplace import (
    MarketplaceClient,
    MarketplaceConfig,
    MarketplaceError,
    config_from_settings,
)
from dashboard_app.settings import Settings
from tests.support.marketplace import API_KEY, Marketplace, token

WALLET = "0x" + "ab" * 20
APES = "0x" + "11" * 20
PUNKS = "0x" + "22" * 20


def client(market: Marketplace, **overrides) -> MarketplaceClient:  # type: ignore[no-untyped-def]
    options = {
        "base_url": market.url,
        "api_key": API_KEY,
        "backoff_seconds": 0.01,
        "page_size": 2,
        **overrides,
    }
    return MarketplaceClient(MarketplaceConfig(**options))


def test_every_page_is_read_with_the_key_and_the_chain(marketplace: Marketplace) -> None:
    marketplace.hold(
        WALLET,
        token(APES, "1", "apes"),
        token(APES, "2", "apes"),
        token(PUNKS, "7", "punks", name="Punk seven"),
    )
    with client(marketplace, chain="base") as market:
        inventory = market.fetch_holdings(WALLET)

    assert sorted((nft.contract, nft.token_id) for nft in inventory.nfts) == [
        (APES, "1"),
        (APES, "2"),
        (PUNKS, "7"),
    ]
    punk = next(nft for nft in inventory.nfts if nft.token_id == "7")
    assert punk.name == "Punk seven"
    assert punk.collection == "punks"
    assert punk.image_url == "https://img.example/punks/7.png"
    assert punk.metadata["metadata_url"] == "https://meta.example/punks/7.json"
    assert (inventory.skipped, inventory.truncated) == (0, False)
    logged = marketplace.requests_for(WALLET)
    assert [r.query.get("next") for r in logged] == [None, "c2"]
    assert {r.chain for r in logged} == {"base"}
    assert {r.api_key for r in logged} == {API_KEY}
    assert {r.query["limit"] for r in logged} == {"2"}


def test_an_empty_wallet_has_no_holdings(marketplace: Marketplace) -> None:
    with client(marketplace) as market:
        assert market.fetch_holdings(WALLET).nfts == []


def test_paging_stops_at_the_page_cap(marketplace: Marketplace) -> None:
    marketplace.hold(WALLET, *(token(APES, str(n), "apes") for n in range(7)))
    with client(marketplace, max_pages=2) as market:
        inventory = market.fetch_holdings(WALLET)
    assert len(inventory.nfts) == 4
    assert inventory.truncated is True
    assert len(marketplace.requests_for(WALLET)) == 2


def test_429_waits_for_retry_after_then_succeeds(marketplace: Marketplace) -> None:
    marketplace.hold(WALLET, token(APES, "1", "apes"))
    marketplace.behaviour.rate_limited = 2
    marketplace.behaviour.retry_after = "0.3"
    started = time.monotonic()
    with client(marketplace) as market:
        inventory = market.fetch_holdings(WALLET)
    # Two waits of Retry-After (0.3 s each), not the 0.01 s backoff.
    assert time.monotonic() - started >= 0.6
    assert [nft.token_id for nft in inventory.nfts] == ["1"]
    assert [r.status for r in marketplace.requests_for(WALLET)] == [429, 429, 200]


def test_the_wait_is_bounded_whatever_retry_after_says(marketplace: Marketplace) -> None:
    marketplace.hold(WALLET, token(APES, "1", "apes"))
    marketplace.behaviour.rate_limited = 1
    marketplace.behaviour.retry_after = "3600"
    started = time.monotonic()
    with client(marketplace, max_backoff_seconds=0.2) as market:
        inventory = market.fetch_holdings(WALLET)
    assert time.monotonic() - started < 5
    assert len(inventory.nfts) == 1


def test_429_forever_ends_in_one_error(marketplace: Marketplace) -> None:
    marketplace.behaviour.rate_limited = 100
    with client(marketplace, max_attempts=3) as market, pytest.raises(MarketplaceError) as raised:
        market.fetch_holdings(WALLET)
    assert "after 3 attempts (HTTP 429)" in str(raised.value)
    assert len(marketplace.requests_for(WALLET)) == 3


def test_a_500_is_retried_then_succeeds(marketplace: Marketplace) -> None:
    marketplace.hold(WALLET, token(APES, "1", "apes"))
    marketplace.behaviour.failing = 2
    with client(marketplace) as market:
        inventory = market.fetch_holdings(WALLET)
    assert len(inventory.nfts) == 1
    assert [r.status for r in marketplace.requests_for(WALLET)] == [500, 500, 200]


def test_500s_that_go_on_end_in_one_error(marketplace: Marketplace) -> None:
    marketplace.behaviour.failing = 100
    with client(marketplace, max_attempts=3) as market, pytest.raises(MarketplaceError) as raised:
        market.fetch_holdings(WALLET)
    assert "HTTP 500" in str(raised.value)
    assert len(marketplace.requests_for(WALLET)) == 3


def test_a_slow_marketplace_times_out_into_the_same_error(marketplace: Marketplace) -> None:
    marketplace.behaviour.delay_seconds = 0.5
    with (
        client(marketplace, timeout_seconds=0.1, max_attempts=2) as market,
        pytest.raises(MarketplaceError) as raised,
    ):
        market.fetch_holdings(WALLET)
    assert "ReadTimeout" in str(raised.value)


def test_a_wrong_key_is_refused_at_once(marketplace: Marketplace) -> None:
    with client(marketplace, api_key="wrong") as market, pytest.raises(MarketplaceError) as raised:
        market.fetch_holdings(WALLET)
    assert "refused" in str(raised.value)
    assert len(marketplace.requests_for(WALLET)) == 1


def test_an_answer_that_is_not_json_is_refused_whole(marketplace: Marketplace) -> None:
    marketplace.hold(WALLET, token(APES, "1", "apes"))
    marketplace.behaviour.malformed_json = True
    with client(marketplace) as market, pytest.raises(MarketplaceError) as raised:
        market.fetch_holdings(WALLET)
    assert "not JSON" in str(raised.value)


def test_malformed_items_are_skipped_and_counted(marketplace: Marketplace) -> None:
    marketplace.hold(
        WALLET,
        token(APES, "1", "apes"),
        token(APES, "2", "apes", image_url="javascript:alert(1)"),
    )
    marketplace.behaviour.malformed_items = True
    with client(marketplace, page_size=50) as market:
        inventory = market.fetch_holdings(WALLET)
    assert sorted(nft.token_id for nft in inventory.nfts) == ["1", "2"]
    assert inventory.skipped == 3
    # An image address that is not http(s) is dropped, the token kept.
    assert next(nft for nft in inventory.nfts if nft.token_id == "2").image_url == ""


def test_settings_name_the_marketplace(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert config_from_settings(Settings(_env_file=None, data_dir=tmp_path)) is None
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        marketplace_base_url="https://market.example",
        marketplace_api_key="k",
        marketplace_max_pages=3,
    )
    config = config_from_settings(settings)
    assert config is not None
    assert (config.chain, config.max_pages, config.api_key) == ("ethereum", 3, "k")
    assert settings.holdings_fresh_hours == 6
