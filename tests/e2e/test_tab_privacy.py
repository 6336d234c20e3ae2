"""One browser tab, two members: member A (an admin) uses every page, her session ends (she signs
out, or it is ended elsewhere), member B signs in in the same tab and uses every page. Nothing of
A's is on B's screen or in any websocket frame B's pages receive."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Page, WebSocket, expect

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, profiles
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.generation import drafts
from dashboard_app.models import Order, User
from tests.e2e.helpers import expect_path, sign_in
from tests.factories import DEFAULT_PASSWORD, create_member, delivered_result, synced_holdings

pytestmark = pytest.mark.e2e
WALLET = "0x" + "a7" * 20
BOB_CREDITS = 17
# Twenty page loads in a row on a shared machine: give each more than the default five seconds.
PAGE_LOAD_MS = 15_000


@dataclass
class Alice:
    user: User
    order_id: int
    generation_id: int
    listed_email: str  # a member only an admin sees
    listed_id: int
    private: list[str]


def alice_with_everything(app) -> Alice:
    """An admin with an address, a wallet, a large balance, an order, a second session (from a
    script, so her session list names a device nobody else has) and a member only admins see."""
    listed = create_member(app.engine, display_name="Carol Listed")
    user = create_member(
        app.engine, role="admin", display_name="Alice Private", credits_granted=48_271
    )
    with session_scope(app.engine) as session:
        profiles.update_profile(
            session=session,
            user=session.get(User, user.id),
            changes=profiles.ProfileChanges(
                display_name="Alice Private",
                address_line1="17 Rue des Secrets",
                address_line2="Bâtiment Zephyr",
                address_city="Privas",
                address_postal_code="07000",
                address_country="FR",
                wallet_address=WALLET,
                theme="system",
                default_platform="",
                email_notifications=True,
            ),
        )
        order = Order(user_id=user.id, kind="pack", status="paid", amount_total=12_345, credits=777)
        session.add(order)
        session.flush()
        order_id = order.id
    generation_id, _, _ = delivered_result(app.engine, user.id, title="Alice Hidden Reel")
    with session_scope(app.engine) as session:
        drafts.save_draft(
            session=session,
            user_id=user.id,
            catalog=get_catalog(),
            topic="Alice plans a surprise",
        )
    synced_holdings(app.engine, user.id, WALLET, ("Alice Vault", "Alice Secret Ape"))
    httpx.post(app.url("/auth/sign-in"), data={"email": user.email, "password": DEFAULT_PASSWORD})
    private = [
        user.email,
        "Alice Private",
        "Rue des Secrets",
        "Zephyr",
        "Privas",
        WALLET,
        "48271",
        "48,271",
        "$123.45",
        "A browser on an unknown system",  # her scripted session, in her session list
        listed.email,  # the admin member list
        "Carol Listed",
        "Alice Hidden Reel",  # her job, its result in her library
        "Alice plans a surprise",  # her draft
        "Alice Secret Ape",  # her wallet's holdings
        "Alice Vault",
    ]
    return Alice(
        user=user,
        order_id=order_id,
        generation_id=generation_id,
        listed_email=listed.email,
        listed_id=listed.id,
        private=private,
    )


ADMIN_PAGES = [
    "/admin/members",
    "/admin/stripe-events",
    "/admin/jobs",
    "/admin/audit",
    "/admin/holdings",
]


def pages(alice: Alice) -> list[str]:
    return [
        "/",
        "/credits",
        "/create",
        "/jobs",
        "/library",
        "/holdings",
        f"/review/{alice.generation_id}",
        "/billing",
        "/billing/orders",
        f"/billing/orders/{alice.order_id}",
        "/profile",
        "/admin",
        *ADMIN_PAGES,
        f"/admin/members/{alice.listed_id}",
    ]


class FrameLog:
    """Every websocket frame received by sockets the page opens once recording starts."""

    def __init__(self, page: Page) -> None:
        self.frames: list[str] = []
        self.recording = False
        page.on("websocket", self._opened)

    def _opened(self, socket: WebSocket) -> None:
        if self.recording:
            socket.on("framereceived", self._received)

    def _received(self, payload: str | bytes) -> None:
        self.frames.append(payload if isinstance(payload, str) else payload.decode("latin-1"))

    def leaks(self, private: list[str]) -> list[str]:
        text = "\n".join(self.frames)
        return [value for value in private if value in text]


def visit_every_page_as_alice(page: Page, alice: Alice) -> None:
    expect(page.get_by_test_id("header-credits")).to_have_text("48271", timeout=PAGE_LOAD_MS)
    for path in pages(alice):
        page.goto(path)
        expect(page.get_by_test_id("header-credits")).to_have_text("48271", timeout=PAGE_LOAD_MS)
        if path == "/":
            expect(page.get_by_test_id("recent-result")).to_have_count(1)
            expect(page.get_by_test_id("continue-draft")).to_be_visible()
        elif path == "/create":
            expect(page.get_by_test_id("draft-row")).to_contain_text("Alice plans a surprise")
        elif path == "/jobs":
            expect(page.get_by_test_id("job-row")).to_contain_text("Alice Hidden Reel")
        elif path == "/library":
            expect(page.get_by_test_id("library-title")).to_have_text("Alice Hidden Reel")
        elif path.startswith("/review/"):
            expect(page.get_by_test_id("review-title")).to_have_text("Alice Hidden Reel")
        elif path == "/holdings":
            expect(page.get_by_test_id("holding-name")).to_have_text("Alice Secret Ape")
        elif path == "/credits":
            expect(page.get_by_test_id("history-row").first).to_contain_text("48271")
        elif path == "/billing/orders":
            expect(page.get_by_test_id("order-row")).to_have_count(1)
        elif path.startswith("/billing/orders/"):
            expect(page.get_by_test_id("order-detail")).to_contain_text("$123.45")
        elif path == "/profile":
            expect(page.locator("#wallet_address")).to_have_value(WALLET)
            expect(page.get_by_test_id("session-row")).to_have_count(2)
            # A key made in this tab: its secret, shown once, sits in the tab's state.
            page.fill("#api_key_name", "Alice Robot Key")
            page.get_by_role("button", name="Create key").click()
            expect(page.get_by_test_id("new-api-key")).to_have_value(re.compile("^dk_"))
            secret = page.get_by_test_id("new-api-key").input_value()
            alice.private.extend([secret, secret[:15], "Alice Robot Key"])
        elif path == "/admin":
            expect(page.get_by_test_id("figure-row").first).to_be_visible()
        elif path == "/admin/members":
            expect(page.get_by_test_id("admin-members")).to_contain_text(alice.listed_email)
        elif path.startswith("/admin/members/"):
            expect(page.get_by_test_id("member-email")).to_have_text(alice.listed_email)
        elif path == "/admin/audit":
            expect(page.get_by_test_id("admin-audit")).to_contain_text(alice.listed_email)
        elif path == "/admin/holdings":
            expect(page.get_by_test_id("admin-collections")).to_contain_text("Alice Vault")


def visit_every_page_as_bob(page: Page, alice: Alice, bob: User) -> None:
    for path in pages(alice):
        page.goto(path)
        expect(page.get_by_test_id("header-credits")).to_have_text(
            str(BOB_CREDITS), timeout=PAGE_LOAD_MS
        )
        if path == "/":
            expect(page.get_by_test_id("continue-draft")).to_have_count(0)
            expect(page.get_by_test_id("recent-result")).to_have_count(0)
        elif path == "/create":
            expect(page.get_by_test_id("quote-available")).to_have_text(str(BOB_CREDITS))
            expect(page.get_by_test_id("draft-row")).to_have_count(0)
        elif path == "/jobs":
            expect(page.get_by_test_id("jobs-empty")).to_be_visible()
        elif path == "/library":
            expect(page.get_by_test_id("library-empty")).to_be_visible()
        elif path.startswith("/review/"):
            expect(page.get_by_test_id("review-missing")).to_be_visible()
        elif path == "/holdings":
            expect(page.get_by_test_id("holdings-no-wallet")).to_be_visible()
        elif path == "/credits":
            expect(page.get_by_test_id("history-row")).to_have_count(1)
        elif path == "/billing/orders":
            expect(page.get_by_test_id("orders-empty")).to_be_visible()
        elif path.startswith("/billing/orders/"):
            expect(page.get_by_test_id("order-missing")).to_be_visible()
        elif path == "/profile":
            expect(page.get_by_test_id("profile-email")).to_have_text(bob.email)
            expect(page.get_by_test_id("session-row")).to_have_count(1)
            expect(page.get_by_text("You have no API keys.")).to_be_visible()
            expect(page.get_by_test_id("new-api-key")).to_have_count(0)
        elif path.startswith("/admin"):
            expect_path(page, "/")  # not an admin: sent away
            expect(page.get_by_test_id("balance-available")).to_have_text(str(BOB_CREDITS))
        html = page.content()
        assert [value for value in alice.private if value in html] == [], path


def session_token(page: Page) -> str:
    """The tab's Reflex token, once the page has connected and stored it."""
    page.wait_for_function("window.sessionStorage.getItem('token') !== null")
    return page.evaluate("window.sessionStorage.getItem('token')")


