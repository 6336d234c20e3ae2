"""The signed-in shell: sidebar (a drawer on phones), header with credits and theme switch."""

from __future__ import annotations

import reflex as rx
from reflex_base.style import set_color_mode

from dashboard_app.web import routes
from dashboard_app.web.components.brand import logo
from dashboard_app.web.components.live_nudge import live_nudge
from dashboard_app.web.components.native_form import native_form
from dashboard_app.web.components.theme import theme_button
from dashboard_app.web.state.auth import AuthState

NAV_ICONS = {
    "Overview": "layout-dashboard",
    "Create": "sparkles",
    "Jobs": "list-todo",
    "Library": "images",
    "Billing": "credit-card",
    "Profile": "user",
    "Admin": "shield",
}


def _nav_icon(label: rx.Var) -> rx.Component:
    return rx.match(
        label,
        *[(name, rx.icon(icon, size=18)) for name, icon in NAV_ICONS.items()],
        rx.icon("circle", size=18),
    )


def _nav_item(link: rx.Var) -> rx.Component:
    path = AuthState.router.url.path
    # The production build serves every page but the root with a trailing slash.
    active = (path == link["href"]) | (path == link["href"].to(str) + "/")
    return rx.link(
        rx.hstack(_nav_icon(link["label"]), rx.text(link["label"]), spacing="3", align="center"),
        href=link["href"],
        underline="none",
        padding_x="0.75rem",
        padding_y="0.5rem",
        border_radius="var(--radius-2)",
        width="100%",
        color=rx.cond(active, rx.color("accent", 11), rx.color("gray", 12)),
        background=rx.cond(active, rx.color("accent", 3), "transparent"),
        _hover={"background": rx.color("accent", 4)},
        data_testid="nav-" + link["label"].to(str).lower(),
    )


def _nav_list() -> rx.Component:
    # Radix's Flex ignores `as_`: the landmark needs a real <nav>.
    return rx.el.nav(
        rx.vstack(rx.foreach(AuthState.nav_links, _nav_item), spacing="1", width="100%"),
        aria_label="Main",
        width="100%",
    )


def _brand() -> rx.Component:
    return rx.hstack(
        logo(),
        rx.heading("Dashboard", size="5"),
        align="center",
        spacing="2",
    )


def sidebar() -> rx.Component:
    return rx.el.aside(
        rx.vstack(_brand(), rx.divider(), _nav_list(), spacing="4", padding="1rem", width="100%"),
        display=["none", "none", "block"],
        width="15rem",
        min_width="15rem",
        height="100vh",
        position="sticky",
        top="0",
        border_right=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 2),
    )


def mobile_menu() -> rx.Component:
    return rx.box(
        rx.drawer.root(
            rx.drawer.trigger(
                rx.icon_button(rx.icon("menu"), variant="ghost", aria_label="Open menu")
            ),
            rx.drawer.overlay(z_index="5"),
            rx.drawer.portal(
                rx.drawer.content(
                    rx.vstack(
                        rx.hstack(
                            _brand(),
                            rx.spacer(),
                            rx.drawer.close(
                                rx.icon_button(rx.icon("x"), variant="ghost", aria_label="Close")
                            ),
                            width="100%",
                        ),
                        _nav_list(),
                        spacing="4",
                        padding="1rem",
                    ),
                    top="auto",
                    left="0",
                    height="100%",
                    width="16rem",
                    background=rx.color("gray", 1),
                    aria_label="Menu",
                ),
            ),
            direction="left",
        ),
        display=["block", "block", "none"],
    )


def sign_out_button() -> rx.Component:
    return native_form(
        rx.button(rx.icon("log-out", size=16), "Sign out", variant="soft", type="submit"),
        action=routes.API_SIGN_OUT,
        method="post",
    )


def header() -> rx.Component:
    # Radix's Flex ignores `as_`: the landmark needs a real <header>.
    return rx.el.header(header_bar(), width="100%")


def header_bar() -> rx.Component:
    return rx.hstack(
        mobile_menu(),
        rx.spacer(),
        rx.link(
            rx.badge(
                rx.icon("coins", size=16),
                rx.text(AuthState.available_credits, data_testid="header-credits"),
                rx.text("credits", display=["none", "inline"]),
                size="3",
                variant="soft",
            ),
            href=routes.CREDITS,
            title="Available credits: see the history",
            underline="none",
        ),
        rx.text(
            AuthState.member_name,
            weight="medium",
            data_testid="header-member",
            display=["none", "inline"],
        ),
        theme_button(),
        sign_out_button(),
        align="center",
        spacing="3",
        padding_x="1rem",
        padding_y="0.75rem",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
        width="100%",
    )


def banners() -> rx.Component:
    """A one-off notice (from a link the member followed) and the unverified-email reminder."""
    return rx.vstack(
        rx.cond(
            AuthState.notice != "",
            rx.callout(
                rx.hstack(
                    rx.text(AuthState.notice),
                    rx.spacer(),
                    rx.icon_button(
                        rx.icon("x", size=14),
                        variant="ghost",
                        size="1",
                        on_click=AuthState.dismiss_notice,
                        aria_label="Dismiss",
                    ),
                    width="100%",
                ),
                icon="info",
                role="status",
                data_testid="page-notice",
                width="100%",
            ),
        ),
        rx.cond(
            AuthState.email_unverified,
            rx.callout(
                rx.hstack(
                    rx.text(
                        "Confirm your email address with the link we mailed to ",
                        AuthState.member_email,
                        ".",
                    ),
                    native_form(
                        rx.button(
                            "Send it again",
                            variant="soft",
                            size="1",
                            type="submit",
                            high_contrast=True,
                        ),
                        action=routes.API_RESEND_VERIFICATION,
                        method="post",
                    ),
                    wrap="wrap",
                    align="center",
                ),
                icon="mail",
                color_scheme="amber",
                # Amber text on amber is too pale in the light theme.
                high_contrast=True,
                data_testid="unverified-banner",
                width="100%",
            ),
        ),
        width="100%",
        spacing="2",
    )


def shell(*content: rx.Component, live: type[AuthState] = AuthState) -> rx.Component:
    """The page inside the shell, shown only once the member's session is confirmed.
    `live` is the page's state: its `poll_live` runs when the server pushes a nudge (something
    the page shows has changed), never on a timer: an idle tab sends nothing."""
    return rx.cond(
        AuthState.signed_in,
        rx.hstack(
            # The tab itself asks for the change, with its own cookie.
            live_nudge(nudge=AuthState.live_nudge, poll=live.poll_live(AuthState.live_nudge)),
            rx.cond(
                AuthState.theme_to_apply != "",
                rx.box(
                    on_mount=set_color_mode(AuthState.theme_to_apply),
                    key=AuthState.theme_to_apply,
                    display="none",
                ),
            ),
            sidebar(),
            rx.box(
                header(),
                rx.el.main(
                    banners(),
                    *content,
                    padding=["1rem", "1rem", "1.5rem"],
                    max_width="72rem",
                    width="100%",
                ),
                flex="1",
                min_width="0",
            ),
            spacing="0",
            align="start",
            width="100%",
        ),
        rx.center(rx.spinner(size="3"), height="100vh"),
    )
