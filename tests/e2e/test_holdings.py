"""The Holdings page in the browser against the stand-in marketplace: a member's wallet is read
in the background once the page has answered, Refresh shows its indicator then the new set, a
failing marketplace keeps the last good set and says when it was synced, and a member without a
wallet is sent to the profile."""

from __future__ import annotations

import threading

import pytest
from playwright.sync_api import Page, expect

from dashboard_app.db import session_scope
from dashboard_app.domain import profiles
from tests.e2e.helpers import sign_in
from tests.factories import DEFAULT_PASSWORD, create_member
from tests.support.marketplace import Marketplace, token

pytestmark = pytest.mark.e2e
APES = "0x" + "11" * 20
PUNKS = "0x" + "22" * 20


def member_with_wallet(app, wallet: str) -> str:  # type: ignore[no-untyped-def]
    member = create_member(app.engine, display_name="Holder")
    with session_scope(app.engine) as session:
        profile = profiles.get_profile(session=session, user_id=member.id)
        profile.wallet_address = wallet
        session.add(profile)
    return member.email


def names(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_test_id("holding-name")


def test_holdings_show_refresh_and_survive_a_failing_marketplace(
    page: Page, app, marketplace: Marketplace
) -> None:
    wallet = "0x" + "e1" * 20
    marketplace.hold(wallet, token(APES, "1", "apes", name="Ape one"), token(PUNKS, "2", "punks"))
    sign_in(page, member_with_wallet(app, wallet), DEFAULT_PASSWORD)

    # Never read: the page answers at once, then the refresh runs in the background.
    page.goto("/holdings")
    expect(names(page)).to_have_text(["Ape one", "punks #2"])
    expect(page.get_by_test_id("holding-collection").first).to_contain_text("apes #1")
    expect(page.get_by_test_id("holdings-synced")).to_contain_text("Last synced")
    expect(page.get_by_test_id("holdings-refreshing")).to_have_count(0)
    assert len(marketplace.requests_for(wallet)) == 1

    # Refresh: the indicator while the marketplace is held back, then the new set.
    marketplace.hold(wallet, token(APES, "1", "apes", name="Ape one"), token(APES, "3", "apes"))
    gate = threading.Event()
    marketplace.behaviour.gate = gate
    try:
        page.get_by_test_id("holdings-refresh").click()
        expect(page.get_by_test_id("holdings-refreshing")).to_be_visible()
        expect(page.get_by_test_id("holdings-refresh")).to_be_disabled()
    finally:
        gate.set()
    expect(names(page)).to_have_text(["Ape one", "apes #3"])
    expect(page.get_by_test_id("holdings-refreshing")).to_have_count(0)
    synced = page.get_by_test_id("holdings-synced").inner_text()

    # The marketplace fails: the last good set stays, and the page says when it was synced.
    marketplace.behaviour = type(marketplace.behaviour)(failing=1000)
    marketplace.hold(wallet, token(PUNKS, "9", "punks"))
    page.get_by_test_id("holdings-refresh").click()
    failure = page.get_by_test_id("holdings-failure")
    expect(failure).to_contain_text("Could not refresh: The marketplace did not answer")
    expect(failure).to_contain_text("HTTP 500")
    expect(failure).to_contain_text("Showing holdings from " + synced.removeprefix("Last synced "))
    expect(names(page)).to_have_text(["Ape one", "apes #3"])
    expect(page.get_by_test_id("holdings-refreshing")).to_have_count(0)


def test_a_member_without_a_wallet_is_sent_to_the_profile(page: Page, app) -> None:
    member = create_member(app.engine)
    sign_in(page, member.email, DEFAULT_PASSWORD)
    page.goto("/holdings")
    expect(page.get_by_test_id("holdings-no-wallet")).to_be_visible()
    page.get_by_test_id("holdings-profile").click()
    expect(page.locator("#wallet_address")).to_be_visible()
