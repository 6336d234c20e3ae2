"""Every public event handler, called over Reflex's websocket as an attacker would: without a
session, and with a member's session against admin handlers. Nothing private comes back."""

from __future__ import annotations

import asyncio
import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import reflex as rx
import socketio
from sqlmodel import select

import dashboard_app.dashboard_app  # noqa: F401  (registers every page state)
from dashboard_app.web.state.auth import AuthState
from tests.factories import DEFAULT_PASSWORD, count_rows, create_member

HYDRATE = f"{rx.State.get_full_name()}.hydrate"


def our_states() -> list[type[rx.State]]:
    found, todo = [], [rx.State]
    while todo:
        state = todo.pop()
        todo.extend(state.get_substates())
        if state.__module__.startswith("dashboard_app."):
            found.append(state)
    return found


def our_handlers() -> list[str]:
    names = [
        f"{state.get_full_name()}.{name}"
        for state in our_states()
        for name in state.event_handlers
        if not name.startswith("_")
    ]
    # No setter may exist: a client could call it to write any public var.
    assert not [n for n in names if n.rsplit(".", 1)[1].startswith("set_")], names
    assert len(names) >= 6, names  # the pages' load handlers at least
    return sorted(set(names))


def sign_in_cookie(app, email: str) -> str:
    response = httpx.post(
        app.url("/auth/sign-in"), data={"email": email, "password": DEFAULT_PASSWORD}
    )
    return f"dash_session={response.cookies['dash_session']}"


async def call_handlers(base_url: str, cookie: str | None, names: list[str]) -> list[dict]:
    """Emit each event, then hydrate; return every update the server sent."""
    replies: list[dict] = []
    hydrated = asyncio.Event()
    client = socketio.AsyncClient()

    @client.on("event", namespace="/_event")
    async def on_event(data):
        update = json.loads(data) if isinstance(data, str) else data
        replies.append(update)
        if any("is_hydrated_rx_state_" in vars_ for vars_ in update.get("delta", {}).values()):
            hydrated.set()

    headers = {"Cookie": cookie} if cookie else {}
    await client.connect(
        f"{base_url}?token={uuid.uuid4()}",
        socketio_path="/_event",
        namespaces=["/_event"],
        transports=["websocket"],
        headers=headers,
    )
    try:
        router_data = {"pathname": "/admin", "query": {}, "asPath": "/admin"}
        for name in [*names, HYDRATE]:
            await client.emit(
                "event",
                {"name": name, "payload": {}, "router_data": router_data},
                namespace="/_event",
            )
        await asyncio.wait_for(hydrated.wait(), timeout=30)
    finally:
        await client.disconnect()
    return replies


