"""Create's page: the form, the quote beside it, and the open drafts."""

from __future__ import annotations

import reflex as rx

from dashboard_app.web import routes
from dashboard_app.web.components.cards import page_heading
from dashboard_app.web.components.forms import field_label, status_text
from dashboard_app.web.components.jobs import FORMAT_LABELS
from dashboard_app.web.layout import shell
from dashboard_app.web.pages.create.state import CATALOG, VARIANT_CHOICES, CreateState

# The form has two ways out: the hidden `intent` says which button sent it.
SAVE_AS_DRAFT = """
const form = document.getElementById("create-form");
const intent = document.getElementById("create-intent");
intent.value = "draft";
form.requestSubmit();
intent.value = "submit";
"""


def _field_error(name: str) -> rx.Component:
    return rx.cond(
        CreateState.field_errors.contains(name),
        rx.text(
            CreateState.field_errors[name],
            color_scheme="red",
            size="1",
            data_testid=f"error-{name}",
        ),
    )


def _select(name: str, label: str, items: dict[str, str], **props) -> rx.Component:
    return rx.vstack(
        field_label(label, html_for=name),
        rx.select.root(
            rx.select.trigger(id=name, width="100%"),
            rx.select.content(*[rx.select.item(text, value=code) for code, text in items.items()]),
            name=name,
            **props,
        ),
        _field_error(name),
        spacing="1",
        width="100%",
    )


def _format_choice() -> rx.Component:
    return rx.vstack(
        rx.el.span("Format", id="format-label", style={"fontWeight": 500, "fontSize": "14px"}),
        rx.radio_group.root(
            rx.hstack(
                *[
                    rx.el.label(
                        rx.hstack(
                            rx.radio_group.item(
                                value=code,
                                disabled=~CreateState.formats.contains(code),
                                aria_label=text,
                            ),
                            rx.text(text, size="2"),
                            align="center",
                            spacing="1",
                        ),
                    )
                    for code, text in FORMAT_LABELS.items()
                ],
                spacing="4",
            ),
            name="format",
            value=CreateState.format,
            on_change=CreateState.choose_format,
            aria_labelledby="format-label",
        ),
        _field_error("format"),
        spacing="1",
    )


def _quote_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Cost", size="4"),
            rx.hstack(
                rx.text("This job costs", size="2"),
                rx.text(CreateState.cost, weight="bold", data_testid="quote-cost"),
                rx.text("credits.", size="2"),
                spacing="1",
                align="baseline",
            ),
            rx.hstack(
                rx.text("You have", size="2"),
                rx.text(CreateState.available, weight="bold", data_testid="quote-available"),
                rx.text("credits available.", size="2"),
                spacing="1",
                align="baseline",
            ),
            rx.hstack(
                rx.text("Your plan has", size="2"),
                rx.text(CreateState.pool_minutes_left, weight="bold", data_testid="quote-pool"),
                rx.text(
                    "minutes of processing left this month (refills on ",
                    CreateState.pool_resets,
                    ").",
                    size="2",
                ),
                spacing="1",
                align="baseline",
                wrap="wrap",
            ),
            rx.cond(
                CreateState.short_by > 0,
                rx.callout(
                    rx.hstack(
                        rx.text("You need ", CreateState.short_by, " more credits."),
                        rx.link("Buy credits", href=routes.BILLING, underline="always"),
                        spacing="2",
                        wrap="wrap",
                    ),
                    icon="triangle-alert",
                    color_scheme="amber",
                    high_contrast=True,
                    data_testid="quote-short",
                ),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )


def _form_card() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.el.input(type="hidden", name="key", value=CreateState.form_token),
                rx.el.input(
                    type="hidden", name="intent", id="create-intent", default_value="submit"
                ),
                rx.vstack(
                    field_label("Topic or description", html_for="topic"),
                    rx.text_area(
                        id="topic",
                        name="topic",
                        default_value=CreateState.topic,
                        placeholder="What is the reel about?",
                        rows="4",
                        width="100%",
                    ),
                    _field_error("topic"),
                    spacing="1",
                    width="100%",
                ),
                rx.vstack(
                    field_label("Title (optional)", html_for="title"),
                    rx.input(
                        id="title",
                        name="title",
                        default_value=CreateState.title,
                        max_length=120,
                        width="100%",
                    ),
                    _field_error("title"),
                    spacing="1",
                    width="100%",
                ),
                rx.grid(
                    _select(
                        "platform",
                        "Platform",
                        {code: p.name for code, p in CATALOG.platforms.items()},
                        default_value=CreateState.platform,
                    ),
                    _select(
                        "preset",
                        "Preset",
                        {
                            code: f"{p.name}: {p.description} ({p.credits_per_variant} credits)"
                            for code, p in CATALOG.presets.items()
                        },
                        value=CreateState.preset,
                        on_change=CreateState.choose_preset,
                    ),
                    _select(
                        "variants",
                        "Variants",
                        {n: n for n in VARIANT_CHOICES},
                        value=CreateState.variants,
                        on_change=CreateState.choose_variants,
                    ),
                    columns=rx.breakpoints(initial="1", sm="3"),
                    spacing="3",
                    width="100%",
                ),
                _format_choice(),
                rx.cond(
                    CreateState.error != "",
                    rx.callout(
                        CreateState.error,
                        icon="circle-alert",
                        color_scheme="red",
                        role="alert",
                        data_testid="create-error",
                        width="100%",
                    ),
                ),
                rx.hstack(
                    rx.button(
                        rx.icon("sparkles", size=16),
                        "Create",
                        type="submit",
                        data_testid="create-submit",
                    ),
                    rx.button(
                        "Save as draft",
                        type="button",
                        variant="soft",
                        on_click=rx.call_script(SAVE_AS_DRAFT),
                        data_testid="save-draft",
                    ),
                    status_text(CreateState.saved, "draft-saved", error=False),
                    align="center",
                    wrap="wrap",
                ),
                spacing="3",
                width="100%",
            ),
            id="create-form",
            on_submit=CreateState.submit_form,
            key=CreateState.form_key,
            width="100%",
        ),
        width="100%",
    )


def _draft_row(draft: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.vstack(
            rx.link(draft.title, href=draft.href, weight="medium"),
            rx.text(draft.platform, " · saved ", draft.updated, size="1", color_scheme="gray"),
            spacing="0",
        ),
        rx.spacer(),
        rx.icon_button(
            rx.icon("trash-2", size=14),
            variant="ghost",
            color_scheme="gray",
            aria_label="Delete draft " + draft.title,
            on_click=CreateState.delete_draft(draft.id),
        ),
        width="100%",
        align="center",
        data_testid="draft-row",
    )


def _drafts_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Your drafts", size="4"),
            rx.cond(
                CreateState.drafts.length() > 0,
                rx.foreach(CreateState.drafts, _draft_row),
                rx.text("No drafts. Save a form as a draft to finish it later.", size="2"),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )


def create_page() -> rx.Component:
    return shell(
        page_heading("Create", "A new short video or image, rendered while you watch."),
        rx.grid(
            # Shown once the form has started (from a draft or the member's defaults).
            rx.cond(CreateState.form_token != "", _form_card(), rx.spinner(size="3")),
            rx.vstack(_quote_card(), _drafts_card(), spacing="4", width="100%"),
            columns=rx.breakpoints(initial="1", lg="2"),
            spacing="4",
            width="100%",
        ),
        live=CreateState,
    )
