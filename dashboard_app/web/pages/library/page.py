"""The library's page: filters, the grid of saved results, their edit dialog and actions."""

from __future__ import annotations

import reflex as rx

from dashboard_app.web.components.cards import page_heading
from dashboard_app.web.components.forms import field_label
from dashboard_app.web.layout import shell
from dashboard_app.web.pages.library.state import (
    FORMAT_CHOICES,
    PLATFORM_CHOICES,
    LibraryState,
)


def _filter_select(name: str, label: str, choices: dict[str, str], value: rx.Var) -> rx.Component:
    return rx.vstack(
        field_label(label, html_for=f"filter-{name}"),
        rx.select.root(
            rx.select.trigger(id=f"filter-{name}"),
            rx.select.content(
                *[rx.select.item(text, value=code) for code, text in choices.items()]
            ),
            name=name,
            default_value=value,
        ),
        spacing="1",
    )


def _filters_bar() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.vstack(
                field_label("Search", html_for="filter-search"),
                rx.input(
                    id="filter-search",
                    name="search",
                    default_value=LibraryState.search,
                    placeholder="Title or tag",
                    max_length=200,
                ),
                spacing="1",
            ),
            _filter_select("platform", "Platform", PLATFORM_CHOICES, LibraryState.platform),
            _filter_select("kind", "Format", FORMAT_CHOICES, LibraryState.kind),
            rx.vstack(
                field_label("Tag", html_for="filter-tag"),
                rx.input(
                    id="filter-tag", name="tag", default_value=LibraryState.tag, max_length=40
                ),
                spacing="1",
            ),
            rx.button("Apply", type="submit", data_testid="library-apply"),
            rx.button("Clear", type="button", variant="soft", on_click=LibraryState.clear_filters),
            align="end",
            wrap="wrap",
            spacing="3",
        ),
        on_submit=LibraryState.apply_filters,
        key=LibraryState.filter_key,
        margin_bottom="1rem",
    )


def _edit_dialog(card: rx.Var) -> rx.Component:
    return rx.dialog.root(
        rx.dialog.trigger(
            rx.button("Edit", size="1", variant="soft", data_testid="library-edit"),
        ),
        rx.dialog.content(
            rx.dialog.title("Edit " + card.title),
            rx.dialog.description("Rename it and give it tags, separated by commas.", size="2"),
            rx.form(
                rx.vstack(
                    rx.el.input(type="hidden", name="asset_id", value=card.id.to(str)),
                    field_label("Title", html_for="edit-title-" + card.id.to(str)),
                    rx.input(
                        id="edit-title-" + card.id.to(str),
                        name="title",
                        default_value=card.title,
                        max_length=120,
                        width="100%",
                    ),
                    field_label("Tags", html_for="edit-tags-" + card.id.to(str)),
                    rx.input(
                        id="edit-tags-" + card.id.to(str),
                        name="tags",
                        default_value=card.tags,
                        placeholder="morning, calm",
                        width="100%",
                    ),
                    rx.hstack(
                        rx.dialog.close(rx.button("Cancel", type="button", variant="soft")),
                        rx.dialog.close(rx.button("Save", type="submit")),
                        justify="end",
                        width="100%",
                    ),
                    spacing="2",
                ),
                on_submit=LibraryState.save_edit,
            ),
        ),
    )


def _library_card(card: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.image(
                src=card.thumbnail_url,
                alt=card.title,
                width="100%",
                style={"aspectRatio": "9 / 16", "objectFit": "cover", "borderRadius": "6px"},
            ),
            rx.text(card.title, weight="medium", data_testid="library-title"),
            rx.text(card.platform, " · ", card.kind, size="1", color_scheme="gray"),
            rx.cond(card.tags != "", rx.text(card.tags, size="1", data_testid="library-tags")),
            rx.hstack(
                rx.button(
                    rx.icon("download", size=14),
                    "Download",
                    size="1",
                    on_click=LibraryState.download(card.id, LibraryState.download_token),
                    data_testid="library-download",
                ),
                _edit_dialog(card),
                rx.button(
                    "Delete",
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    on_click=LibraryState.delete(card.id),
                    aria_label="Delete " + card.title,
                    data_testid="library-delete",
                ),
                wrap="wrap",
                spacing="2",
            ),
            spacing="2",
            width="100%",
        ),
        data_testid="library-item",
        width="100%",
    )


def library_page() -> rx.Component:
    return shell(
        page_heading("Library", "The results you saved, newest first."),
        _filters_bar(),
        rx.cond(
            LibraryState.error != "",
            rx.callout(
                LibraryState.error,
                icon="circle-alert",
                color_scheme="red",
                role="alert",
                data_testid="library-error",
                margin_bottom="1rem",
            ),
        ),
        rx.cond(
            LibraryState.message != "",
            rx.callout(
                LibraryState.message,
                icon="info",
                color_scheme="amber",
                high_contrast=True,
                role="alert",
                data_testid="library-message",
                margin_bottom="1rem",
            ),
        ),
        rx.cond(
            LibraryState.items.length() > 0,
            rx.grid(
                rx.foreach(LibraryState.items, _library_card),
                columns=rx.breakpoints(initial="2", sm="3", lg="4"),
                spacing="4",
                width="100%",
            ),
            rx.text(
                "Nothing here yet. Save a result from its review page to keep it.",
                color_scheme="gray",
                data_testid="library-empty",
            ),
        ),
        rx.cond(
            LibraryState.has_more,
            rx.button(
                "Load more", on_click=LibraryState.load_more, variant="soft", margin_top="1rem"
            ),
        ),
        live=LibraryState,
    )
