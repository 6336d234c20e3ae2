"""Credits in the browser: the overview, the history, and changes made elsewhere showing live."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from dashboard_app.db import session_scope
from dashboard_app.domain import credits, plans
from dashboard_app.domain.catalog import get_catalog
from tests.e2e.helpers import expect_path, sign_in
from tests.factories import DEFAULT_PASSWORD, create_member

pytestmark = pytest.mark.e2e
LIVE_WITHIN_MS = 2000  # a change made elsewhere shows on open tabs within 2 seconds


def grant(app, user_id: int, amount: int, key: str, **kwargs) -> None:
    with session_scope(app.engine) as session:
        credits.grant_credits(
            session=session, user_id=user_id, amount=amount, idempotency_key=key, **kwargs
        )


def test_a_grant_made_elsewhere_appears_on_open_tabs_of_that_member_only(
    page: Page, browser, app
) -> None:
    member = create_member(app.engine, credits_granted=30)
    other = create_member(app.engine, credits_granted=5)
    sign_in(page, member.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("balance-available")).to_have_text("30")
    second_tab = page.context.new_page()
    second_tab.goto("/credits")
    expect(second_tab.get_by_test_id("header-credits")).to_have_text("30")

    other_context = browser.new_context(base_url=app.base_url)
    other_page = other_context.new_page()
    sign_in(other_page, other.email, DEFAULT_PASSWORD)
    expect(other_page.get_by_test_id("header-credits")).to_have_text("5")

    grant(app, member.id, 25, f"live:{member.id}", reason="Support gift")

    expect(page.get_by_test_id("balance-available")).to_have_text("55", timeout=LIVE_WITHIN_MS)
    expect(page.get_by_test_id("header-credits")).to_have_text("55", timeout=LIVE_WITHIN_MS)
    expect(page.get_by_test_id("balance-lifetime")).to_have_text("55", timeout=LIVE_WITHIN_MS)
    expect(second_tab.get_by_test_id("header-credits")).to_have_text("55", timeout=LIVE_WITHIN_MS)
    expect(second_tab.get_by_test_id("history-row").first).to_contain_text(
        "Support gift", timeout=LIVE_WITHIN_MS
    )
    # The other member's page polled through the same seconds and shows only their own balance.
    expect(other_page.get_by_test_id("header-credits")).to_have_text("5")
    expect(other_page.get_by_test_id("balance-available")).to_have_text("5")
    assert "Support gift" not in other_page.locator("body").inner_text()
    other_context.close()


def test_overview_shows_plan_meters_boost_expiry_and_low_balance(page: Page, app) -> None:
    member = create_member(app.engine, credits_granted=5)
    catalog = get_catalog()
    with session_scope(app.engine) as session:
        plans.grant_boost(
            session=session,
            user_id=member.id,
            boost_code="pro_boost",
            reference=f"b:{member.id}",
            catalog=catalog,
        )
        plans.record_usage(
            session=session,
            user_id=member.id,
            metric="exports",
            quantity=3,
            reference=f"export:{member.id}",
        )
    sign_in(page, member.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("plan-name")).to_have_text(catalog.plans["free"].name)
    expect(page.get_by_test_id("active-boost")).to_contain_text("Pro Boost")
    exports_limit = (
        catalog.plans["free"].monthly_exports + catalog.boosts["pro_boost"].monthly_exports
    )
    expect(page.get_by_test_id("meter-used").first).to_have_text(f"3 of {exports_limit}")
    expect(page.get_by_test_id("low-balance")).to_be_visible()
    page.get_by_test_id("low-balance").get_by_role("link", name="Buy credits").click()
    expect_path(page, "/billing")


def test_low_balance_warning_goes_away_when_credits_arrive(page: Page, app) -> None:
    member = create_member(app.engine, credits_granted=3)
    sign_in(page, member.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("low-balance")).to_be_visible()
    from datetime import timedelta

    from dashboard_app.models.base import utcnow

    grant(app, member.id, 100, f"promo:{member.id}", expires_at=utcnow() + timedelta(days=3))
    expect(page.get_by_test_id("low-balance")).to_have_count(0, timeout=LIVE_WITHIN_MS)
    expect(page.get_by_test_id("expiry-notice")).to_contain_text("100 credits expire on")


def test_history_filters_and_pages_by_cursor(page: Page, app) -> None:
    member = create_member(app.engine)
    for i in range(30):
        grant(app, member.id, i + 1, f"h:{member.id}:{i}", reason=f"Grant number {i + 1}")
    with session_scope(app.engine) as session:
        credits.spend_credits(
            session=session,
            user_id=member.id,
            amount=2,
            idempotency_key=f"s:{member.id}",
            reason="One render",
        )
    sign_in(page, member.email, DEFAULT_PASSWORD, start="/sign-in?next=/credits")
    expect_path(page, "/credits")
    rows = page.get_by_test_id("history-row")
    expect(rows).to_have_count(25)
    expect(rows.first).to_contain_text("One render")
    expect(rows.first).to_contain_text("-2")
    page.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(31)
    expect(rows.last).to_contain_text("Grant number 1")
    expect(page.get_by_role("button", name="Load more")).to_have_count(0)

    page.get_by_role("combobox").click()
    page.get_by_role("option", name="Spent").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("One render")
    page.get_by_role("combobox").click()
    page.get_by_role("option", name="Expired").click()
    expect(page.get_by_test_id("history-empty")).to_be_visible()