def run_async(coroutine):
    """Run a coroutine on a thread of its own: Playwright's sync API owns this thread's loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def vars_sent(replies: list[dict]) -> dict[str, object]:
    sent: dict[str, object] = {}
    for update in replies:
        for state_name, values in update.get("delta", {}).items():
            for var, value in values.items():
                sent[f"{state_name}.{var}"] = value
    return sent


def signed_in_flag(sent: dict[str, object]) -> object:
    key = f"{AuthState.get_full_name()}.signed_in_rx_state_"
    return sent.get(key)


def test_no_handler_gives_an_anonymous_connection_any_member_data(app) -> None:
    member = create_member(app.engine, credits_granted=4321, display_name="Private Person")
    replies = run_async(call_handlers(app.base_url, None, our_handlers()))
    text = json.dumps(replies)
    assert member.email not in text
    assert "Private Person" not in text
    assert "4321" not in text
    assert signed_in_flag(vars_sent(replies)) is not True


def test_a_member_calling_admin_handlers_gets_no_admin_data(app) -> None:
    other = create_member(app.engine, display_name="Someone Else")
    member = create_member(app.engine, display_name="Curious Member", credits_granted=12)
    cookie = sign_in_cookie(app, member.email)
    replies = run_async(call_handlers(app.base_url, cookie, our_handlers()))
    sent = vars_sent(replies)
    text = json.dumps(replies)
    # The connection is the member's own: their name reaches them...
    assert signed_in_flag(sent) is True
    assert "Curious Member" in text
    # ...but no other member, no admin list, no session or password material.
    assert other.email not in text
    assert "Someone Else" not in text
    assert "$argon2" not in text
    assert cookie.split("=", 1)[1] not in text
    admin_lists = [v for k, v in sent.items() if "recent_members" in k]
    assert all(value == [] for value in admin_lists)


def test_the_attack_harness_can_see_data_when_it_is_sent(app) -> None:
    # The same calls made by an admin do carry the member list: the checks above can fail.
    admin = create_member(app.engine, role="admin")
    member = create_member(app.engine)
    replies = run_async(
        call_handlers(app.base_url, sign_in_cookie(app, admin.email), our_handlers())
    )
    assert member.email in json.dumps(replies)


@pytest.mark.parametrize("cookie", [None, "dash_session=forged-token-value"])
def test_forged_or_missing_cookie_is_anonymous(app, cookie) -> None:
    replies = run_async(call_handlers(app.base_url, cookie, our_handlers()))
    assert signed_in_flag(vars_sent(replies)) is not True


async def call_with_payloads(base_url: str, cookie: str | None, calls: list[tuple[str, dict]]):
    """Emit each (handler, payload), then hydrate; return every update the server sent."""
    replies: list[dict] = []
    hydrated = asyncio.Event()
    client = socketio.AsyncClient()

    @client.on("event", namespace="/_event")
    async def on_event(data):
        update = json.loads(data) if isinstance(data, str) else data
        replies.append(update)
        if any("is_hydrated_rx_state_" in v for v in update.get("delta", {}).values()):
            hydrated.set()

    await client.connect(
        f"{base_url}?token={uuid.uuid4()}",
        socketio_path="/_event",
        namespaces=["/_event"],
        transports=["websocket"],
        headers={"Cookie": cookie} if cookie else {},
    )
    try:
        router_data = {"pathname": "/profile", "query": {}, "asPath": "/profile"}
        for name, payload in [*calls, (HYDRATE, {})]:
            await client.emit(
                "event",
                {"name": name, "payload": payload, "router_data": router_data},
                namespace="/_event",
            )
        await asyncio.wait_for(hydrated.wait(), timeout=30)
    finally:
        await client.disconnect()
    return replies


def profile_attack_calls() -> list[tuple[str, dict]]:
    from dashboard_app.web.pages.profile import ProfileState

    state = ProfileState.get_full_name()
    return [
        (
            f"{state}.save_profile",
            {"form": {"display_name": "Hacked", "theme": "dark", "default_platform": "No default"}},
        ),
        (f"{state}.change_email", {"form": {"new_email": "attacker@example.com"}}),
        (
            f"{state}.change_password",
            {"form": {"current_password": "x", "new_password": "attacker passphrase 1"}},
        ),
        (f"{state}.end_other_sessions", {}),
        (f"{state}.upload_avatar", {"files": []}),
    ]


def snapshot(engine, user_id: int) -> tuple:
    from dashboard_app.db import session_scope
    from dashboard_app.models import Profile, User, UserSession

    with session_scope(engine) as session:
        user, profile = session.get(User, user_id), session.get(Profile, user_id)
        live = session.exec(
            select(UserSession.id).where(
                UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
            )
        ).all()
        return (
            user.email,
            user.password_hash,
            profile.display_name,
            profile.theme,
            profile.avatar_path,
            tuple(sorted(live)),
        )


def test_profile_handlers_called_without_a_session_change_nothing(app) -> None:
    victim = create_member(app.engine, display_name="Victim")
    sign_in_cookie(app, victim.email)  # a live session that must survive
    before = snapshot(app.engine, victim.id)
    replies = run_async(call_with_payloads(app.base_url, None, profile_attack_calls()))
    assert snapshot(app.engine, victim.id) == before
    assert "Victim" not in json.dumps(replies)


def test_profile_handlers_only_ever_touch_the_callers_own_account(app) -> None:
    victim = create_member(app.engine, display_name="Victim Two")
    attacker = create_member(app.engine, display_name="Attacker")
    sign_in_cookie(app, victim.email)
    before = snapshot(app.engine, victim.id)
    cookie = sign_in_cookie(app, attacker.email)
    replies = run_async(call_with_payloads(app.base_url, cookie, profile_attack_calls()))
    assert snapshot(app.engine, victim.id) == before
    assert "Victim Two" not in json.dumps(replies)
    # The calls did run, as the attacker, on the attacker's own profile.
    assert snapshot(app.engine, attacker.id)[2] == "Hacked"


def test_hydrate_for_a_member_carries_no_secret_hash_or_token(app) -> None:
    from dashboard_app.db import session_scope
    from dashboard_app.models import User, UserSession

    member = create_member(app.engine)
    cookie = sign_in_cookie(app, member.email)
    replies = run_async(call_with_payloads(app.base_url, cookie, []))
    text = json.dumps(replies)
    with session_scope(app.engine) as session:
        user = session.get(User, member.id)
        hashes = session.exec(
            select(UserSession.token_hash).where(UserSession.user_id == member.id)
        ).all()
    assert user.password_hash not in text
    assert all(h not in text for h in hashes)
    assert cookie.split("=", 1)[1] not in text
    assert app.secret_key not in text


def test_the_generic_setvar_handler_cannot_write_state(app) -> None:
    from dashboard_app.web.pages.admin import AdminState

    member = create_member(app.engine, credits_granted=3)
    cookie = sign_in_cookie(app, member.email)
    auth, admin = AuthState.get_full_name(), AdminState.get_full_name()
    calls = [
        (f"{auth}.setvar", {"var_name": "signed_in", "value": True}),
        (f"{auth}.setvar", {"var_name": "available_credits", "value": 987654}),
        (
            f"{auth}.setvar",
            {"var_name": "nav_links", "value": [{"label": "Admin", "href": "/admin"}]},
        ),
        (f"{admin}.setvar", {"var_name": "member_count", "value": 424242}),
    ]
    for who in (None, cookie):
        replies = run_async(call_with_payloads(app.base_url, who, calls))
        text = json.dumps(replies)
        assert "987654" not in text and "424242" not in text
        assert '"label": "Admin"' not in text
        if who is None:
            assert signed_in_flag(vars_sent(replies)) is not True


def test_an_unknown_history_filter_gets_a_message_and_changes_nothing(app) -> None:
    from dashboard_app.web.pages.history import HistoryState

    member = create_member(app.engine, credits_granted=8)
    cookie = sign_in_cookie(app, member.email)
    state = HistoryState.get_full_name()
    replies = run_async(
        call_with_payloads(
            app.base_url,
            cookie,
            [(f"{state}.load", {}), (f"{state}.filter_by", {"label": "'; DROP TABLE x"})],
        )
    )
    sent = vars_sent(replies)
    assert sent[f"{state}.error_rx_state_"] == "Choose one of the listed kinds of entry."
    assert sent[f"{state}.filter_label_rx_state_"] == "All entries"
    assert len(sent[f"{state}.rows_rx_state_"]) == 1


def test_buying_something_not_in_the_catalog_gets_a_message_and_changes_nothing(app) -> None:
    from dashboard_app.models import Order, User
    from dashboard_app.web.pages.billing import BillingState

    member = create_member(app.engine)
    cookie = sign_in_cookie(app, member.email)
    state = BillingState.get_full_name()
    for code in ("diamond", "x" * 500, "../starter"):
        replies = run_async(
            call_with_payloads(
                app.base_url, cookie, [(f"{state}.load", {}), (f"{state}.buy", {"code": code})]
            )
        )
        sent = vars_sent(replies)
        assert sent[f"{state}.error_rx_state_"] == "There is no such pack or plan"
        assert "redirect" not in json.dumps(replies)
    assert count_rows(app.engine, Order, Order.user_id == member.id) == 0
    assert (
        count_rows(app.engine, User, User.id == member.id, User.stripe_customer_id.is_not(None))
        == 0
    )
