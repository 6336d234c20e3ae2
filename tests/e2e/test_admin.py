"""The admin panel in the browser: an admin tab acts, a member's own open tab shows the result
(balance, plan, suspension, sign-out). Each action is first tried with bad input, which gets a
clear message and changes nothing. Several actions share one admin tab and one member tab."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.domain import admin as admin_domain
from dashboard_app.domain import credits, stripe_events
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.models import CreditEntry, Generation, Order, StripeEvent, User
from dashboard_app.models.base import utcnow
from tests.e2e.helpers import expect_path, sign_in
from tests.factories import DEFAULT_PASSWORD, count_rows, create_member
from tests.support.servers import wait_for
from tests.support.stripe import make_event, paid_checkout
from tests.web.test_event_security import failed_job

pytestmark = pytest.mark.e2e
LIVE_MS = 5_000  # the member's tab polls each second
CATALOG = get_catalog()


def member_tab(browser, app, email: str) -> Page:
    context = browser.new_context(base_url=app.base_url)
    context.set_default_timeout(20_000)
    tab = context.new_page()
    sign_in(tab, email, DEFAULT_PASSWORD)
    expect(tab.get_by_test_id("header-credits")).to_be_visible()
    return tab


def open_member(page: Page, member: User) -> None:
    page.goto(f"/admin/members/{member.id}")
    expect(page.get_by_test_id("member-email")).to_have_text(member.email)


def act(page: Page, name: str, reason: str, **fields: str) -> None:
    """Open the action's dialog, fill it in and confirm."""
    if not page.get_by_test_id(f"confirm-{name}").is_visible():
        page.get_by_test_id(f"action-{name}").click()
    dialog = page.get_by_role("dialog")
    for field, value in fields.items():
        box = dialog.locator(f"#{field}-field")
        if box.evaluate("e => e.tagName") == "SELECT":
            box.select_option(value)
        else:
            box.fill(value)
    dialog.locator("#reason-field").fill(reason)
    page.get_by_test_id(f"confirm-{name}").click()


def refused(page: Page, message: str) -> None:
    expect(page.get_by_test_id("action-error")).to_contain_text(message)


def done(page: Page, message: str) -> None:
    expect(page.get_by_text(re.compile(message)).first).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)


def available(app, user_id: int) -> int:
    with session_scope(app.engine) as session:
        return credits.get_balances(session=session, user_id=user_id).available


def test_credits_boost_and_comped_plan_reach_the_members_open_tab(page: Page, browser, app):
    admin = create_member(app.engine, role="admin", display_name="Ada Admin")
    member = create_member(app.engine, display_name="Mo Member", credits_granted=40)
    theirs = member_tab(browser, app, member.email)
    expect(theirs.get_by_test_id("balance-available")).to_have_text("40")

    sign_in(page, admin.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("nav-admin")).to_be_visible()
    page.goto("/admin")
    expect(page.get_by_test_id("admin-figures")).to_contain_text("Credits granted")
    page.get_by_test_id("admin-tab-members").click()
    page.fill("#filter-text", member.email)
    page.get_by_test_id("member-search").click()
    expect(page.get_by_test_id("member-row")).to_have_count(1)
    page.get_by_role("link", name=member.email).click()
    expect(page.get_by_test_id("member-email")).to_have_text(member.email)

    # Grant: bad amounts and a blank reason first; each says why and changes nothing.
    for amount, message in (
        ("-5", "positive whole number"),
        ("0", "positive whole number"),
        ("2.5", "whole number"),
        ("99999999999", "At most 10,000,000"),
    ):
        act(page, "grant", "Goodwill", amount=amount)
        refused(page, message)
    act(page, "grant", "   ", amount="250")
    refused(page, "Give a reason")
    assert available(app, member.id) == 40
    act(page, "grant", "Goodwill after the outage", amount="250")
    done(page, "250 credits granted")
    expect(theirs.get_by_test_id("header-credits")).to_have_text("290", timeout=LIVE_MS)
    expect(theirs.get_by_test_id("balance-available")).to_have_text("290", timeout=LIVE_MS)
    expect(page.get_by_test_id("member-available")).to_have_text("290")

    # Revoke: never more than is available.
    act(page, "revoke", "Granted twice", amount="1000")
    refused(page, "only 290 are available")
    act(page, "revoke", "Granted twice", amount="90")
    done(page, "90 credits revoked")
    expect(theirs.get_by_test_id("header-credits")).to_have_text("200", timeout=LIVE_MS)
    with session_scope(app.engine) as session:
        kinds = session.exec(select(CreditEntry.kind).where(CreditEntry.user_id == member.id)).all()
    assert sorted(kinds) == ["adjustment", "grant", "grant"]  # nothing from the refusals

    # A boost and a comped plan: the member sees them on their overview.
    act(page, "boost", "Launch week", boost_code="pro_boost")
    done(page, "Pro Boost granted")
    act(page, "comp", "Partner account", plan_code="pro", days="many")
    refused(page, "whole number")
    act(page, "comp", "Partner account", plan_code="pro", days="400")
    refused(page, "1 to 366 days")
    act(page, "comp", "Partner account", plan_code="pro", days="30")
    done(page, "Pro comped until")
    expect(page.get_by_test_id("member-plan")).to_have_text("Pro")
    theirs.reload()
    expect(theirs.get_by_test_id("plan-name")).to_have_text("Pro")
    expect(theirs.get_by_test_id("active-boost")).to_contain_text("Pro Boost")
    theirs.context.close()


