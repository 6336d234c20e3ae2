"""Sign-in and sign-up pages: plain forms posted to server routes that set the session cookie."""

from __future__ import annotations

import reflex as rx

from dashboard_app.web import routes
from dashboard_app.web.components.brand import logo
from dashboard_app.web.components.forms import field_label
from dashboard_app.web.components.native_form import native_form
from dashboard_app.web.components.theme import theme_button
from dashboard_app.web.state.auth import PublicPageState


def _error_callout() -> rx.Component:
    return rx.cond(
        PublicPageState.error_message != "",
        rx.callout(
            PublicPageState.error_message,
            icon="triangle-alert",
            color_scheme="red",
            role="alert",
            data_testid="auth-error",
            width="100%",
        ),
    )


def _notice_callout() -> rx.Component:
    return rx.cond(
        PublicPageState.notice != "",
        rx.callout(
            PublicPageState.notice,
            icon="info",
            color_scheme="grass",
            role="status",
            data_testid="auth-notice",
            width="100%",
        ),
    )


def _field(label: str, name: str, type_: str, autocomplete: str, **props) -> rx.Component:
    return rx.vstack(
        field_label(label, html_for=name),
        rx.input(
            id=name,
            name=name,
            type=type_,
            auto_complete=autocomplete,
            width="100%",
            size="3",
            **props,
        ),
        spacing="1",
        width="100%",
    )


def _auth_card(title: str, subtitle: str, form: rx.Component, footer: rx.Component) -> rx.Component:
    return rx.el.main(_auth_page(title, subtitle, form, footer))


def _auth_page(title: str, subtitle: str, form: rx.Component, footer: rx.Component) -> rx.Component:
    return rx.center(
        rx.card(
            rx.vstack(
                rx.hstack(logo(), rx.heading(title, size="6"), align="center"),
                rx.text(subtitle, color_scheme="gray"),
                _notice_callout(),
                _error_callout(),
                form,
                footer,
                spacing="4",
                width="100%",
            ),
            size="4",
            width="100%",
            max_width="26rem",
        ),
        rx.box(theme_button(), position="fixed", top="1rem", right="1rem"),
        min_height="100vh",
        padding="1rem",
    )


def sign_in_page() -> rx.Component:
    form = native_form(
        rx.vstack(
            _field("Email", "email", "email", "username", required=True, max_length=320),
            _field("Password", "password", "password", "current-password", required=True),
            rx.el.input(type="hidden", name="next", value=PublicPageState.next_path),
            rx.button("Sign in", type="submit", size="3", width="100%"),
            spacing="3",
            width="100%",
        ),
        action=routes.API_SIGN_IN,
        method="post",
        width="100%",
    )
    sso = rx.cond(
        PublicPageState.sso_name != "",
        rx.vstack(
            rx.hstack(
                rx.separator(size="4"),
                rx.text("or", size="1"),
                rx.separator(size="4"),
                align="center",
                width="100%",
            ),
            # A native form: the browser must load the server route (the SPA's router would
            # take a link to it for one of its own pages).
            native_form(
                rx.el.input(type="hidden", name="next", value=PublicPageState.next_path),
                rx.button(
                    rx.icon("key-round", size=16),
                    "Sign in with ",
                    PublicPageState.sso_name,
                    variant="outline",
                    size="3",
                    width="100%",
                    type="submit",
                    data_testid="sso-button",
                ),
                action=routes.API_SSO_START,
                method="get",
                width="100%",
            ),
            width="100%",
        ),
    )
    footer = rx.vstack(
        sso,
        rx.hstack(
            rx.link("Forgot your password?", href=routes.FORGOT_PASSWORD, size="2"),
            rx.spacer(),
            rx.text(
                "New here? ",
                # Underlined: a link inside a sentence must not be told apart by colour alone.
                rx.link("Create an account", href=routes.SIGN_UP, underline="always"),
                size="2",
            ),
            width="100%",
            wrap="wrap",
        ),
        width="100%",
        spacing="3",
    )
    return _auth_card("Sign in", "Welcome back. Sign in to see your credits.", form, footer)


def forgot_password_page() -> rx.Component:
    form = native_form(
        rx.vstack(
            _field("Email", "email", "email", "username", required=True, max_length=320),
            rx.button("Send me a reset link", type="submit", size="3", width="100%"),
            spacing="3",
            width="100%",
        ),
        action=routes.API_FORGOT_PASSWORD,
        method="post",
        width="100%",
    )
    footer = rx.link("Back to sign in", href=routes.SIGN_IN, size="2")
    return _auth_card(
        "Forgot your password?", "We will mail you a link to choose a new one.", form, footer
    )


def reset_password_page() -> rx.Component:
    form = native_form(
        rx.vstack(
            rx.el.input(type="hidden", name="token", value=PublicPageState.reset_token),
            _field(
                "New password (at least 10 characters)",
                "password",
                "password",
                "new-password",
                required=True,
                min_length=10,
            ),
            rx.button("Set the new password", type="submit", size="3", width="100%"),
            spacing="3",
            width="100%",
        ),
        action=routes.API_RESET_PASSWORD,
        method="post",
        width="100%",
    )
    footer = rx.link("Back to sign in", href=routes.SIGN_IN, size="2")
    return _auth_card(
        "Choose a new password", "Every other session will be signed out.", form, footer
    )


def sign_up_page() -> rx.Component:
    form = native_form(
        rx.vstack(
            _field("Name", "display_name", "text", "name", max_length=80),
            _field("Email", "email", "email", "username", required=True, max_length=320),
            _field(
                "Password (at least 10 characters)",
                "password",
                "password",
                "new-password",
                required=True,
                min_length=10,
            ),
            rx.el.input(type="hidden", name="next", value=PublicPageState.next_path),
            rx.button("Create account", type="submit", size="3", width="100%"),
            spacing="3",
            width="100%",
        ),
        action=routes.API_SIGN_UP,
        method="post",
        width="100%",
    )
    footer = rx.text(
        "Already have an account? ",
        rx.link("Sign in", href=routes.SIGN_IN, underline="always"),
        size="2",
    )
    return _auth_card("Create your account", "Start with free credits.", form, footer)
