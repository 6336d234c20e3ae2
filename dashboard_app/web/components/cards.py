"""Small stateless pieces shared by the pages."""

from __future__ import annotations

import reflex as rx


def stat_card(label: str, value: rx.Var | str | int, testid: str, hint: str = "") -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(label, size="2", color_scheme="gray"),
            rx.heading(value, size="7", data_testid=testid),
            rx.cond(hint != "", rx.text(hint, size="1", color_scheme="gray")),
            spacing="1",
        ),
        width="100%",
    )


def empty_state(icon: str, title: str, body: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.icon(icon, size=32, color=rx.color("gray", 9)),
            rx.heading(title, size="4"),
            rx.text(body, color_scheme="gray", text_align="center"),
            align="center",
            spacing="2",
            padding="1.5rem",
        ),
        width="100%",
    )


def page_heading(title: str, subtitle: str = "") -> rx.Component:
    return rx.vstack(
        rx.heading(title, size="7"),
        rx.cond(subtitle != "", rx.text(subtitle, color_scheme="gray")),
        spacing="1",
        margin_bottom="1rem",
    )
