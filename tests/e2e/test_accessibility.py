"""Accessibility: axe-core runs on every page the app registers, signed out, as a member and as an
admin, in light and in dark, and finds no critical or serious violation.

The pages come from the app's own registry: a page added to the app without an entry in `PAGES`
fails `test_every_registered_page_is_checked` until it gets one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.generation import drafts
from dashboard_app.domain.plans import sync_plans
from dashboard_app.models import Generation, Order, Subscription, User
from dashboard_app.models.base import utcnow
from tests.e2e.helpers import sign_in
from tests.factories import DEFAULT_PASSWORD, create_member, delivered_result, synced_holdings
from tests.support.servers import PROJECT_ROOT, wait_for
from tests.support.stripe import paid_checkout

pytestmark = pytest.mark.e2e

AXE_SCRIPT = PROJECT_ROOT / ".tools/node_modules/axe-core/axe.min.js"
BLOCKING_IMPACTS = ("critical", "serious")
THEMES = ("light", "dark")
# Generous: the machine running the suite may be busy, and a page is checked only once ready.
READY_MS = 20_000


@dataclass(frozen=True)
class Cast:
    """The people and data the pages show: a member with history and a paid order, an admin."""

    member_email: str
    admin_email: str
    order_id: int
    checkout_session_id: str
    generation_id: int
    member_id: int


@dataclass(frozen=True)
class PageVisit:
    who: str  # "visitor", "member" or "admin"
    path: Callable[[Cast], str]
    ready: Callable[[Page, Cast], None]  # waits until the page shows its loaded data


def _visible(testid: str) -> Callable[[Page, Cast], None]:
    return lambda page, cast: expect(page.get_by_test_id(testid).first).to_be_visible(
        timeout=READY_MS
    )


def _fields(*ids: str) -> Callable[[Page, Cast], None]:
    def ready(page: Page, cast: Cast) -> None:
        for field_id in ids:
            expect(page.locator(f"#{field_id}")).to_be_visible(timeout=READY_MS)

    return ready


def _heading(name: str) -> Callable[[Page, Cast], None]:
    return lambda page, cast: expect(
        page.get_by_role("heading", name=name, exact=True)
    ).to_be_visible(timeout=READY_MS)


def _overview_ready(page: Page, cast: Cast) -> None:
    expect(page.get_by_test_id("meter-used")).to_have_count(2, timeout=READY_MS)
    expect(page.get_by_test_id("plan-name")).not_to_have_text("", timeout=READY_MS)


def _billing_ready(page: Page, cast: Cast) -> None:
    expect(page.get_by_test_id("plan-name")).not_to_have_text("", timeout=READY_MS)
    expect(page.get_by_test_id("buy-starter")).to_be_enabled(timeout=READY_MS)
    expect(page.get_by_test_id("order-row").first).to_be_visible(timeout=READY_MS)
    expect(page.get_by_test_id("checkout-canceled")).to_be_visible(timeout=READY_MS)


def _orders_ready(page: Page, cast: Cast) -> None:
    expect(page.get_by_test_id("order-row")).to_have_count(6, timeout=READY_MS)
    # A stale order is brought up to date from Stripe after the page shows.
    expect(page.get_by_text("Checking with Stripe")).to_have_count(0, timeout=READY_MS)


def _success_ready(page: Page, cast: Cast) -> None:
    expect(page.get_by_test_id("checkout-result")).to_contain_text(
        "Payment received", timeout=READY_MS
    )


def _profile_ready(page: Page, cast: Cast) -> None:
    expect(page.get_by_test_id("profile-since")).not_to_have_text("", timeout=READY_MS)
    expect(page.get_by_test_id("session-row").first).to_be_visible(timeout=READY_MS)
    expect(page.locator("#display_name")).to_have_value("Accessible Member", timeout=READY_MS)


def _admin_ready(page: Page, cast: Cast) -> None:
    expect(page.get_by_test_id("figure-row").first).to_be_visible(timeout=READY_MS)
    expect(page.get_by_test_id("check-result").first).to_be_visible(timeout=READY_MS)
    expect(page.get_by_test_id("scheduled-run").first).to_be_visible(timeout=READY_MS)


def _admin_members_ready(page: Page, cast: Cast) -> None:
    expect(page.get_by_test_id("admin-members")).to_contain_text(
        cast.member_email, timeout=READY_MS
    )


def _admin_member_ready(page: Page, cast: Cast) -> None:
    expect(page.get_by_test_id("member-email")).to_have_text(cast.member_email, timeout=READY_MS)
    expect(page.get_by_test_id("member-order-row").first).to_be_visible(timeout=READY_MS)


# Every registered route, how to reach it and when it is ready. Keys are the app's routes.
PAGES: dict[str, PageVisit] = {
    "/sign-in": PageVisit("visitor", lambda c: "/sign-in", _visible("sso-button")),
    "/sign-up": PageVisit("visitor", lambda c: "/sign-up", _fields("display_name", "password")),
    "/forgot-password": PageVisit("visitor", lambda c: "/forgot-password", _fields("email")),
    "/reset-password": PageVisit(
        "visitor", lambda c: "/reset-password?token=abc", _fields("password")
    ),
    "/": PageVisit("member", lambda c: "/", _overview_ready),
    "/credits": PageVisit("member", lambda c: "/credits", _visible("history-row")),
    "/create": PageVisit("member", lambda c: "/create", _visible("draft-row")),
    "/review/[generation_id]": PageVisit(
        "member", lambda c: f"/review/{c.generation_id}", _visible("variant-card")
    ),
    "/jobs": PageVisit("member", lambda c: "/jobs", _visible("job-row")),
    "/library": PageVisit("member", lambda c: "/library", _visible("library-item")),
    # Holdings with a failed refresh after them: the grid and the failure note.
    "/holdings": PageVisit("member", lambda c: "/holdings", _visible("holdings-failure")),
    # Back from a canceled Checkout: the page shows its notice too.
    "/billing": PageVisit("member", lambda c: "/billing?checkout=canceled", _billing_ready),
    "/billing/success": PageVisit(
        "member", lambda c: f"/billing/success?session_id={c.checkout_session_id}", _success_ready
    ),
    "/billing/orders": PageVisit("member", lambda c: "/billing/orders", _orders_ready),
    "/billing/orders/[order_id]": PageVisit(
        "member", lambda c: f"/billing/orders/{c.order_id}", _visible("order-detail")
    ),
    "/profile": PageVisit("member", lambda c: "/profile", _profile_ready),
    "/admin": PageVisit("admin", lambda c: "/admin", _admin_ready),
    "/admin/members": PageVisit("admin", lambda c: "/admin/members", _admin_members_ready),
    "/admin/members/[member_id]": PageVisit(
        "admin", lambda c: f"/admin/members/{c.member_id}", _admin_member_ready
    ),
    "/admin/stripe-events": PageVisit(
        "admin", lambda c: "/admin/stripe-events", _visible("event-row")
    ),
    "/admin/jobs": PageVisit("admin", lambda c: "/admin/jobs", _visible("jobs-queued")),
    "/admin/audit": PageVisit("admin", lambda c: "/admin/audit", _visible("audit-row")),
    "/admin/holdings": PageVisit("admin", lambda c: "/admin/holdings", _visible("collection-row")),
}


def registered_routes() -> set[str]:
    """The page routes the app registers (Reflex names the root page `index`)."""
    from dashboard_app.dashboard_app import app as reflex_app

    # Reflex keeps pages added with add_page here until it compiles them.
    return {"/" if route == "index" else f"/{route}" for route in reflex_app._unevaluated_pages}


def test_every_registered_page_is_checked() -> None:
    routes = registered_routes()
    assert routes, "found no registered pages"
    unchecked, gone = routes - PAGES.keys(), PAGES.keys() - routes
    assert not unchecked, (
        f"pages without an accessibility check: {sorted(unchecked)}; add them to PAGES in "
        f"{Path(__file__).name}"
    )
    assert not gone, f"PAGES lists routes the app does not register: {sorted(gone)}"


@pytest.fixture(scope="module")
def cast(app) -> Cast:
    member = create_member(app.engine, display_name="Accessible Member", credits_granted=40)
    admin = create_member(app.engine, display_name="Accessible Admin", role="admin")
    session_id = paid_checkout(app.engine, app.stripe.gateway(), member.id)

    def paid_order() -> int | None:
        with session_scope(app.engine) as session:
            order = session.exec(select(Order).where(Order.user_id == member.id)).first()
            return order.id if order is not None and order.status == "paid" else None

    # Stripe's webhook fulfils the order in the app.
    wait_for(lambda: paid_order() is not None, timeout=30, what="the member's order to be paid")
    # One order in each other status, so that every status badge is checked.
    with session_scope(app.engine) as session:
        for status in ("pending", "failed", "refunded", "partially_refunded", "disputed"):
            session.add(
                Order(
                    user_id=member.id,
                    kind="pack",
                    status=status,
                    product_code="starter",
                    amount_total=900,
                    items=[{"name": "Starter pack", "quantity": 1, "amount": 900}],
                    refreshed_at=utcnow(),
                )
            )
    # A delivered job with its result saved, another that failed, and a draft: what Create,
    # Review, Jobs, Library and the overview show.
    generation_id, _, _ = delivered_result(app.engine, member.id, title="Accessible reel")
    with session_scope(app.engine) as session:
        session.add(
            Generation(
                user_id=member.id,
                idempotency_key=f"{member.id}:failed-job",
                status="failed",
                title="A failed job",
                platform="tiktok",
                preset="neon",
                error="The renderer refused this topic.",
            )
        )
        drafts.save_draft(
            session=session, user_id=member.id, catalog=get_catalog(), topic="Half an idea"
        )
    synced_holdings(
        app.engine,
        member.id,
        "0x" + "5a" * 20,
        ("Calm apes", "Ape one"),
        ("Quiet punks", "Punk two"),
        failure="The marketplace did not answer after 4 attempts (HTTP 500)",
    )
    return Cast(member.email, admin.email, paid_order(), session_id, generation_id, member.id)


def axe_violations(page: Page) -> list[dict]:
    """Inject axe-core and run every rule on the whole page."""
    assert AXE_SCRIPT.exists(), f"{AXE_SCRIPT} is missing: run `make install-test`"
    page.add_script_tag(path=str(AXE_SCRIPT))
    return page.evaluate(
        """async () => {
            const results = await axe.run(document, {resultTypes: ["violations"]});
            return results.violations.map((v) => ({
                id: v.id,
                impact: v.impact,
                help: v.help,
                nodes: v.nodes.map((n) => ({target: n.target, html: n.html})),
            }));
        }"""
    )


def describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            target = " >> ".join(
                " ".join(part) if isinstance(part, list) else part for part in node["target"]
            )
            lines.append(f"    {target}   {node['html'][:160]}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def newcomer(app) -> str:
    """A member with an unconfirmed email, a low balance and a subscription payment that
    failed: the warnings every page and the billing page show."""
    member = create_member(app.engine, display_name="New Member", credits_granted=5)
    with session_scope(app.engine) as session:
        sync_plans(session=session, catalog=get_catalog())
        session.get(User, member.id).email_verified_at = None
        session.add(
            Subscription(
                user_id=member.id,
                plan_code="pro",
                status="past_due",
                current_period_end=utcnow() + timedelta(days=20),
            )
        )
    return member.email


# Pages again, showing their notices and warnings instead of their usual content.
WARNINGS = {
    "/sign-in?error=credentials&notice=password_reset": ("visitor", ("auth-error", "auth-notice")),
    "/?notice=verify_sent": ("newcomer", ("page-notice", "unverified-banner", "low-balance")),
    "/billing": ("newcomer", ("past-due", "unverified-banner")),
}


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("path", sorted(WARNINGS))
def test_notices_and_warnings_have_no_serious_accessibility_violations(
    browser, app, newcomer: str, path: str, theme: str
) -> None:
    who, testids = WARNINGS[path]
    with themed_page(browser, app, theme) as page:
        if who == "newcomer":
            sign_in(page, newcomer, DEFAULT_PASSWORD)
            expect(page.get_by_test_id("header-credits")).to_be_visible(timeout=READY_MS)
        page.goto(path)
        for testid in testids:
            expect(page.get_by_test_id(testid)).to_be_visible(timeout=READY_MS)
        check_page(page, theme, f"{path} ({who})")


@contextmanager
def themed_page(browser, app, theme: str, **options) -> Iterator[Page]:
    """A fresh browser (no cookies) that prefers `theme`, with motion reduced."""
    context = browser.new_context(
        base_url=app.base_url, color_scheme=theme, reduced_motion="reduce", **options
    )
    context.set_default_timeout(20_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in_as(page: Page, cast: Cast, who: str) -> None:
    if who == "visitor":
        return
    sign_in(page, cast.member_email if who == "member" else cast.admin_email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("header-credits")).to_be_visible(timeout=READY_MS)


def check_page(page: Page, theme: str, where: str) -> None:
    """Once no spinner is left and the theme is applied: no critical or serious violation,
    and a main landmark."""
    expect(page.locator(".rt-Spinner")).to_have_count(0, timeout=READY_MS)
    expect(page.locator("html")).to_have_class(re.compile(rf"\b{theme}\b"), timeout=READY_MS)
    violations = axe_violations(page)
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, (
        f"axe-core found {len(blocking)} critical or serious violation(s) on {where}, "
        f"{theme} theme:\n{describe(blocking)}"
    )
    missing_main = [v for v in violations if v["id"] == "landmark-one-main"]
    assert not missing_main, f"{where} ({theme}) has no main landmark:\n{describe(missing_main)}"


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("route", sorted(PAGES))
def test_page_has_no_serious_accessibility_violations(
    browser, app, cast: Cast, route: str, theme: str
) -> None:
    visit = PAGES[route]
    with themed_page(browser, app, theme) as page:
        sign_in_as(page, cast, visit.who)
        page.goto(visit.path(cast))
        visit.ready(page, cast)  # the page's data is in
        check_page(page, theme, f"{route} ({visit.who})")


@pytest.mark.parametrize("theme", THEMES)
def test_an_admin_confirmation_dialog_with_its_error_has_no_serious_violations(
    browser, app, cast: Cast, theme: str
) -> None:
    with themed_page(browser, app, theme) as page:
        sign_in_as(page, cast, "admin")
        page.goto(f"/admin/members/{cast.member_id}")
        _admin_member_ready(page, cast)
        page.get_by_test_id("action-grant").click()
        dialog = page.get_by_role("dialog")
        dialog.locator("#amount-field").fill("-1")
        dialog.locator("#reason-field").fill("Checking the dialog")
        page.get_by_test_id("confirm-grant").click()
        expect(page.get_by_test_id("action-error")).to_be_visible(timeout=READY_MS)
        check_page(page, theme, "the grant dialog with an error (admin)")


@pytest.mark.parametrize("theme", THEMES)
def test_the_phone_menu_has_no_serious_accessibility_violations(
    browser, app, cast: Cast, theme: str
) -> None:
    with themed_page(browser, app, theme, viewport={"width": 390, "height": 844}) as page:
        sign_in_as(page, cast, "member")
        page.get_by_role("button", name="Open menu").click()
        expect(page.get_by_role("dialog").get_by_test_id("nav-profile")).to_be_visible(
            timeout=READY_MS
        )
        check_page(page, theme, "the phone menu (member)")
