"""Every admin event handler, called directly over the websocket with real arguments (a real
member, amounts, order, Stripe event and job), by someone who is not an admin now: anonymous, a
member, a suspended admin and a demoted admin. Each call is refused, not one row of any table
changes (the whole database is compared), and each attempt is in the audit log. The control:
an admin's own calls with the same arguments do change things.

And a tab an admin used, hydrated afterwards for a member or for nobody, carries no admin
data."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, select

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, credits
from dashboard_app.models import AuditEntry, CreditEntry, StripeEvent, User
from dashboard_app.web.pages.admin import ADMIN_STATES
from dashboard_app.web.state.payloads import BAD_PAYLOAD
from tests.factories import create_member
from tests.support.servers import wait_for
from tests.support.tab import sign_in_cookie, talk_now
from tests.web.test_event_security import World, make_world, our_handlers, recipe_for

# What a background process may touch while the sweep runs, and the log the sweep adds to.
IGNORED_COLUMNS = {("user_sessions", "last_seen_at")}
AUDIT = "audit_log"


ADMIN_DEFAULTS = {
    f"{state.get_full_name()}.{name}_rx_state_": field.default_value()
    for state in ADMIN_STATES
    for name, field in state.__fields__.items()
    if field._owner is state and not name.startswith("_")
}


def admin_handlers() -> dict[str, str]:
    return {
        name: event
        for name, event in our_handlers().items()
        if name.startswith("Admin") and not name.endswith(".setvar")
    }


def admin_calls(world) -> list[tuple[str, object, str]]:
    return [
        (event, recipe_for(name).payload(world), recipe_for(name).path(world))
        for name, event in sorted(admin_handlers().items())
    ]


def database(engine) -> dict[str, list]:
    """Every row of every table but the audit log, as plain values."""
    found = {}
    with session_scope(engine) as session:
        for table in SQLModel.metadata.sorted_tables:
            if table.name == AUDIT:
                continue
            columns = [c for c in table.columns if (table.name, c.name) not in IGNORED_COLUMNS]
            rows = session.exec(sa_select(*columns)).all()  # type: ignore[call-overload]
            found[table.name] = sorted((tuple(map(str, row)) for row in rows), key=str)
    return found


def refusals_since(engine, last_id: int) -> list[AuditEntry]:
    with session_scope(engine) as session:
        return list(
            session.exec(select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id))
        )


def last_audit_id(engine) -> int:
    with session_scope(engine) as session:
        return max(session.exec(select(AuditEntry.id)).all() or [0])


def stripe_quiet(app) -> None:
    """Wait until Stripe's deliveries for the world have landed and been processed: no event
    waiting, and no new one for two seconds (localstripe sends some of its events late)."""
    seen: dict[str, object] = {}

    def quiet() -> bool:
        with session_scope(app.engine) as session:
            rows = session.exec(select(StripeEvent.id, StripeEvent.status)).all()
        state = (len(rows), all(status in ("processed", "ignored") for _, status in rows))
        now = time.monotonic()
        if seen.get("state") != state:
            seen.update(state=state, since=now)
        return state[1] and now - seen["since"] >= 2  # type: ignore[operator]

    wait_for(quiet, timeout=60, what="Stripe's deliveries to settle")


@pytest.fixture
def world(app) -> World:
    found = make_world(app)
    stripe_quiet(app)
    return found


@pytest.fixture
def outsiders(app) -> dict[str, tuple[str | None, int | None]]:
    """A cookie (or none) and the user id for each kind of caller who is not an admin now."""
    first_admin = create_member(app.engine, role="admin")
    member = create_member(app.engine, display_name="Plain Member")
    suspended = create_member(app.engine, role="admin", display_name="Gone Admin")
    demoted = create_member(app.engine, role="admin", display_name="Former Admin")
    cookies = {who.id: sign_in_cookie(app.base_url, who.email) for who in (suspended, demoted)}
    with session_scope(app.engine) as session:
        accounts.suspend_member(
            session=session,
            user=session.get(User, suspended.id),
            reason="Left the company",
            actor_user_id=first_admin.id,
        )
        accounts.set_role(
            session=session,
            user=session.get(User, demoted.id),
            role="member",
            actor_user_id=first_admin.id,
        )
    return {
        "anonymous": (None, None),
        "member": (sign_in_cookie(app.base_url, member.email), member.id),
        "suspended admin": (cookies[suspended.id], None),  # suspension ended the session
        "demoted admin": (cookies[demoted.id], demoted.id),
    }


@pytest.mark.parametrize("who", ["anonymous", "member", "suspended admin", "demoted admin"])
def test_every_admin_handler_is_refused_changes_nothing_and_is_audited(
    app, world, outsiders, who
) -> None:
    cookie, user_id = outsiders[who]
    handlers = admin_handlers()
    assert len(handlers) >= 40  # the sweep covers the whole panel
    before, start = database(app.engine), last_audit_id(app.engine)
    replies = talk_now(app.base_url, cookie=cookie, calls=admin_calls(world))
    assert database(app.engine) == before
    entries = refusals_since(app.engine, start)
    assert {e.action for e in entries} == {"admin.refused"}
    attempted = {e.after["attempted"] for e in entries}
    assert attempted == set(handlers), sorted(set(handlers) - attempted)
    assert {e.actor_user_id for e in entries} == {user_id}
    text = replies.text()
    assert world.victim.email not in text and "Victoria" not in text


def test_the_same_calls_from_an_admin_do_act(app, world) -> None:
    """The control: the recipes are real, so the refusals above are refusals."""
    actor = create_member(app.engine, role="admin")
    cookie = sign_in_cookie(app.base_url, actor.email)
    member_state = next(e for n, e in admin_handlers().items() if n == "AdminMemberState.grant")
    recipe = recipe_for("AdminMemberState.grant")
    with session_scope(app.engine) as session:
        before = credits.get_balances(session=session, user_id=world.victim.id).available
    replies = talk_now(
        app.base_url,
        cookie=cookie,
        calls=[(member_state, recipe.payload(world), recipe.path(world))] * 2,  # double click
    )
    with session_scope(app.engine) as session:
        after = credits.get_balances(session=session, user_id=world.victim.id).available
        granted = session.exec(
            select(CreditEntry).where(
                CreditEntry.user_id == world.victim.id, CreditEntry.actor_user_id == actor.id
            )
        ).all()
    assert after == before + 500 and len(granted) == 1
    assert "500 credits granted" in replies.text(), replies.text()[:6000]


def test_a_tab_an_admin_used_carries_no_admin_data_for_a_member_or_nobody(app, world) -> None:
    actor = create_member(app.engine, role="admin")
    member = create_member(app.engine, display_name="Next Member")
    token = "admin-tab-then-member-0001"
    pages = [
        (name, event, recipe_for(name).path(world))
        for name, event in sorted(admin_handlers().items())
        if name.endswith(".load")
    ]
    admin_view = talk_now(
        app.base_url,
        token=token,
        cookie=sign_in_cookie(app.base_url, actor.email),
        calls=[(event, {}, path) for _name, event, path in pages],
    )
    # The control: the admin's tab did carry the victim's data.
    assert world.victim.email in admin_view.text()
    for cookie in (sign_in_cookie(app.base_url, member.email), None):
        later = talk_now(app.base_url, token=token, cookie=cookie, calls=[])
        assert later.hydrated()
        text = later.text()
        assert world.victim.email not in text and actor.email not in text
        changed = {
            var: value
            for var, value in later.sent_vars().items()
            if var in ADMIN_DEFAULTS and value != ADMIN_DEFAULTS[var]
        }
        assert changed == {}, json.dumps(changed)[:2000]


@pytest.mark.parametrize("handler", ["AdminEventsState.show_event", "AdminJobsState.show_job"])
def test_an_id_that_is_digits_but_not_a_number_gets_the_one_message(app, handler) -> None:
    """`"²".isdigit()` holds but `int("²")` raises; twenty digits overflow the database's ids."""
    actor = create_member(app.engine, role="admin")
    start = len(app.server.log_path.read_text(errors="replace"))
    event = admin_handlers()[handler]
    name = "event_id" if handler.endswith("show_event") else "job_id"
    path = "/admin/stripe-events" if name == "event_id" else "/admin/jobs"
    shapes = ["²", "1٣", "9" * 20]
    replies = talk_now(
        app.base_url,
        cookie=sign_in_cookie(app.base_url, actor.email),
        calls=[(event, {name: shape}, path) for shape in shapes],
        until=lambda r: r.text().count(BAD_PAYLOAD) >= len(shapes),
        timeout=20,
    )
    assert replies.text().count(BAD_PAYLOAD) == len(shapes)
    assert "Traceback" not in app.server.log_path.read_text(errors="replace")[start:]
