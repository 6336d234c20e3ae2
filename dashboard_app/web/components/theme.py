"""The light/dark theme switch, on the shell's header and on the signed-out pages."""

from __future__ import annotations

import reflex as rx
from reflex_base.style import resolved_color_mode


def theme_button() -> rx.Component:
    """An icon-only button: its accessible name says what pressing it does."""
    return rx.color_mode.button(
        aria_label=rx.cond(
            resolved_color_mode == "dark", "Switch to the light theme", "Switch to the dark theme"
        ),
    )
