"""Profile: the member's own details, avatar, settings, sessions, password, data and deletion."""

from __future__ import annotations

import asyncio
import re
import time

import reflex as rx

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, links, profiles
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import DomainError
from dashboard_app.web import routes
from dashboard_app.web.api.avatars import AVATAR_ERROR, TOO_LARGE
from dashboard_app.web.api.common import absolute_url, deliver, mail_windows
from dashboard_app.web.api.mails import email_change_mail
from dashboard_app.web.auth_cookie import session_policy
from dashboard_app.web.client_address import router_client_ip
from dashboard_app.web.components.cards import page_heading
from dashboard_app.web.components.forms import field_label, status_text
from dashboard_app.web.components.native_form import native_form
from dashboard_app.web.layout import shell
from dashboard_app.web.signing import unsign
from dashboard_app.web.state.auth import MESSAGE_MAX_AGE_SECONDS, AuthState, LivePage, Viewer
from dashboard_app.web.state.payloads import Payload, bad_payload, read_payload

PROFILE_FIELDS = (
    "display_name",
    "address_line1",
    "address_line2",
    "address_city",
    "address_postal_code",
    "address_country",
    "wallet_address",
)
# The catalog names the platforms, as on Create.
PLATFORM_LABELS = {
    "": "No default",
    **{code: platform.name for code, platform in get_catalog().platforms.items()},
}


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


def _load(user_id: int, current_session_id: int) -> dict:
    with session_scope() as session:
        user = accounts.get_user(session=session, user_id=user_id)
        profile = profiles.get_profile(session=session, user_id=user_id)
        sessions = accounts.live_sessions(session=session, user_id=user_id, policy=session_policy())
        return {
            "fields": {name: getattr(profile, name) for name in PROFILE_FIELDS},
            "theme": profile.theme,
            "platform": profile.default_platform,
            "notifications": profile.email_notifications,
            "updated": f"{profile.updated_at:%d %B %Y, %H:%M} UTC",
            "since": f"{user.created_at:%d %B %Y}",
            "has_avatar": bool(profile.avatar_path),
            "has_password": user.password_hash is not None,
            "sessions": [
                {
                    "device": describe_device(row.user_agent),
                    "last_seen": f"{row.last_seen_at:%d %b %Y, %H:%M} UTC",
                    "address": row.ip_address,
                    "current": "yes" if row.id == current_session_id else "",
                }
                for row in sessions
            ],
        }


class ProfileForm(Payload):
    display_name: str = ""
    address_line1: str = ""
    address_line2: str = ""
    address_city: str = ""
    address_postal_code: str = ""
    address_country: str = ""
    wallet_address: str = ""
    theme: str = ""
    default_platform: str = ""
    # A ticked checkbox sends "on"; an unticked one sends nothing.
    email_notifications: bool | str = False


class PasswordForm(Payload):
    current_password: str = ""
    new_password: str = ""


class EmailForm(Payload):
    new_email: str = ""


