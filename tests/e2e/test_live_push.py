"""Live updates are pushed, not polled: an idle signed-in tab sends no event and costs the
database no query; a change committed by another process (this test, through the domain
services: a ledger entry, a job's status, a session ended) reaches every open tab of that member,
each tab then asking for it with its own cookie."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, credits
from dashboard_app.domain.generation import review
from dashboard_app.web import routes
from tests.e2e.helpers import expect_path, sign_in
from tests.e2e.test_generation import fill_create_form, open_page, submit_and_land_on_review
from tests.factories import DEFAULT_PASSWORD, create_member

pytestmark = pytest.mark.e2e
LIVE_WITHIN_MS = 2000
# The window an idle tab is watched over (today's poll would send 4 or 5 events in it).
IDLE_WINDOW_MS = 4000
PAGE_LOAD_MS = 15_000


class SentEvents:
    """The Reflex events a tab sends over its websocket (socket.io event frames), by name."""

    def __init__(self, page: Page) -> None:
        self.names: list[str] = []
        page.on("websocket", self._watch)

    def _watch(self, socket) -> None:  # type: ignore[no-untyped-def]
        socket.on("framesent", self._sent)

    def _sent(self, payload: str | bytes) -> None:
        text = payload.decode(errors="replace") if isinstance(payload, bytes) else payload
        if text.startswith("42"):  # engine.io message + socket.io event; pings are "2"/"3"
            found = re.search(r'"name":"([^"]+)"', text)
            self.names.append(found.group(1) if found else text[:80])

    def since(self, start: int) -> list[str]:
        return self.names[start:]


def tab_token(page: Page) -> str:
    return page.evaluate("() => window.sessionStorage.getItem('token')")


def statements_of(app, page: Page) -> int:
    """SQL statements the app ran for this tab's events (a counter the app keeps in test runs)."""
    found = httpx.get(app.url(f"{routes.API_TEST_TAB_STATEMENTS}/{tab_token(page)}"))
    found.raise_for_status()
    return found.json()["statements"]


def grant(app, user_id: int, amount: int, reason: str) -> None:
    with session_scope(app.engine) as session:
        credits.grant_credits(
            session=session,
            user_id=user_id,
            amount=amount,
            idempotency_key=f"push:{uuid.uuid4().hex}",
            reason=reason,
        )


def test_an_idle_signed_in_tab_sends_no_event_and_costs_no_query(page: Page, app) -> None:
    member = create_member(app.engine, credits_granted=12)
    events = SentEvents(page)
    sign_in(page, member.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("balance-available")).to_have_text("12", timeout=PAGE_LOAD_MS)
    expect(page.get_by_test_id("meter-used").first).to_be_visible()
    loaded_with = statements_of(app, page)
    assert loaded_with > 0  # the counter counts this tab's page load
    start = len(events.names)

    page.wait_for_timeout(IDLE_WINDOW_MS)  # the window watched, not a wait for a condition

    assert events.since(start) == []
    assert statements_of(app, page) == loaded_with


def test_a_grant_from_another_process_reaches_both_tabs_by_push(page: Page, app) -> None:
    member = create_member(app.engine, credits_granted=30)
    first_events = SentEvents(page)
    sign_in(page, member.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("balance-available")).to_have_text("30", timeout=PAGE_LOAD_MS)
    second = page.context.new_page()
    second_events = SentEvents(second)
    second.goto("/credits")
    expect(second.get_by_test_id("history-row").first).to_contain_text("Test grant")
    first_start, second_start = len(first_events.names), len(second_events.names)
    page.wait_for_timeout(IDLE_WINDOW_MS // 2)
    assert first_events.since(first_start) == second_events.since(second_start) == []

    grant(app, member.id, 25, "Pushed gift")

    expect(page.get_by_test_id("balance-available")).to_have_text("55", timeout=LIVE_WITHIN_MS)
    expect(page.get_by_test_id("header-credits")).to_have_text("55", timeout=LIVE_WITHIN_MS)
    expect(second.get_by_test_id("header-credits")).to_have_text("55", timeout=LIVE_WITHIN_MS)
    expect(second.get_by_test_id("history-row").first).to_contain_text(
        "Pushed gift", timeout=LIVE_WITHIN_MS
    )
    # Each tab asked for the change itself, once, with its own cookie.
    for sent in (first_events.since(first_start), second_events.since(second_start)):
        assert sent and all(name.endswith(".poll_live") for name in sent), sent


def test_a_session_ended_elsewhere_sends_its_tabs_to_sign_in(page: Page, app) -> None:
    member = create_member(app.engine, credits_granted=3)
    events = SentEvents(page)
    sign_in(page, member.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("balance-available")).to_have_text("3", timeout=PAGE_LOAD_MS)
    second = page.context.new_page()
    second.goto("/billing")
    expect(second.get_by_test_id("header-credits")).to_have_text("3", timeout=PAGE_LOAD_MS)
    start = len(events.names)
    page.wait_for_timeout(IDLE_WINDOW_MS // 2)
    assert events.since(start) == []

    with session_scope(app.engine) as session:
        accounts.end_sessions(session=session, user_id=member.id, reason="signed out elsewhere")

    expect(page).to_have_url(re.compile(r"/sign-in/?(\?.*)?$"), timeout=LIVE_WITHIN_MS)
    expect(second).to_have_url(re.compile(r"/sign-in/?(\?.*)?$"), timeout=LIVE_WITHIN_MS)
    expect(page.get_by_test_id("header-credits")).to_have_count(0)


def test_a_job_cancelled_from_another_process_shows_on_its_review_page_by_push(
    page: Page, app
) -> None:
    member = create_member(app.engine, credits_granted=100)
    word = uuid.uuid4().hex[:8]
    sign_in(page, member.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("header-credits")).to_have_text("100", timeout=PAGE_LOAD_MS)
    open_page(page, "/create")
    # The render waits at its gate (never opened): the job stays in flight until cancelled.
    fill_create_form(
        page, topic=f"Held render gate-{word}", title=f"Held {word}", preset="neon", variants=1
    )
    generation_id, _ = submit_and_land_on_review(page)
    expect(page.get_by_test_id("review-status")).to_have_text(
        re.compile("Queued|Rendering"), timeout=PAGE_LOAD_MS
    )
    expect(page.get_by_test_id("header-credits")).not_to_have_text("100")

    with session_scope(app.engine) as session:
        review.cancel_generation(session=session, user_id=member.id, generation_id=generation_id)

    expect(page.get_by_test_id("review-status")).to_have_text("Cancelled", timeout=LIVE_WITHIN_MS)
    expect(page.get_by_test_id("header-credits")).to_have_text("100", timeout=LIVE_WITHIN_MS)
    expect_path(page, f"/review/{generation_id}")


def test_a_push_while_the_member_types_keeps_what_they_typed(page: Page, app) -> None:
    """A change the member did not make (a grant) reaches the profile page while they edit it:
    the header's balance moves, the half-typed form is left alone, and saving saves it."""
    member = create_member(app.engine, display_name="Before Edit", credits_granted=5)
    sign_in(page, member.email, DEFAULT_PASSWORD, start="/sign-in?next=/profile")
    expect(page.locator("#display_name")).to_have_value("Before Edit", timeout=PAGE_LOAD_MS)
    page.fill("#display_name", "Typed Not Saved")
    grant(app, member.id, 7, "a grant while the member types")
    expect(page.get_by_test_id("header-credits")).to_have_text("12", timeout=LIVE_WITHIN_MS)
    expect(page.locator("#display_name")).to_have_value("Typed Not Saved")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("header-member")).to_have_text("Typed Not Saved")
