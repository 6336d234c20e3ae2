"""The profile page: its cards laid out, and the member's data (download, delete the account)."""

from __future__ import annotations

import reflex as rx

from dashboard_app.web import routes
from dashboard_app.web.components.cards import page_heading
from dashboard_app.web.components.native_form import native_form
from dashboard_app.web.layout import shell
from dashboard_app.web.pages.profile.api_keys import api_keys_card
from dashboard_app.web.pages.profile.details import avatar_card, details_card
from dashboard_app.web.pages.profile.security import account_card, sessions_card
from dashboard_app.web.pages.profile.state import ProfileState


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
            rx.vstack(
                details_card(ProfileState),
                api_keys_card(ProfileState),
                sessions_card(ProfileState),
                spacing="4",
                width="100%",
            ),
            rx.vstack(
                avatar_card(ProfileState),
                account_card(ProfileState),
                _data_card(),
                spacing="4",
                width="100%",
            ),
            columns=rx.breakpoints(initial="1", lg="2"),
            spacing="4",
            width="100%",
        ),
        live=ProfileState,
    )