class ProfileState(LivePage, AuthState):
    member_since: str = ""
    updated_at: str = ""
    fields: dict[str, str] = {}
    theme: str = "system"
    platform_label: str = PLATFORM_LABELS[""]
    email_notifications: bool = True
    field_errors: dict[str, str] = {}
    saved: str = ""
    avatar_url: str = ""
    avatar_error: str = ""
    has_password: bool = True
    password_error: str = ""
    password_saved: str = ""
    email_error: str = ""
    email_sent: str = ""
    sessions: list[dict[str, str]] = []
    form_key: int = 0
    # The stored profile the form's inputs were last mounted with.
    _form_built_from: str = ""

    async def _refresh_page(self, viewer: Viewer) -> None:
        await self._reload(viewer, remount=True)

    async def _poll_page(self, nudge: int = 0):
        """A push (credits, a job, another tab) reloads what the page shows, but the form is
        mounted again only when the stored profile itself changed: a member typing into it keeps
        what they typed when an unrelated change arrives."""
        if not self._nudge_is_new(nudge):
            return None
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        await self._reload(viewer, remount=False)
        return None

    async def _reload(self, viewer: Viewer, *, remount: bool) -> None:
        data = await asyncio.to_thread(_load, viewer.user_id, viewer.session_id)
        stored = repr((data["fields"], data["theme"], data["platform"], data["notifications"]))
        stored_changed, self._form_built_from = stored != self._form_built_from, stored
        self.fields = data["fields"]
        self.theme = data["theme"]
        self.platform_label = PLATFORM_LABELS.get(data["platform"], PLATFORM_LABELS[""])
        self.email_notifications = data["notifications"]
        self.updated_at = data["updated"]
        self.member_since = data["since"]
        self.has_password = data["has_password"]
        self.sessions = data["sessions"]
        self.avatar_url = f"{routes.API_AVATAR}?v={int(time.time())}" if data["has_avatar"] else ""
        if remount or stored_changed:
            self.form_key += 1  # re-mount the form so its inputs show the stored values

    @rx.event
    async def load(self):
        self.field_errors, self.saved = {}, ""
        error = unsign(
            AVATAR_ERROR,
            self.router.url.query_parameters.get("avatar_error"),
            MESSAGE_MAX_AGE_SECONDS,
        )
        self.avatar_error = error if isinstance(error, str) else ""
        return await self._load_page()

    @rx.event
    async def save_profile(self, form: dict | None = None):
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        fields = read_payload(ProfileForm, form)
        if fields is None:
            return bad_payload()
        platform = {label: code for code, label in PLATFORM_LABELS.items()}.get(
            fields.default_platform, "?"
        )
        changes = profiles.ProfileChanges(
            **{name: getattr(fields, name) for name in PROFILE_FIELDS},
            theme=fields.theme,
            default_platform=platform,
            email_notifications=fields.email_notifications in ("on", True, "true"),
        )

        def work() -> None:
            with session_scope() as session:
                user = accounts.get_user(session=session, user_id=viewer.user_id)
                profiles.update_profile(
                    session=session,
                    user=user,
                    changes=changes,
                    ip_address=router_client_ip(self.router),
                )

        try:
            await asyncio.to_thread(work)
        except profiles.ProfileInvalid as invalid:
            self.field_errors, self.saved = invalid.errors, ""
            return None
        self.field_errors, self.saved = {}, "Saved."
        await self._viewer()
        await self._refresh_page(viewer)
        self.theme_to_apply = changes.theme
        return None

    @rx.event
    async def change_password(self, form: dict | None = None):
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
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
        await self._refresh_page(viewer)
        return rx.set_value("current_password", "")

    @rx.event
    async def change_email(self, form: dict | None = None):
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
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
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()

        def work() -> int:
            with session_scope() as session:
                return accounts.end_sessions(
                    session=session,
                    user_id=viewer.user_id,
                    reason="ended_by_member",
                    except_session_id=viewer.session_id,
                )

        ended = await asyncio.to_thread(work)
        await self._refresh_page(viewer)
        return rx.toast.success(f"Signed out {ended} other session(s).")


def _error(name: str) -> rx.Component:
    return rx.cond(
        ProfileState.field_errors.contains(name),
        rx.text(
            ProfileState.field_errors[name],
            color_scheme="red",
            size="1",
            data_testid=f"error-{name}",
        ),
    )


def _text_field(
    label: str, name: str, placeholder: str = "", max_length: int = 200
) -> rx.Component:
    return rx.vstack(
        field_label(label, html_for=name),
        rx.input(
            id=name,
            name=name,
            default_value=ProfileState.fields[name].to(str),
            placeholder=placeholder,
            max_length=max_length,
            width="100%",
        ),
        _error(name),
        spacing="1",
        width="100%",
    )


def _details_card() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Details", size="4"),
                _text_field("Name", "display_name", max_length=80),
                rx.grid(
                    _text_field("Address", "address_line1"),
                    _text_field("Address, line 2", "address_line2"),
                    _text_field("City", "address_city", max_length=100),
                    _text_field("Postal code", "address_postal_code", max_length=20),
                    _text_field("Country (2 letters)", "address_country", "FR", max_length=2),
                    columns=rx.breakpoints(initial="1", sm="2"),
                    spacing="3",
                    width="100%",
                ),
                _text_field("Preferred wallet address", "wallet_address", "0x…", max_length=42),
                rx.heading("Dashboard settings", size="3", margin_top="0.5rem"),
                rx.grid(
                    rx.vstack(
                        field_label("Theme", html_for="theme"),
                        rx.select(
                            ["system", "light", "dark"],
                            id="theme",
                            name="theme",
                            default_value=ProfileState.theme,
                        ),
                        _error("theme"),
                    ),
                    rx.vstack(
                        field_label("Default platform", html_for="default_platform"),
                        rx.select(
                            list(PLATFORM_LABELS.values()),
                            id="default_platform",
                            name="default_platform",
                            default_value=ProfileState.platform_label,
                        ),
                        _error("default_platform"),
                    ),
                    columns=rx.breakpoints(initial="1", sm="2"),
                    spacing="3",
                    width="100%",
                ),
                rx.el.label(
                    rx.hstack(
                        rx.checkbox(
                            name="email_notifications",
                            default_checked=ProfileState.email_notifications,
                            aria_labelledby="email-notifications-text",
                        ),
                        rx.text(
                            "Email me when a job finishes or my balance runs low",
                            id="email-notifications-text",
                        ),
                        align="center",
                    ),
                ),
                rx.hstack(
                    rx.button("Save", type="submit"),
                    rx.text(ProfileState.saved, color_scheme="grass", data_testid="profile-saved"),
                    rx.spacer(),
                    rx.text(
                        "Last updated ",
                        ProfileState.updated_at,
                        size="1",
                        color_scheme="gray",
                        data_testid="profile-updated",
                    ),
                    align="center",
                    width="100%",
                    wrap="wrap",
                ),
                spacing="3",
                width="100%",
            ),
            on_submit=ProfileState.save_profile,
            key=ProfileState.form_key,
            width="100%",
        ),
        width="100%",
    )