def test_suspension_sessions_and_roles_reach_the_members_open_tab(page: Page, browser, app):
    admin = create_member(app.engine, role="admin")
    member = create_member(app.engine, display_name="Sam Suspect", credits_granted=7)
    theirs = member_tab(browser, app, member.email)
    sign_in(page, admin.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("nav-admin")).to_be_visible()
    open_member(page, member)

    act(page, "suspend", "  ")
    refused(page, "Give a reason")
    act(page, "suspend", "Chargeback fraud under review")
    done(page, "Suspended")
    expect_path(theirs, "/sign-in")  # their open tab: the session ended
    sign_in(theirs, member.email, DEFAULT_PASSWORD)
    expect(theirs.get_by_test_id("auth-error")).to_contain_text("Chargeback fraud under review")
    expect(page.get_by_test_id("member-status")).to_have_text("suspended")

    act(page, "reinstate", "The bank confirmed the payment")
    done(page, "Reinstated")
    sign_in(theirs, member.email, DEFAULT_PASSWORD)
    expect(theirs.get_by_test_id("header-credits")).to_have_text("7")

    act(page, "end_sessions", "Lost their phone")
    done(page, "session\\(s\\) ended")
    expect_path(theirs, "/sign-in")
    sign_in(theirs, member.email, DEFAULT_PASSWORD)
    expect(theirs.get_by_test_id("header-credits")).to_have_text("7")
    expect(theirs.get_by_test_id("nav-admin")).to_have_count(0)

    # Promote: they see the Admin link; demote: their open admin tab loses it at the next tick.
    act(page, "change_role", "New support lead", role="admin")
    done(page, "Now an admin")
    theirs.reload()
    theirs.get_by_test_id("nav-admin").click()
    expect(theirs.get_by_test_id("admin-figures")).to_be_visible()
    act(page, "change_role", "Role no longer needed", role="member")
    done(page, "Admin role removed")
    expect_path(theirs, "/")
    expect(theirs.get_by_test_id("nav-admin")).to_have_count(0)
    expect(theirs.get_by_text("The admin panel is for admins only.")).to_be_visible()

    # Never yourself by accident: an admin cannot remove their own role (nor suspend themself).
    open_member(page, admin)
    act(page, "change_role", "Stepping down", role="member")
    refused(page, "from yourself")
    page.keyboard.press("Escape")
    act(page, "suspend", "Holiday")
    refused(page, "suspend yourself")
    with session_scope(app.engine) as session:
        assert session.get(User, admin.id).role == "admin"
        assert session.get(User, admin.id).status == "active"

    # A member deleted while their page is open: nothing can be done to the account.
    gone = create_member(app.engine, credits_granted=3)
    page.keyboard.press("Escape")
    open_member(page, gone)
    with session_scope(app.engine) as session:
        session.get(User, gone.id).deleted_at = utcnow()
    act(page, "grant", "Too late", amount="5")
    refused(page, "was deleted")
    assert available(app, gone.id) == 3
    theirs.context.close()