def test_after_alice_signs_out_bob_sees_nothing_of_hers_in_the_same_tab(page: Page, app) -> None:
    bob = create_member(app.engine, display_name="Bob Next", credits_granted=BOB_CREDITS)
    alice = alice_with_everything(app)
    frames = FrameLog(page)
    sign_in(page, alice.user.email, DEFAULT_PASSWORD)
    visit_every_page_as_alice(page, alice)
    token = session_token(page)

    frames.recording = True
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect_path(page, "/sign-in")
    expect(page.locator("#email")).to_be_visible()
    # The sign-out response cleared the tab's stored token: the page made itself a new one.
    assert session_token(page) != token

    sign_in(page, bob.email, DEFAULT_PASSWORD)
    visit_every_page_as_bob(page, alice, bob)
    assert frames.frames, "no websocket frame was recorded: the check below would prove nothing"
    assert frames.leaks(alice.private) == []


def test_after_alices_session_ends_elsewhere_bob_sees_nothing_of_hers_in_the_same_tab(
    page: Page, app
) -> None:
    bob = create_member(app.engine, display_name="Bob After", credits_granted=BOB_CREDITS)
    alice = alice_with_everything(app)
    frames = FrameLog(page)
    sign_in(page, alice.user.email, DEFAULT_PASSWORD)
    visit_every_page_as_alice(page, alice)
    token = session_token(page)

    # Ended on the server (another device, an admin, expiry): the tab keeps its token and its
    # state; only the cookie it carries stops resolving to Alice.
    with session_scope(app.engine) as session:
        accounts.end_sessions(session=session, user_id=alice.user.id, reason="test")
    expect_path(page, "/sign-in")
    assert session_token(page) == token

    frames.recording = True
    sign_in(page, bob.email, DEFAULT_PASSWORD)
    assert session_token(page) == token  # the same tab token, now Bob's
    visit_every_page_as_bob(page, alice, bob)
    assert frames.frames, "no websocket frame was recorded: the check below would prove nothing"
    assert frames.leaks(alice.private) == []