# The server refuses a body over the limit without reading it, which a browser shows as a reset
# connection: the browser's own form validation stops such a file before it is sent.
CHECK_AVATAR_SIZE = f"""
const input = document.getElementById("avatar");
const file = input.files && input.files[0];
input.setCustomValidity(file && file.size > {profiles.MAX_AVATAR_BYTES} ? "{TOO_LARGE}" : "");
input.reportValidity();
"""


def _avatar_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Avatar", size="4"),
            rx.hstack(
                rx.avatar(
                    src=ProfileState.avatar_url, fallback="?", size="6", data_testid="avatar-image"
                ),
                # A plain multipart form to the server route, which checks the request's own
                # session and refuses oversized bodies before reading them.
                native_form(
                    rx.vstack(
                        field_label("Choose an image", html_for="avatar"),
                        rx.el.input(
                            id="avatar",
                            name="avatar",
                            type="file",
                            accept="image/png,image/jpeg,image/webp",
                            required=True,
                            on_change=rx.call_script(CHECK_AVATAR_SIZE),
                        ),
                        rx.text("PNG, JPEG or WebP, up to 2 MB", size="1", color_scheme="gray"),
                        rx.button("Upload", type="submit"),
                        spacing="2",
                    ),
                    action=routes.API_AVATAR,
                    method="post",
                    enc_type="multipart/form-data",
                ),
                align="center",
                spacing="4",
            ),
            status_text(ProfileState.avatar_error, "avatar-error"),
            spacing="3",
        ),
        width="100%",
    )


def _account_card() -> rx.Component:
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
                    rx.data_list.value(
                        rx.text(ProfileState.member_since, data_testid="profile-since")
                    ),
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
                on_submit=ProfileState.change_email,
                reset_on_submit=True,
            ),
            status_text(ProfileState.email_error, "email-error"),
            status_text(ProfileState.email_sent, "email-sent", error=False),
            rx.cond(
                ProfileState.has_password,
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
                        status_text(ProfileState.password_error, "password-error"),
                        status_text(ProfileState.password_saved, "password-saved", error=False),
                        spacing="2",
                    ),
                    on_submit=ProfileState.change_password,
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


def _sessions_card() -> rx.Component:
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
                rx.table.body(rx.foreach(ProfileState.sessions, _session_row)),
                width="100%",
            ),
            rx.button(
                "Sign out everywhere else", variant="soft", on_click=ProfileState.end_other_sessions
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _data_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Your data", size="4"),
            # A native form, so the browser downloads from the server route itself.
            native_form(
                rx.button(
                    rx.icon("download", size=16),
                    "Download my data (JSON)",
                    variant="soft",
                    type="submit",
                    data_testid="export-link",
                ),
                action=routes.API_EXPORT,
                method="get",
            ),
            rx.text(
                "Deleting your account erases your personal details and signs you out "
                "everywhere. Your credit history is kept for our books.",
                size="2",
            ),
            native_form(
                rx.hstack(
                    rx.input(
                        name="password",
                        type="password",
                        required=True,
                        placeholder=rx.cond(
                            ProfileState.has_password, "Your password", "Type DELETE"
                        ),
                        aria_label="Confirm with your password",
                    ),
                    rx.button("Delete my account", color_scheme="red", type="submit"),
                    wrap="wrap",
                ),
                action=routes.API_DELETE_ACCOUNT,
                method="post",
            ),
            spacing="3",
        ),
        width="100%",
    )


def profile_page() -> rx.Component:
    return shell(
        page_heading("Profile", "Your account, your settings, your data."),
        rx.grid(
            rx.vstack(_details_card(), _sessions_card(), spacing="4", width="100%"),
            rx.vstack(_avatar_card(), _account_card(), _data_card(), spacing="4", width="100%"),
            columns=rx.breakpoints(initial="1", lg="2"),
            spacing="4",
            width="100%",
        ),
        live=ProfileState,
    )
