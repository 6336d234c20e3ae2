"""The signed-in shell in a real browser: sign-in, the guard, the header balance, roles."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, credits
from dashboard_app.domain.demo import DEMO_ADMIN_EMAIL, DEMO_MEMBER_EMAIL, seed_demo
from dashboard_app.models import User, UserSession
from tests.conftest import TEST_DATABASE
from tests.e2e.helpers import expect_path, sign_in
from tests.factories import DEFAULT_PASSWORD, count_rows, create_member, unique_email

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo(app, tmp_path_factory) -> dict[str, str]:
    with session_scope(app.engine) as session:
        accounts = seed_demo(
            session=session, credentials_file=tmp_path_factory.mktemp("demo") / "creds.json"
        )
    return {account.email: account.password for account in accounts}


def test_demo_member_signs_in_and_sees_the_shell_with_the_balance(page: Page, app, demo) -> None:
    sign_in(page, DEMO_MEMBER_EMAIL, demo[DEMO_MEMBER_EMAIL])
    expect_path(page, "/")
    with session_scope(app.engine) as session:
        user = accounts.find_user_by_email(session=session, email=DEMO_MEMBER_EMAIL)
        available = credits.get_balances(session=session, user_id=user.id).available
    assert available > 0
    expect(page.get_by_test_id("header-credits")).to_have_text(str(available))
    expect(page.get_by_test_id("balance-available")).to_have_text(str(available))
    expect(page.get_by_test_id("header-member")).to_have_text("Demo Member")
    for section in ("overview", "create", "jobs", "library", "billing", "profile"):
        expect(page.get_by_test_id(f"nav-{section}").first).to_be_visible()
    expect(page.get_by_test_id("nav-admin")).to_have_count(0)
    # The session cookie is HttpOnly: page scripts cannot read it.
    assert page.evaluate("document.cookie") == ""


def test_anonymous_visitor_is_sent_to_sign_in_and_then_back(page: Page, app) -> None:
    member = create_member(app.engine, credits_granted=7)
    page.goto("/billing")
    expect_path(page, "/sign-in")
    assert "next=%2Fbilling" in page.url
    expect(page.get_by_test_id("header-credits")).to_have_count(0)
    sign_in_without_navigation(page, member.email, DEFAULT_PASSWORD)
    expect_path(page, "/billing")
    expect(page.get_by_role("heading", name="Billing")).to_be_visible()
    expect(page.get_by_test_id("header-credits")).to_have_text("7")


def sign_in_without_navigation(page: Page, email: str, password: str) -> None:
    page.fill("#email", email)
    page.fill("#password", password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def test_every_member_page_is_guarded(page: Page) -> None:
    for path in ("/", "/create", "/jobs", "/library", "/billing", "/profile", "/admin"):
        page.goto(path)
        expect_path(page, "/sign-in")


def test_wrong_password_shows_a_message_and_opens_no_session(page: Page, app) -> None:
    member = create_member(app.engine)
    sign_in(page, member.email, "not the password")
    expect_path(page, "/sign-in")
    expect(page.get_by_test_id("auth-error")).to_contain_text("do not match")
    assert page.context.cookies() == []
    assert count_rows(app.engine, UserSession, UserSession.user_id == member.id) == 0


def test_sign_in_never_redirects_off_site(page: Page, app) -> None:
    member = create_member(app.engine)
    sign_in(page, member.email, DEFAULT_PASSWORD, start="/sign-in?next=https://evil.example/")
    expect_path(page, "/")
    expect(page.get_by_test_id("header-credits")).to_be_visible()


def test_session_cookie_flags(page: Page, app) -> None:
    member = create_member(app.engine)
    sign_in(page, member.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("header-credits")).to_be_visible()
    (cookie,) = page.context.cookies()
    assert cookie["name"] == "dash_session"
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"


def test_sign_out_ends_the_session_on_the_server(page: Page, app) -> None:
    member = create_member(app.engine)
    sign_in(page, member.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("header-credits")).to_be_visible()
    (cookie,) = page.context.cookies()
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect_path(page, "/sign-in")
    # Replaying the old cookie does not get back in.
    page.context.add_cookies([cookie])
    page.goto("/profile")
    expect_path(page, "/sign-in")
    assert (
        count_rows(
            app.engine,
            UserSession,
            UserSession.user_id == member.id,
            UserSession.revoked_at.is_not(None),
        )
        == 1
    )


def test_admin_panel_is_for_admins_only(page: Page, app, demo) -> None:
    member = create_member(app.engine)
    sign_in(page, member.email, DEFAULT_PASSWORD, start="/sign-in?next=/admin")
    expect_path(page, "/")  # sent away from the admin panel
    expect(page.get_by_test_id("admin-figures")).to_have_count(0)

    page.get_by_role("button", name="Sign out", exact=True).click()
    expect_path(page, "/sign-in")
    sign_in(page, DEMO_ADMIN_EMAIL, demo[DEMO_ADMIN_EMAIL])
    page.get_by_test_id("nav-admin").first.click()
    expect_path(page, "/admin")
    expect(page.get_by_test_id("admin-figures")).to_contain_text("Sign-ups")
    page.get_by_test_id("admin-tab-members").click()
    expect_path(page, "/admin/members")
    expect(page.get_by_test_id("admin-members")).to_contain_text(member.email)


def test_sign_up_creates_an_account_and_signs_in(page: Page, app) -> None:
    email = unique_email("signup")
    page.goto("/sign-up")
    page.fill("#display_name", "New Person")
    page.fill("#email", email)
    page.fill("#password", "short")
    page.get_by_role("button", name="Create account").click()
    # The browser's own check stops the too-short password before it is sent, and says why.
    password = page.locator("#password")
    assert password.evaluate("field => field.validity.tooShort") is True
    assert "10 characters" in password.evaluate("field => field.validationMessage")
    expect_path(page, "/sign-up")
    # A client that skips the browser's check is refused by the server, which says why.
    password.evaluate("field => field.removeAttribute('minlength')")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("auth-error")).to_contain_text(
        "Use between 10 and 256 characters for your password"
    )
    assert count_rows(app.engine, User, User.email == email) == 0
    page.fill("#display_name", "New Person")
    page.fill("#email", email)
    page.fill("#password", DEFAULT_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect_path(page, "/")
    expect(page.get_by_test_id("header-member")).to_have_text("New Person")
    expect(page.get_by_test_id("header-credits")).to_have_text("0")


def test_sign_up_with_a_taken_email_says_so(page: Page, app) -> None:
    member = create_member(app.engine)
    page.goto("/sign-up")
    page.fill("#email", member.email.upper())
    page.fill("#password", DEFAULT_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("auth-error")).to_contain_text(re.compile("already exists"))
    assert page.context.cookies() == []


def test_phone_sized_screen_uses_a_menu(page: Page, app) -> None:
    member = create_member(app.engine)
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, member.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("balance-available")).to_be_visible()
    page.get_by_role("button", name="Open menu").click()
    page.get_by_role("dialog").get_by_test_id("nav-profile").click()
    expect_path(page, "/profile")
    expect(page.get_by_test_id("profile-email")).to_have_text(member.email)


@pytest.mark.skipif(
    TEST_DATABASE != "postgresql", reason="Redis backs Reflex state on PostgreSQL runs"
)
def test_reflex_state_lives_in_redis(page: Page, app, redis_server) -> None:
    import redis

    member = create_member(app.engine)
    client = redis.Redis.from_url(redis_server.url)
    before = client.dbsize()
    sign_in(page, member.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("header-credits")).to_be_visible()
    assert client.dbsize() > before
