"""A tab token (a uuid in the tab's sessionStorage and in the websocket URL, which proxy logs
record) is not a credential: every event, hydrate and upload is authorised by the cookie of the
request or socket that carries it, never by what the tab's stored state remembers."""

from __future__ import annotations

import io
import uuid

import httpx
from PIL import Image
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.domain import profiles
from dashboard_app.models import AuditEntry, Profile, User, UserSession
from dashboard_app.web.pages.history import HistoryState
from dashboard_app.web.pages.profile import ProfileState
from dashboard_app.web.state.auth import AuthState
from tests.factories import count_rows, create_member
from tests.support.servers import wait_for
from tests.support.tab import TabReplies, sign_in_cookie, talk_now

PROFILE = ProfileState.get_full_name()
HISTORY = HistoryState.get_full_name()
WALLET = "0x" + "5e" * 20


def private_member(app, name: str) -> tuple[User, list[str]]:
    """A member with an address and a wallet; returns them and what must never leak."""
    member = create_member(app.engine, display_name=name, credits_granted=48_271)
    with session_scope(app.engine) as session:
        profiles.update_profile(
            session=session,
            user=session.get(User, member.id),
            changes=profiles.ProfileChanges(
                display_name=name,
                address_line1="17 Rue des Secrets",
                address_line2="",
                address_city="Privas",
                address_postal_code="07000",
                address_country="FR",
                wallet_address=WALLET,
                theme="dark",
                default_platform="",
                email_notifications=True,
            ),
        )
    return member, [member.email, name, "Rue des Secrets", "Privas", WALLET, "48271"]


def pages_loaded(replies: TabReplies) -> bool:
    sent = replies.sent_vars()
    fields = sent.get(f"{PROFILE}.fields_rx_state_") or {}
    return fields.get("wallet_address") == WALLET and bool(sent.get(f"{HISTORY}.rows_rx_state_"))


def tab_with_her_profile(app, cookie: str) -> str:
    """Member A opens her profile and her credit history in a tab, then closes it; returns
    the tab's token."""
    token = str(uuid.uuid4())
    talk_now(
        app.base_url,
        token=token,
        cookie=cookie,
        path="/profile",
        calls=[(f"{PROFILE}.load", {}), (f"{HISTORY}.load", {})],
        until=pages_loaded,
    )
    return token


def replay(app, token: str, **kwargs) -> TabReplies:
    """A new socket presenting `token`, once the server has let go of the closed tab's socket
    (until then it hands out a fresh token, which would prove nothing)."""
    found: list[TabReplies] = []

    def attempt() -> bool:
        replies = talk_now(app.base_url, token=token, **kwargs)
        found.append(replies)
        return replies.new_token is None

    wait_for(attempt, timeout=20, what="the server to accept the closed tab's token", interval=0.2)
    return found[-1]


def test_the_stored_state_is_really_kept_under_the_token(app) -> None:
    # The control for the tests below: the same cookie gets the stored state back at once,
    # in the hydrate (a page without on_load), so their "nothing of hers" can fail.
    member, private = private_member(app, "Control Person")
    cookie = sign_in_cookie(app.base_url, member.email)
    token = tab_with_her_profile(app, cookie)
    replies = replay(app, token, cookie=cookie, path="/sign-in", calls=[])
    assert WALLET in replies.text()


def test_a_socket_without_a_cookie_replaying_her_token_gets_nothing_of_hers(app) -> None:
    member, private = private_member(app, "Alice Replay")
    token = tab_with_her_profile(app, sign_in_cookie(app.base_url, member.email))
    replies = replay(app, token, cookie=None, path="/sign-in", calls=[])
    assert replies.hydrated()
    assert [value for value in private if value in replies.text()] == []


def test_an_event_with_her_token_and_another_cookie_acts_as_the_cookie(app) -> None:
    alice, private = private_member(app, "Alice Shared")
    bob = create_member(app.engine, display_name="Bob Borrower")
    alice_cookie = sign_in_cookie(app.base_url, alice.email)
    sign_in_cookie(app.base_url, alice.email)  # a second session of hers that must survive
    token = tab_with_her_profile(app, alice_cookie)
    replies = replay(
        app,
        token,
        cookie=sign_in_cookie(app.base_url, bob.email),
        path="/sign-in",
        calls=[
            (f"{AuthState.get_full_name()}.dismiss_notice", {}),
            (f"{PROFILE}.end_other_sessions", {}),
        ],
    )
    assert [value for value in private if value in replies.text()] == []
    live = count_rows(
        app.engine, UserSession, UserSession.user_id == alice.id, UserSession.revoked_at.is_(None)
    )
    assert live == 2


def png_bytes() -> bytes:
    output = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 30)).save(output, format="PNG")
    return output.getvalue()


def test_reflex_upload_endpoint_with_her_token_and_no_cookie_does_nothing(app) -> None:
    member, private = private_member(app, "Alice Upload")
    token = tab_with_her_profile(app, sign_in_cookie(app.base_url, member.email))
    response = httpx.post(
        app.url("/_upload"),
        headers={
            "reflex-client-token": token,
            "reflex-event-handler": f"{PROFILE}.upload_avatar",
        },
        files={"files": ("me.png", png_bytes(), "image/png")},
        timeout=30,
    )
    assert [value for value in private if value in response.text] == []
    with session_scope(app.engine) as session:
        assert session.get(Profile, member.id).avatar_path is None
        assert (
            session.exec(
                select(AuditEntry).where(
                    AuditEntry.subject_user_id == member.id,
                    AuditEntry.action == "profile.avatar_changed",
                )
            ).first()
            is None
        )
    assert response.status_code == 404
