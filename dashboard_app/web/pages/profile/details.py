"""The profile's details: name, address, wallet, dashboard settings (one form), and the avatar."""

from __future__ import annotations

import asyncio

import reflex as rx

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, profiles
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.web import routes
from dashboard_app.web.api.avatars import TOO_LARGE
from dashboard_app.web.client_address import router_client_ip
from dashboard_app.web.components.forms import field_label, status_text
from dashboard_app.web.components.native_form import native_form
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


class DetailsPart(rx.State, mixin=True):
    """ProfileState's details: the form's stored values, its errors, and saving it."""

    updated_at: str = ""
    fields: dict[str, str] = {}
    theme: str = "system"
    platform_label: str = PLATFORM_LABELS[""]
    email_notifications: bool = True
    field_errors: dict[str, str] = {}
    saved: str = ""
    avatar_url: str = ""
    avatar_error: str = ""
    form_key: int = 0
    # The stored profile the form's inputs were last mounted with.
    _form_built_from: str = ""

    @rx.event
    async def save_profile(self, form: dict | None = None):
        viewer = await self._viewer()  # type: ignore[attr-defined]
        if viewer is None:
            return self._to_sign_in()  # type: ignore[attr-defined]
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
        await self._viewer()  # type: ignore[attr-defined]
        await self._refresh_page(viewer)  # type: ignore[attr-defined]
        self.theme_to_apply = changes.theme
        return None


def _error(state: type[DetailsPart], name: str) -> rx.Component:
    return rx.cond(
        state.field_errors.contains(name),
        rx.text(
            state.field_errors[name],
            color_scheme="red",
            size="1",
            data_testid=f"error-{name}",
        ),
    )


def _text_field(
    state: type[DetailsPart], label: str, name: str, placeholder: str = "", max_length: int = 200
) -> rx.Component:
    return rx.vstack(
        field_label(label, html_for=name),
        rx.input(
            id=name,
            name=name,
            default_value=state.fields[name].to(str),
            placeholder=placeholder,
            max_length=max_length,
            width="100%",
        ),
        _error(state, name),
        spacing="1",
        width="100%",
    )


def details_card(state: type[DetailsPart]) -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Details", size="4"),
                _text_field(state, "Name", "display_name", max_length=80),
                rx.grid(
                    _text_field(state, "Address", "address_line1"),
                    _text_field(state, "Address, line 2", "address_line2"),
                    _text_field(state, "City", "address_city", max_length=100),
                    _text_field(state, "Postal code", "address_postal_code", max_length=20),
                    _text_field(
                        state, "Country (2 letters)", "address_country", "FR", max_length=2
                    ),
                    columns=rx.breakpoints(initial="1", sm="2"),
                    spacing="3",
                    width="100%",
                ),
                _text_field(
                    state, "Preferred wallet address", "wallet_address", "0x…", max_length=42
                ),
                rx.heading("Dashboard settings", size="3", margin_top="0.5rem"),
                rx.grid(
                    rx.vstack(
                        field_label("Theme", html_for="theme"),
                        rx.select(
                            ["system", "light", "dark"],
                            id="theme",
                            name="theme",
                            default_value=state.theme,
                        ),
                        _error(state, "theme"),
                    ),
                    rx.vstack(
                        field_label("Default platform", html_for="default_platform"),
                        rx.select(
                            list(PLATFORM_LABELS.values()),
                            id="default_platform",
                            name="default_platform",
                            default_value=state.platform_label,
                        ),
                        _error(state, "default_platform"),
                    ),
                    columns=rx.breakpoints(initial="1", sm="2"),
                    spacing="3",
                    width="100%",
                ),
                rx.el.label(
                    rx.hstack(
                        rx.checkbox(
                            name="email_notifications",
                            default_checked=state.email_notifications,
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
                    rx.text(state.saved, color_scheme="grass", data_testid="profile-saved"),
                    rx.spacer(),
                    rx.text(
                        "Last updated ",
                        state.updated_at,
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
            on_submit=state.save_profile,
            key=state.form_key,
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


def avatar_card(state: type[DetailsPart]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Avatar", size="4"),
            rx.hstack(
                rx.avatar(src=state.avatar_url, fallback="?", size="6", data_testid="avatar-image"),
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
            status_text(state.avatar_error, "avatar-error"),
            spacing="3",
        ),
        width="100%",
    )
