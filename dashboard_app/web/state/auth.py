"""The base state every signed-in page builds on.

The member is resolved on every event from the HttpOnly session cookie of the request or socket
that carries the event, checked against the database; nothing the browser sends names the
member, and nothing the tab's stored state remembers stands in for the cookie (a tab's token is
not a credential). Public vars hold only what the shell shows the signed-in member about
themselves.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from contextvars import ContextVar
from datetime import datetime

import reflex as rx
from reflex_base.event.context import EventContext
from sqlmodel import Session

from dashboard_app.db import read, session_scope
from dashboard_app.domain import accounts
from dashboard_app.domain.dashboard import Shell, shell_for_token
from dashboard_app.models.base import utcnow
from dashboard_app.settings import get_settings
from dashboard_app.web import live_tabs, routes
from dashboard_app.web.auth_cookie import session_policy, token_from_cookie_header
from dashboard_app.web.signing import unsign

MEMBER_NAV = [
    {"label": "Overview", "href": routes.OVERVIEW},
    {"label": "Create", "href": routes.CREATE},
    {"label": "Jobs", "href": routes.JOBS},
    {"label": "Library", "href": routes.LIBRARY},
    {"label": "Holdings", "href": routes.HOLDINGS},
    {"label": "Billing", "href": routes.BILLING},
    {"label": "Profile", "href": routes.PROFILE},
]
ADMIN_NAV = [{"label": "Admin", "href": routes.ADMIN}]


NOTICES = {
    "email_verified": "Thank you: your email address is confirmed.",
    "verify_sent": "We sent you a new confirmation link. Check your inbox.",
    "mail_failed": "We could not send the mail just now. Try again in a few minutes.",
    "link_invalid": "That link has expired or was already used. Ask for a new one.",
    "reset_sent": "If an account uses that address, we sent it a link to reset the password.",
    "password_reset": "Your password was changed. Sign in with the new one.",
    "email_changed": "Your new email address is confirmed and in use.",
    "email_taken": "Another account now uses that email address; nothing was changed.",
    "account_deleted": "Your account was deleted. Thank you for having been with us.",
    "delete_refused": "Your account was not deleted: the password was not right.",
    "invalid_request": "That request could not be read. Please try again.",
}
MESSAGE_MAX_AGE_SECONDS = 600


def notice_text(code: str | None, signed_message: str | None = None) -> str:
    """One of NOTICES by code, or a text signed by the server (e.g. when to try again)."""
    message = unsign("sign-in-message", signed_message, MESSAGE_MAX_AGE_SECONDS)
    return message if isinstance(message, str) else NOTICES.get(code or "", "")


# Who is signed in on this connection, read from the database for this event.
Viewer = Shell


def _shell(session: Session, token: str, now: datetime) -> Shell | None:
    return shell_for_token(session=session, token=token, policy=session_policy(), now=now)


def _note_seen(session_id: int, now: datetime) -> None:
    with session_scope() as session:
        accounts.note_session_seen(session=session, session_id=session_id, now=now)


async def read_viewer(token: str | None) -> Viewer | None:
    """The member behind a session token, read from the database now."""
    if not token:
        return None
    now = utcnow()
    shell = await read(_shell, token, now)
    if shell is not None and shell.seen_due:
        await asyncio.to_thread(_note_seen, shell.session_id, now)
    return shell


def carried_session_token() -> str | None:
    """The session cookie of the socket or request carrying the event being processed.

    Reflex copies the socket's headers into each event it receives; an event that arrives
    without them (Reflex's upload endpoint builds one so) counts as signed out, whatever
    cookie the tab's stored state saw before.
    """
    try:
        carried = EventContext.get().router_data
    except LookupError:
        return None
    headers = carried.get("headers") or {}
    return token_from_cookie_header(headers.get("cookie") if isinstance(headers, dict) else None)


# The viewer the session guard read for the event being processed, with that event's context
# and token: the handler's first `_viewer` takes it instead of reading again.
_EVENT_VIEWER: ContextVar[tuple[object, str | None, Viewer | None] | None] = ContextVar(
    "event_viewer", default=None
)


async def read_viewer_for_event(token: str | None) -> Viewer | None:
    """The session guard's reading, before any handler runs: once per event."""
    viewer = await read_viewer(token)
    with suppress(LookupError):  # outside an event there is no handler to reuse it
        _EVENT_VIEWER.set((EventContext.get(), token, viewer))
    return viewer


async def event_viewer(token: str | None) -> Viewer | None:
    """The member behind `token` for a handler: the guard's reading of this same event the
    first time (a handler reads before it changes anything), read again after that."""
    stashed = _EVENT_VIEWER.get()
    _EVENT_VIEWER.set(None)
    try:
        context = EventContext.get()
    except LookupError:
        context = None
    if stashed is not None and context is not None:
        stashed_context, stashed_token, viewer = stashed
        if stashed_context is context and stashed_token == token:
            return viewer
    return await read_viewer(token)


class AuthState(rx.State):
    signed_in: bool = False
    member_name: str = ""
    member_email: str = ""
    available_credits: int = 0
    nav_links: list[dict[str, str]] = []
    email_unverified: bool = False
    notice: str = ""
    # The member's saved theme, set once per tab (and after a change) for the shell to apply.
    theme_to_apply: str = ""
    _theme_applied: bool = False
    # Sent a new value by the server when something this tab shows has changed
    # (web/live_tabs.py): the shell then has the tab call its page's `poll_live` with it.
    # Carries nothing else; the server never sets it in the stored state.
    live_nudge: int = 0
    # The last nudge the page's `poll_live` reloaded for (a page mounting again sends it again).
    _nudge_loaded: int = 0
    # The server session this tab's state was built for (0: none). The session guard resets
    # every page state before an event whose cookie resolves to another session.
    _built_for_session: int = 0

    def _session_token(self) -> str | None:
        return carried_session_token()

    def _current_path(self) -> str:
        url = self.router.url
        return f"{url.path}?{url.query}" if url.query else url.path

    def _tab_token(self) -> str:
        return self.router.session.client_token

    def _forget_viewer(self) -> None:
        live_tabs.forget_tab(self._tab_token())
        self.signed_in = False
        self.member_name = ""
        self.member_email = ""
        self.available_credits = 0
        self.nav_links = []
        self.email_unverified = False
        self.notice = ""

    async def _viewer(self) -> Viewer | None:
        """The signed-in member for this event, with the shell's vars refreshed, or None."""
        viewer = await event_viewer(self._session_token())
        if viewer is None:
            self._forget_viewer()
            return None
        self.signed_in = True
        self.member_name = viewer.display_name
        self.member_email = viewer.email
        self.available_credits = viewer.available_credits
        self.nav_links = MEMBER_NAV + (ADMIN_NAV if viewer.is_admin else [])
        self.email_unverified = not viewer.email_verified
        # Changes to this member's data are pushed to this tab from now on.
        live_tabs.record_tab(self._tab_token(), viewer.user_id)
        return viewer

    def _to_sign_in(self) -> rx.event.EventSpec:
        return rx.redirect(routes.sign_in_url(self._current_path()))

    async def _refresh_page(self, viewer: Viewer) -> None:
        """Reload what the page shows after the member's credits changed (pages override)."""

    # Reflex runs an inherited event handler on the state that defined it, so each page state
    # needs `load` and `poll_live` handlers of its own that call these two methods: `LivePage`
    # gives a page state its own copies.

    async def _load_page(self):
        """on_load: sign-in required, then the page's own data."""
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        params = self.router.url.query_parameters
        self.notice = notice_text(params.get("notice"), params.get("message"))
        if not self._theme_applied:
            self.theme_to_apply, self._theme_applied = viewer.theme, True
        await self._refresh_page(viewer)
        return None

    @rx.event
    def dismiss_notice(self):
        self.notice = ""

    def _nudge_is_new(self, nudge: int) -> bool:
        """Whether a `poll_live` carries a nudge this tab has not reloaded for yet (the shell's
        element mounts again with the same number when the member moves to another page)."""
        if nudge and nudge == self._nudge_loaded:
            return False
        self._nudge_loaded = nudge
        return True

    async def _poll_page(self, nudge: int = 0):
        """After a push (something the member can see changed: another tab, a webhook, an
        admin, a job's progress, the session ended elsewhere): reload as the tab's own cookie
        allows, or go to sign-in."""
        if not self._nudge_is_new(nudge):
            return None
        return await self._load_page()

    @rx.event
    async def load(self):
        return await self._load_page()

    @rx.event
    async def poll_live(self, nudge: int = 0):
        return await self._poll_page(nudge)


class LivePage(rx.State, mixin=True):
    """The page's `load` (on_load) and `poll_live` (after a push) handlers, copied onto each page
    state that lists this mixin before AuthState: `class OverviewState(LivePage, AuthState)`."""

    @rx.event
    async def load(self):
        return await self._load_page()  # type: ignore[attr-defined]

    @rx.event
    async def poll_live(self, nudge: int = 0):
        return await self._poll_page(nudge)  # type: ignore[attr-defined]


SIGN_IN_ERRORS = {
    "credentials": "That email and password do not match an account.",
    "suspended": "This account is suspended. Contact support to find out why.",
    "invalid_request": "That request could not be read. Please try again.",
}
SIGN_UP_ERRORS = {
    "email": "Enter a valid email address, like name@example.com.",
    "email_taken": "An account with this email already exists. Sign in instead.",
    "password": (
        f"Use between {accounts.MIN_PASSWORD_LENGTH} and {accounts.MAX_PASSWORD_LENGTH} "
        "characters for your password."
    ),
    "display_name": "Use at most 80 characters for your name.",
    "invalid_request": "That request could not be read. Please try again.",
}


class PublicPageState(rx.State):
    """The sign-in and sign-up pages: a signed-in member is sent on to where they were going."""

    # Empty until the page has read its `next` parameter; the server route then reads it from
    # the page's address instead (a form sent before the page was ready).
    next_path: str = ""
    error_message: str = ""
    notice: str = ""
    reset_token: str = ""
    sso_name: str = ""

    def _read_params(self, messages: dict[str, str]) -> None:
        """The page's message (server-signed, or one of `messages` by code), notice and token."""
        params = self.router.url.query_parameters
        signed = unsign("sign-in-message", params.get("message"), MESSAGE_MAX_AGE_SECONDS)
        self.error_message = (
            signed if isinstance(signed, str) else messages.get(params.get("error", ""), "")
        )
        self.notice = notice_text(params.get("notice"))
        self.reset_token = params.get("token", "")[:200]

    async def _prepare(self, messages: dict[str, str]):
        self.next_path = routes.safe_next(self.router.url.query_parameters.get("next"))
        self._read_params(messages)
        viewer = await read_viewer(carried_session_token())
        if viewer is not None:
            return rx.redirect(self.next_path)
        return None

    @rx.event
    async def open_sign_in(self):
        settings = get_settings()
        self.sso_name = settings.oidc_provider_name if settings.oidc_configured else ""
        return await self._prepare(SIGN_IN_ERRORS)

    @rx.event
    async def open_public_page(self):
        """Forgot and reset password: no redirect for signed-in members (they may need it)."""
        self._read_params({})

    @rx.event
    async def open_sign_up(self):
        return await self._prepare(SIGN_UP_ERRORS)