def test_refund_replay_flag_and_jobs_reach_the_members_open_tab(page: Page, browser, app):
    admin = create_member(app.engine, role="admin")
    member = create_member(app.engine, display_name="Pat Payer")
    gateway = app.stripe.gateway()
    paid_checkout(app.engine, gateway, member.id)
    wait_for(
        lambda: (
            count_rows(app.engine, Order, Order.user_id == member.id, Order.status == "paid") == 1
        ),
        timeout=30,
        what="the pack's order to be paid",
    )
    starter = CATALOG.packs["starter"]
    theirs = member_tab(browser, app, member.email)
    expect(theirs.get_by_test_id("header-credits")).to_have_text(str(starter.credits))
    sign_in(page, admin.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("nav-admin")).to_be_visible()
    open_member(page, member)

    # Refund: over what was paid is refused before Stripe is asked; half goes through Stripe,
    # and the clawback follows from Stripe's refund event, as for any refund.
    with session_scope(app.engine) as session:
        order = session.exec(select(Order).where(Order.user_id == member.id)).one()
    act(page, "refund", "Asked within 14 days", order_id=str(order.id), amount="100.00")
    refused(page, "can still be refunded")
    act(page, "refund", "Asked within 14 days", order_id=str(order.id), amount="4.505")
    refused(page, "two decimals")
    assert gateway.charge(order.stripe_charge_id)["amount_refunded"] == 0
    act(page, "refund", "Asked within 14 days", order_id=str(order.id), amount="4.50")
    done(page, "Refund of \\$4.50 sent to Stripe")
    left = starter.credits - starter.credits * 450 // starter.price_cents
    expect(theirs.get_by_test_id("header-credits")).to_have_text(str(left), timeout=LIVE_MS * 3)
    expect(page.get_by_test_id("member-available")).to_have_text(f"{left:,}", timeout=LIVE_MS)

    # A billing flag, cleared with a note.
    with session_scope(app.engine) as session:
        session.get(User, member.id).billing_flag = "Payment of order #1 disputed (fraudulent)"
    page.reload()
    expect(page.get_by_test_id("member-flag")).to_contain_text("disputed")
    act(page, "clear_flag", "Dispute withdrawn by the bank")
    done(page, "Billing flag cleared")
    expect(page.get_by_test_id("member-flag")).to_have_count(0)

    # A webhook that failed: replayed, it grants what the payment bought, once.
    webhook = app.url("/api/stripe/webhook")
    app.stripe.send_webhooks_to(webhook, only=["test.deliveries_paused"])
    try:
        session_id = paid_checkout(app.engine, gateway, member.id)
    finally:
        app.stripe.send_webhooks_to(webhook)
    event = make_event("checkout.session.completed", gateway.checkout_session(session_id))
    event = json.loads(json.dumps(event, default=str))  # as it arrives: JSON
    with session_scope(app.engine) as session:
        stored = stripe_events.record_event(session=session, event=event)
        row = session.get(StripeEvent, stored.id)
        row.status, row.attempts, row.last_error = "failed", 3, "PaymentsUnavailable: timeout"
        row.next_attempt_at = utcnow().replace(year=utcnow().year + 1)
    page.goto("/admin/stripe-events")
    page.select_option("#event-status", "failed")
    page.get_by_test_id("events-filter").click()
    expect(page.get_by_test_id("event-row").first).to_contain_text("timeout")
    page.get_by_test_id("event-row").first.get_by_role("button").click()
    expect(page.get_by_test_id("event-detail")).to_contain_text(event["id"])
    act(page, "replay", "  ")
    refused(page, "Give a reason")
    act(page, "replay", "Stripe was down")
    done(page, "processed")
    with_pack = left + starter.credits
    expect(theirs.get_by_test_id("header-credits")).to_have_text(str(with_pack), timeout=LIVE_MS)
    act(page, "force", "Make sure")
    done(page, "processed")
    assert available(app, member.id) == with_pack  # forced again: nothing granted twice

    # Jobs: a failed one retried (its cost held again), a waiting one cancelled (given back).
    # On a comped Pro plan, the two may be in flight at once.
    with session_scope(app.engine) as session:
        admin_domain.comp_plan(
            session=session,
            actor_user_id=admin.id,
            member_id=member.id,
            plan_code="pro",
            days=30,
            reason="Room for two jobs",
            form_token="e2e-comp-form-000001",
            catalog=CATALOG,
        )
    cost = CATALOG.presets["neon"].credits_per_variant
    failed = failed_job(app.engine, member.id)
    page.goto("/admin/jobs")
    page.select_option("#job-status", "failed")
    page.get_by_test_id("jobs-filter").click()
    job_button(page, failed).click()
    expect(page.get_by_test_id("job-detail")).to_contain_text("Renderer crashed")
    act(page, "retry", "Renderer fixed")
    done(page, "queued again")
    expect(theirs.get_by_test_id("header-credits")).to_have_text(
        str(with_pack - cost), timeout=LIVE_MS
    )
    wait_for(
        lambda: (
            count_rows(app.engine, Generation, Generation.id == failed, Generation.attempt == 2)
            == 1
        ),
        timeout=10,
        what="the retry's second attempt",
    )
    with session_scope(app.engine) as session:
        waiting = _queued_job(session, member.id)
    after_hold = available(app, member.id)
    page.goto("/admin/jobs")
    job_button(page, waiting).click()
    act(page, "cancel", "Member asked")
    done(page, "cancelled")
    expect(theirs.get_by_test_id("header-credits")).to_have_text(
        str(after_hold + cost), timeout=LIVE_MS
    )
    theirs.context.close()


