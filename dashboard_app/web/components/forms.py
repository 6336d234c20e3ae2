"""Form pieces shared by the pages: labels and the short message under a form."""

from __future__ import annotations

import reflex as rx

LABEL_STYLE = {"fontWeight": 500, "fontSize": "14px"}


def field_label(text: str, html_for: str | None = None) -> rx.Component:
    return rx.el.label(text, html_for=html_for, style=LABEL_STYLE)


def status_text(message: rx.Var, testid: str, *, error: bool = True) -> rx.Component:
    """`message` in red (an error) or green (a success), shown only when it is not empty."""
    return rx.cond(
        message != "",
        rx.text(message, color_scheme="red" if error else "grass", size="2", data_testid=testid),
    )
