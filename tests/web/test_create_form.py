"""Create's form over Reflex's websocket: it starts once per visit (coming back to the page does
not re-mount the inputs under the member's typing), a submitted form gives way to a new one, and
a form saved as a draft is not reused for the next, blank form."""

from __future__ import annotations

import uuid

from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.models import Draft
from dashboard_app.web.pages.create import CreateState
from tests.factories import create_member
from tests.support.tab import TabReplies, sign_in_cookie, talk_now

STATE = CreateState.get_full_name()


def form(topic: str, intent: str, key: str = "") -> dict[str, object]:
    return {
        "intent": intent,
        "key": key or f"form-{uuid.uuid4().hex}",
        "title": topic or "Untitled",
        "topic": topic,
        "platform": "tiktok",
        "preset": "clean",
        "format": "video",
        "variants": "1",
    }


def seen(replies: TabReplies, var: str) -> list[object]:
    """Every value the server sent the tab for one of Create's vars, in order."""
    key = f"{var}_rx_state_"
    return [
        values[key]
        for update in replies.updates
        for state, values in (update.get("delta") or {}).items()
        if state == STATE and key in values
    ]


def open_drafts(app, member_id: int) -> list[str]:
    with session_scope(app.engine) as session:
        found = session.exec(
            select(Draft).where(Draft.user_id == member_id, Draft.submitted_at.is_(None))  # type: ignore[union-attr]
        ).all()
        return sorted(draft.prompt for draft in found)


def test_the_form_starts_once_per_visit_and_anew_after_a_submit(app) -> None:
    member = create_member(app.engine, credits_granted=100)
    cookie = sign_in_cookie(app.base_url, member.email)
    token = str(uuid.uuid4())
    load = (f"{STATE}.load", {}, "/create")
    # Arriving, a refused submit, then arriving again (back from another page): one start, one
    # form token; the refusal's message belongs to the first visit only.
    no_topic = (f"{STATE}.submit_form", {"form": form("", "submit")}, "/create")
    replies = talk_now(app.base_url, token=token, cookie=cookie, calls=[load, no_topic, load])
    assert len(set(seen(replies, "form_key"))) == 1, seen(replies, "form_key")
    messages = seen(replies, "field_errors")
    assert any("topic" in sent for sent in messages) and messages[-1] == {}, messages
    tokens = set(seen(replies, "form_token"))
    assert len(tokens) == 1 and "" not in tokens, tokens
    (first_token,) = tokens
    # Submitting it gives the next visit a new form (and token).
    submit = (f"{STATE}.submit_form", {"form": form("A job", "submit", first_token)}, "/create")
    submitted = talk_now(app.base_url, token=token, cookie=cookie, calls=[submit, load])
    assert "redirect" in submitted.text()
    after = seen(submitted, "form_token")[-1]
    assert after not in ("", first_token), after


def test_a_saved_draft_is_not_overwritten_by_the_next_blank_form(app) -> None:
    member = create_member(app.engine, credits_granted=100)
    cookie = sign_in_cookie(app.base_url, member.email)
    load = (f"{STATE}.load", {}, "/create")
    talk_now(
        app.base_url,
        cookie=cookie,
        calls=[
            load,
            (f"{STATE}.submit_form", {"form": form("First idea", "draft")}, "/create"),
            # Away and back to /create (a blank form), then a second draft.
            load,
            (f"{STATE}.submit_form", {"form": form("Second idea", "draft")}, "/create"),
        ],
    )
    assert open_drafts(app, member.id) == ["First idea", "Second idea"]