def job_button(page: Page, job_id: int):  # type: ignore[no-untyped-def]
    return page.get_by_test_id("admin-jobs").get_by_role("button", name=re.compile(rf"^#{job_id} "))


def _queued_job(session, member_id: int) -> int:
    """A job of the member that is queued and not yet handed to the engine (housekeeping would
    hand it over only after half a minute)."""
    from dashboard_app.domain.generation import submit

    return submit.submit_generation(
        session=session,
        user_id=member_id,
        catalog=CATALOG,
        idempotency_key=f"admin-e2e-wait-{member_id}",
        topic="Slow rivers",
        platform="tiktok",
        preset="neon",
        format="video",
        variants=1,
    ).generation.id


def test_the_audit_log_filters_and_exports_as_csv_for_admins_only(page: Page, browser, app):
    admin = create_member(app.engine, role="admin")
    member = create_member(app.engine, display_name="Audited Member", credits_granted=5)
    sign_in(page, admin.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("nav-admin")).to_be_visible()
    open_member(page, member)
    act(page, "grant", "For the audit", amount="12")
    done(page, "12 credits granted")
    page.goto("/admin/audit")
    page.fill("#audit-member", member.email)
    page.fill("#audit-since", "yesterday")
    page.get_by_test_id("audit-filter").click()
    expect(page.get_by_test_id("audit-error")).to_contain_text("YYYY-MM-DD")
    page.fill("#audit-since", "")
    page.fill("#audit-action", "admin.")
    page.get_by_test_id("audit-filter").click()
    expect(page.get_by_test_id("audit-row")).to_have_count(1)
    expect(page.get_by_test_id("audit-row")).to_contain_text("For the audit")
    with page.expect_download() as download:
        page.get_by_test_id("audit-csv").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert "admin.credits_granted" in text and member.email in text and "user.created" not in text
    # The same link for a member, or nobody: not found, and the attempt is audited.
    url = download.value.url
    theirs = member_tab(browser, app, member.email)
    assert theirs.request.get(url).status == 404
    assert browser.new_context(base_url=app.base_url).request.get(url).status == 404
    with session_scope(app.engine) as session:
        from dashboard_app.models import AuditEntry

        refusals = session.exec(
            select(AuditEntry).where(
                AuditEntry.action == "admin.refused", AuditEntry.actor_user_id == member.id
            )
        ).all()
    assert [r.after["attempted"] for r in refusals] == ["audit_csv"]
    theirs.context.close()


