"""What an event costs the database: the session guard reads who is asking once (the session,
the member, the balance and the profile in one statement) and the handler it lets through
uses that reading; the page's own data is one more read. Counted by the app's test-only
statement counter for the tab's token, over a real socket."""

from __future__ import annotations

import uuid

import httpx

from dashboard_app.web import routes
from dashboard_app.web.pages.history import HistoryState
from tests.factories import create_member
from tests.support.tab import TabReplies, sign_in_cookie, talk_now

HISTORY = HistoryState.get_full_name()


def statements(app, token: str) -> int:
    found = httpx.get(f"{app.base_url}{routes.API_TEST_TAB_STATEMENTS}/{token}")
    found.raise_for_status()
    return found.json()["statements"]


def history_shown(replies: TabReplies) -> bool:
    return bool(replies.sent_vars().get(f"{HISTORY}.rows_rx_state_"))


def test_a_page_load_reads_the_member_once_and_the_page_once(app) -> None:
    member = create_member(app.engine, credits_granted=25)
    token = str(uuid.uuid4())
    talk_now(
        app.base_url,
        token=token,
        cookie=sign_in_cookie(app.base_url, member.email),
        path="/credits",
        calls=[(f"{HISTORY}.load", {})],
        hydrate=False,
        until=history_shown,
    )
    # The guard's reading and the history page: one statement each, and on SQLite each read's
    # BEGIN too. Before, the guard read the session (2 statements) and the handler read it
    # again with the balance and profile (4).
    per_read = 2 if app.engine.dialect.name == "sqlite" else 1
    assert statements(app, token) == 2 * per_read


def test_an_event_without_a_session_cookie_reads_nothing(app) -> None:
    token = str(uuid.uuid4())
    replies = talk_now(app.base_url, token=token, path="/credits", calls=[(f"{HISTORY}.load", {})])
    assert "/sign-in" in replies.text()  # sent to sign in, nothing read for a page
    assert statements(app, token) == 0  # no token in the cookie: nothing to look up
