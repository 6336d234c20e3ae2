"""Pieces the generation pages share: a job's status in words, its progress bar, its media."""

from __future__ import annotations

from datetime import datetime

import reflex as rx

from dashboard_app.domain.catalog import get_catalog

STATUS_LABELS = {
    "queued": "Queued",
    "running": "Rendering",
    "succeeded": "Ready",
    "failed": "Failed",
    "cancelled": "Cancelled",
}
STATUS_COLOURS = {
    "queued": "gray",
    "running": "blue",
    "succeeded": "grass",
    "failed": "tomato",
    "cancelled": "gray",
}
FORMAT_LABELS = {"video": "Short video", "image": "Image"}


def platform_name(code: str) -> str:
    platform = get_catalog().platforms.get(code)
    return platform.name if platform else code


def preset_name(code: str) -> str:
    preset = get_catalog().presets.get(code)
    return preset.name if preset else code


def when(moment: datetime | None) -> str:
    return f"{moment:%d %b %Y, %H:%M} UTC" if moment else ""


def status_badge(status: rx.Var, testid: str = "job-status") -> rx.Component:
    return rx.badge(
        rx.match(status, *STATUS_LABELS.items(), status),
        color_scheme=rx.match(status, *STATUS_COLOURS.items(), "gray"),
        variant="soft",
        high_contrast=True,
        data_testid=testid,
    )


def progress_bar(value: rx.Var, label: rx.Var | str, testid: str) -> rx.Component:
    """A bar and its figure; the figure is what tests and screen readers read."""
    return rx.hstack(
        rx.progress(value=value.to(int), aria_label=label, width="100%"),
        rx.text(value.to(str) + "%", size="1", data_testid=testid, min_width="3em"),
        align="center",
        width="100%",
        spacing="2",
    )