def test_the_overview_shows_each_scheduled_jobs_last_run(page: Page, app):
    from datetime import timedelta

    import httpx

    from dashboard_app.domain.schedules import WorkContext, run_job
    from dashboard_app.models import SignInAttempt

    with session_scope(app.engine) as session:
        session.add(SignInAttempt(account_key="e" * 64, created_at=utcnow() - timedelta(days=90)))

    def run(job: str, gateway=None) -> None:
        context = WorkContext(engine=app.engine, catalog=CATALOG, gateway=gateway, now=utcnow())
        run_job(engine=app.engine, job=job, context=context, run_key=f"e2e-{job}", source="cli")

    run("retention")
    run("stale_orders")  # no gateway given: a failure with its reason
    admin = create_member(app.engine, role="admin")
    sign_in(page, admin.email, DEFAULT_PASSWORD)
    page.goto("/admin")
    rows = page.get_by_test_id("scheduled-run")
    expect(rows).to_have_count(5)
    retention = rows.filter(has_text="Retention of old records")
    expect(retention).to_contain_text("Succeeded")
    expect(retention).to_contain_text("sign in attempts: 1")
    expect(retention).to_contain_text("0 0 1 1 * (UTC)")
    stale = rows.filter(has_text="Stale order refresh")
    expect(stale).to_contain_text("Failed")
    expect(stale).to_contain_text("Stripe is not configured")
    expect(rows.filter(has_text="Credit expiry")).to_contain_text("Never run")
    holdings_refresh = rows.filter(has_text="Holdings refresh")
    expect(holdings_refresh).to_contain_text("Never run")
    expect(holdings_refresh).to_contain_text("0 0 1 1 * (UTC)")

    # The internal endpoint is served by the running app, and refuses a call without its token.
    refused = httpx.post(app.url("/internal/sync/stripe"), json={"since": "2026-01-01T00:00Z"})
    assert refused.status_code == 401
    assert "X-Internal-Token" in refused.json()["error"]


def test_admins_see_which_collections_members_hold(page: Page, app):
    from tests.factories import synced_holdings

    first, second = create_member(app.engine), create_member(app.engine)
    synced_holdings(
        app.engine, first.id, "0x" + "a1" * 20, ("Admin apes", "A1"), ("Admin apes", "A2")
    )
    synced_holdings(
        app.engine, second.id, "0x" + "a2" * 20, ("Admin apes", "B1"), ("Admin owls", "B2")
    )
    member = create_member(app.engine)
    sign_in(page, member.email, DEFAULT_PASSWORD)
    page.goto("/admin/holdings")
    expect_path(page, "/")  # not an admin: sent away
    page.context.clear_cookies()

    admin = create_member(app.engine, role="admin")
    sign_in(page, admin.email, DEFAULT_PASSWORD)
    page.goto("/admin")
    page.get_by_test_id("admin-tab-holdings").click()
    rows = page.get_by_test_id("collection-row")
    expect(rows.filter(has_text="Admin apes")).to_have_text(re.compile(r"Admin apes\s*2\s*3"))
    expect(rows.filter(has_text="Admin owls")).to_have_text(re.compile(r"Admin owls\s*1\s*1"))
