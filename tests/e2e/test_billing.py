"""Billing in the browser: buy a pack through Checkout (the test plays Stripe's hosted page),
land on the success page with the new balance, and see another tab update without a reload."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from dashboard_app.domain.catalog import get_catalog
from dashboard_app.models import Order
from tests.e2e.helpers import expect_path, sign_in
from tests.factories import DEFAULT_PASSWORD, count_rows, create_member

pytestmark = pytest.mark.e2e
PACK = get_catalog().packs["starter"]


def test_a_member_buys_a_pack_and_every_tab_shows_the_new_balance(page: Page, app) -> None:
    member = create_member(app.engine, credits_granted=30)
    sign_in(page, member.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("header-credits")).to_have_text("30")
    overview = page.context.new_page()
    overview.goto("/")
    expect(overview.get_by_test_id("balance-available")).to_have_text("30")
    # The member works in the first tab; the overview stays open behind it (a hidden tab's
    # actions wait for animation frames, which slows every step taken there).
    page.bring_to_front()

    page.goto("/billing")
    expect(page.get_by_test_id("plan-name")).to_have_text("Free")
    expect(page.get_by_text("$9.00")).to_be_visible()
    page.get_by_test_id("buy-starter").click()

    # Stripe's hosted Checkout page (the stand-in's), then back to the dashboard.
    expect(page).to_have_url(re.compile(rf"^{re.escape(app.stripe.url)}/pay/cs_test_"))
    expect(page.get_by_role("heading", name="Pay 9.00 USD")).to_be_visible()
    page.get_by_role("button", name="Pay").click()

    expect_path(page, "/billing/success")
    expect(page.get_by_test_id("checkout-result")).to_have_text(
        f"Payment received: {PACK.credits:,} credits added"
    )
    total = f"{30 + PACK.credits:,}"
    expect(page.get_by_test_id("checkout-detail")).to_have_text(
        f"Your balance is now {total} credits."
    )
    expect(overview.get_by_test_id("balance-available")).to_have_text(
        str(30 + PACK.credits), timeout=5000
    )
    page.reload()  # the success page again: nothing more is granted
    expect(page.get_by_test_id("checkout-result")).to_contain_text("Payment received")
    with Session(app.engine) as session:
        order = session.exec(select(Order).where(Order.user_id == member.id)).one()
        assert (order.status, order.credits) == ("paid", PACK.credits)

    page.goto("/billing/orders")
    expect(page.get_by_test_id("order-row")).to_have_count(1)
    expect(page.get_by_test_id("order-row")).to_contain_text("Starter pack")
    expect(page.get_by_test_id("order-row")).to_contain_text("Paid")
    page.get_by_role("link", name="Starter pack").click()
    expect(page.get_by_test_id("order-detail")).to_contain_text("$9.00")


def test_canceling_checkout_returns_to_billing_and_changes_nothing(page: Page, app) -> None:
    member = create_member(app.engine)
    sign_in(page, member.email, DEFAULT_PASSWORD)
    page.goto("/billing")
    page.get_by_test_id("buy-studio").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(app.stripe.url)}/pay/"))
    page.get_by_role("button", name="Cancel").click()
    expect_path(page, "/billing")
    expect(page.get_by_test_id("checkout-canceled")).to_be_visible()
    expect(page.get_by_test_id("header-credits")).to_have_text("0")
    with Session(app.engine) as session:
        orders = session.exec(select(Order).where(Order.user_id == member.id)).all()
        assert orders == []


def test_another_members_success_page_shows_and_grants_nothing(page: Page, browser, app) -> None:
    from tests.support.stripe import paid_checkout

    owner, intruder = create_member(app.engine), create_member(app.engine)
    app.stripe.send_webhooks_to(app.url("/api/stripe/webhook"), only=["test.paused"])
    try:
        session_id = paid_checkout(app.engine, app.stripe.gateway(), owner.id)
    finally:
        app.stripe.send_webhooks_to(app.url("/api/stripe/webhook"))
    sign_in(page, intruder.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("header-credits")).to_have_text("0")
    page.goto(f"/billing/success?session_id={session_id}")
    expect(page.get_by_test_id("checkout-result")).to_have_text("We could not find that checkout")
    assert str(PACK.credits) not in page.get_by_test_id("checkout-detail").inner_text()
    expect(page.get_by_test_id("header-credits")).to_have_text("0")
    assert count_rows(app.engine, Order, Order.user_id == intruder.id) == 0
    assert count_rows(app.engine, Order, Order.stripe_checkout_session_id == session_id) == 0


def test_manage_subscription_opens_the_billing_portal(page: Page, app) -> None:
    member = create_member(app.engine)
    sign_in(page, member.email, DEFAULT_PASSWORD)
    page.goto("/billing")
    page.get_by_test_id("buy-pro").click()
    page.get_by_role("button", name="Pay").click()
    expect(page.get_by_test_id("checkout-result")).to_have_text(
        "Thank you: your subscription has started"
    )
    page.goto("/billing")
    expect(page.get_by_test_id("plan-name")).to_have_text("Pro")
    page.get_by_test_id("manage-subscription").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(app.stripe.url)}/portal/bps_"))
    page.get_by_role("link", name="Return to the dashboard").click()
    expect_path(page, "/billing")


def test_an_order_page_shows_only_the_members_own_orders(page: Page, app) -> None:
    owner, other = create_member(app.engine), create_member(app.engine)
    with Session(app.engine) as session, session.begin():
        order = Order(user_id=owner.id, kind="pack", status="paid", amount_total=900, credits=500)
        session.add(order)
        session.flush()
        order_id = order.id
    sign_in(page, other.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("header-credits")).to_have_text("0")
    for target in (str(order_id), "abc", "99999999999999"):
        page.goto(f"/billing/orders/{target}")
        expect(page.get_by_test_id("order-missing")).to_have_text("There is no such order.")
        expect(page.get_by_test_id("order-detail")).to_have_count(0)
