"""How the member signs in: their email (changed through a link), password, and the browsers
signed in to their account."""

from __future__ import annotations

import asyncio
import re

import reflex as rx

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, links
from dashboard_app.domain.errors import DomainError
from dashboard_app.web import routes
from dashboard_app.web.api.common import absolute_url, deliver, mail_windows
from dashboard_app.web.api.mails import email_change_mail
from dashboard_app.web.auth_cookie import session_policy
from dashboard_app.web.components.forms import status_text
from dashboard_app.web.state.auth import AuthState
from dashboard_app.web.state.payloads import Payload, bad_payload, read_payload


def describe_device(user_agent: str) -> str:
    """A short, human name for a browser from its user agent ('Chrome on Linux')."""
    browser = next(
        (
            name
            for pattern, name in (
                ("Edg/", "Edge"),
                ("Firefox/", "Firefox"),
                ("Chrome/", "Chrome"),
                ("Safari/", "Safari"),
            )
            if pattern in user_agent
        ),
        "A browser",
    )
    system = next(
        (
            name
            for pattern, name in (
                ("Android", "Android"),
                ("iPhone", "iPhone"),
                ("iPad", "iPad"),
                ("Windows", "Windows"),
                ("Mac OS", "macOS"),
                ("Linux", "Linux"),
            )
            if pattern in user_agent
        ),
        "an unknown system",
    )
    if re.search(r"Headless", user_agent):
        browser = f"Headless {browser}"
    return f"{browser} on {system}"


class PasswordForm(Payload):
    current_password: str = ""
    new_password: str = ""


class EmailForm(Payload):
    new_email: str = ""


class SecurityPart(rx.State, mixin=True):
    """ProfileState's sign-in settings: email change, password change, sessions."""

    member_since: str = ""
    has_password: bool = True
    password_error: str = ""
    password_saved: str = ""
    email_error: str = ""
    email_sent: str = ""
    sessions: list[dict[str, str]] = []

    @rx.event
    async def change_password(self, form: dict | None = None):
        viewer = await self._viewer()  # type: ignore[attr-defined]
        if viewer is None:
            return self._to_sign_in()  # type: ignore[attr-defined]
        fields = read_payload(PasswordForm, form)
        if fields is None:
            return bad_payload()

        def work() -> None:
            with session_scope() as session:
                user = accounts.get_user(session=session, user_id=viewer.user_id)
                accounts.change_password(
                    session=session,
                    user=user,
                    current_password=fields.current_password,
                    new_password=fields.new_password,
                    keep_session_id=viewer.session_id,
                )

        try:
            await asyncio.to_thread(work)
        except DomainError as error:
            self.password_error, self.password_saved = error.message, ""
            return None
        self.password_error = ""
        self.password_saved = "Password changed. Your other sessions were signed out."
        await self._refresh_page(viewer)  # type: ignore[attr-defined]
        return rx.set_value("current_password", "")

    @rx.event
    async def change_email(self, form: dict | None = None):
        viewer = await self._viewer()  # type: ignore[attr-defined]
        if viewer is None:
            return self._to_sign_in()  # type: ignore[attr-defined]
        fields = read_payload(EmailForm, form)
        if fields is None:
            return bad_payload()

        def work() -> tuple[str, str]:
            with session_scope() as session:
                user = accounts.get_user(session=session, user_id=viewer.user_id)
                return links.request_email_change(
                    session=session,
                    user=user,
                    new_email=fields.new_email,
                    policy=session_policy(),
                    windows=mail_windows(),  # RateLimited says when to try again
                )

        try:
            new_email, token = await asyncio.to_thread(work)
        except DomainError as error:
            self.email_error, self.email_sent = error.message, ""
            return None
        link = absolute_url(routes.confirm_email_path(token))
        if not await deliver(email_change_mail(new_email, link)):
            self.email_error = "We could not send the confirmation mail. Try again later."
            return None
        self.email_error = ""
        self.email_sent = f"We sent a link to {new_email}. Your email changes when you open it."
        return None

    @rx.event
    async def end_other_sessions(self):
        viewer = await self._viewer()  # type: ignore[attr-defined]
        if viewer is None:
            return self._to_sign_in()  # type: ignore[attr-defined]

        def work() -> int:
            with session_scope() as session:
                return accounts.end_sessions(
                    session=session,
                    user_id=viewer.user_id,
                    reason="ended_by_member",
                    except_session_id=viewer.session_id,
                )

        ended = await asyncio.to_thread(work)
        await self._refresh_page(viewer)  # type: ignore[attr-defined]
        return rx.toast.success(f"Signed out {ended} other session(s).")


def account_card(state: type[SecurityPart]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Account", size="4"),
            rx.data_list.root(
                rx.data_list.item(
                    rx.data_list.label("Email"),
                    rx.data_list.value(
                        rx.text(AuthState.member_email, data_testid="profile-email")
                    ),
                ),
                rx.data_list.item(
                    rx.data_list.label("Member since"),
                    rx.data_list.value(rx.text(state.member_since, data_testid="profile-since")),
                ),
            ),
            rx.form(
                rx.hstack(
                    rx.input(
                        name="new_email",
                        type="email",
                        placeholder="New email address",
                        max_length=320,
                        required=True,
                        aria_label="New email address",
                    ),
                    rx.button("Change email", type="submit", variant="soft"),
                    wrap="wrap",
                ),
                on_submit=state.change_email,
                reset_on_submit=True,
            ),
            status_text(state.email_error, "email-error"),
            status_text(state.email_sent, "email-sent", error=False),
            rx.cond(
                state.has_password,
                rx.form(
                    rx.vstack(
                        rx.heading("Password", size="3"),
                        rx.input(
                            id="current_password",
                            name="current_password",
                            type="password",
                            placeholder="Current password",
                            auto_complete="current-password",
                            required=True,
                        ),
                        rx.input(
                            name="new_password",
                            type="password",
                            placeholder="New password (at least 10 characters)",
                            auto_complete="new-password",
                            required=True,
                        ),
                        rx.button("Change password", type="submit", variant="soft"),
                        status_text(state.password_error, "password-error"),
                        status_text(state.password_saved, "password-saved", error=False),
                        spacing="2",
                    ),
                    on_submit=state.change_password,
                    reset_on_submit=True,
                ),
            ),
            spacing="3",
        ),
        width="100%",
    )


def _session_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            row["device"],
            rx.cond(row["current"] != "", rx.badge("this browser", margin_left="0.5rem")),
        ),
        rx.table.cell(row["last_seen"]),
        rx.table.cell(row["address"]),
        data_testid="session-row",
    )


def sessions_card(state: type[SecurityPart]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Where you are signed in", size="4"),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Device"),
                        rx.table.column_header_cell("Last seen"),
                        rx.table.column_header_cell("Address"),
                    )
                ),
                rx.table.body(rx.foreach(state.sessions, _session_row)),
                width="100%",
            ),
            rx.button(
                "Sign out everywhere else", variant="soft", on_click=state.end_other_sessions
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )
