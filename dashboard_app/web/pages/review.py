"""Review (/review/<id>): a job's variants as they render, each with its progress, then its
video (or image) in the page; regenerate one variant, save one to the library, cancel the job
while it runs, retry it when it failed. Another member's job is "no such job", like a missing
one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import reflex as rx
from sqlmodel import Session

from dashboard_app.db import read, session_scope
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import DomainError, NotFound
from dashboard_app.domain.generation import review
from dashboard_app.engine import actions
from dashboard_app.engine.client import get_client
from dashboard_app.models.jobs import IN_FLIGHT
from dashboard_app.web import routes
from dashboard_app.web.components.cards import page_heading
from dashboard_app.web.components.jobs import (
    FORMAT_LABELS,
    platform_name,
    preset_name,
    progress_bar,
    status_badge,
    when,
)
from dashboard_app.web.layout import shell
from dashboard_app.web.media import MediaLinks
from dashboard_app.web.state.auth import AuthState, LivePage, Viewer
from dashboard_app.web.state.payloads import bad_payload, id_from_text

CATALOG = get_catalog()


@dataclass
class VariantCard:
    id: int
    number: int
    status: str
    progress: int
    error: str
    kind: str
    media_url: str
    poster_url: str
    saved: bool
    cost_note: str


def _money_note(status: str, cost: int) -> str:
    if status == "succeeded":
        return f"Charged {cost} credits"
    if status in IN_FLIGHT:
        return f"{cost} credits held until it is delivered"
    return f"{cost} credits returned"


def _load(
    session: Session, user_id: int, generation_id: object, links: dict[str, list]
) -> tuple[dict, list, dict]:
    """(job, variant cards, links kept) for the page, or NotFound."""
    media = MediaLinks(user_id, links)
    view = review.review(session=session, user_id=user_id, generation_id=generation_id)
    generation = view.generation
    cards = []
    for found in view.variants:
        variant, asset = found.variant, found.asset
        ready = asset is not None and asset.deleted_at is None
        regenerated = variant.reservation_reference.startswith("regeneration:")
        cards.append(
            VariantCard(
                id=variant.id or 0,
                number=variant.position + 1,
                status=variant.status,
                progress=variant.progress,
                error=variant.error or "",
                kind=asset.kind if ready and asset else generation.format,
                media_url=media.link(asset, "media") if ready else "",
                poster_url=media.link(asset, "poster") if ready else "",
                saved=bool(ready and asset and asset.saved_at is not None),
                cost_note=(
                    "Regeneration: " + _money_note(variant.status, variant.credits_cost)
                    if regenerated
                    else ""
                ),
            )
        )
    job = {
        "title": generation.title,
        "topic": generation.prompt,
        "status": generation.status,
        "progress": generation.progress,
        "platform": platform_name(generation.platform),
        "preset": preset_name(generation.preset),
        "format": FORMAT_LABELS.get(generation.format, generation.format),
        "money": _money_note(generation.status, generation.credits_cost),
        "created": when(generation.created_at),
        "error": generation.error or "",
        "can_cancel": generation.status in IN_FLIGHT
        or any(card.status in IN_FLIGHT for card in cards),
        "can_retry": generation.status == "failed",
    }
    return job, cards, media.kept


class ReviewState(LivePage, AuthState):
    missing: bool = False
    title: str = ""
    topic: str = ""
    status: str = ""
    progress: int = 0
    platform: str = ""
    preset: str = ""
    format: str = ""
    money: str = ""
    created: str = ""
    error: str = ""
    can_cancel: bool = False
    can_retry: bool = False
    variants: list[VariantCard] = []
    message: str = ""
    _links: dict[str, list] = {}

    def _generation_id(self) -> object:
        raw = str(self.router.url.path).rstrip("/").rsplit("/", 1)[-1]
        found = id_from_text(raw)
        return raw if found is None else found

    @rx.event
    async def load(self):
        self.message = ""
        return await self._load_page()

    async def _refresh_page(self, viewer: Viewer) -> None:
        try:
            job, cards, self._links = await read(
                _load, viewer.user_id, self._generation_id(), self._links
            )
        except NotFound:
            self.missing, self.variants, self.title = True, [], ""
            return
        self.missing = False
        self.title, self.topic, self.status = job["title"], job["topic"], job["status"]
        self.progress, self.platform, self.preset = job["progress"], job["platform"], job["preset"]
        self.format, self.money, self.created = job["format"], job["money"], job["created"]
        self.error, self.can_cancel, self.can_retry = (
            job["error"],
            job["can_cancel"],
            job["can_retry"],
        )
        self.variants = cards

    async def _act(self, work, done: str, *arguments: object):  # type: ignore[no-untyped-def]
        """Run a member action (committed, then handed to the engine) and show the page again.
        `arguments` are the handler's: a missing one is a payload of the wrong shape."""
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        if any(argument is None for argument in arguments):
            return bad_payload()
        try:
            await asyncio.to_thread(work, viewer.user_id)
        except DomainError as error:
            self.message = error.message
            return None
        self.message = ""
        await self._refresh_page(viewer)
        return rx.toast.success(done)

    @rx.event
    async def cancel(self):
        generation_id = self._generation_id()

        def work(user_id: int) -> None:
            actions.cancel(
                engine=None, client=get_client(), user_id=user_id, generation_id=generation_id
            )

        return await self._act(work, "Cancelled. The held credits are back.")

    @rx.event
    async def retry(self):
        generation_id = self._generation_id()

        def work(user_id: int) -> None:
            actions.retry(
                engine=None,
                client=get_client(),
                catalog=CATALOG,
                user_id=user_id,
                generation_id=generation_id,
            )

        return await self._act(work, "The job is queued again.")

    @rx.event
    async def regenerate(self, variant_id: int | None = None):
        def work(user_id: int) -> None:
            actions.regenerate(
                engine=None,
                client=get_client(),
                catalog=CATALOG,
                user_id=user_id,
                variant_id=variant_id,
            )

        return await self._act(work, "Rendering this variant again.", variant_id)

    @rx.event
    async def save(self, variant_id: int | None = None):
        def work(user_id: int) -> None:
            with session_scope() as session:
                review.save_variant(session=session, user_id=user_id, variant_id=variant_id)

        return await self._act(work, "Saved to your library.", variant_id)


# --- The page -----------------------------------------------------------------------------------


def _media(variant: rx.Var) -> rx.Component:
    return rx.cond(
        variant.media_url != "",
        rx.cond(
            variant.kind == "video",
            rx.el.video(
                src=variant.media_url,
                poster=variant.poster_url,
                controls=True,
                preload="metadata",
                plays_inline=True,
                aria_label="Variant " + variant.number.to(str),
                width="100%",
                style={"aspectRatio": "9 / 16", "background": "black", "borderRadius": "6px"},
                data_testid="variant-video",
            ),
            rx.image(
                src=variant.media_url,
                alt="Variant " + variant.number.to(str),
                width="100%",
                style={"aspectRatio": "9 / 16", "objectFit": "cover", "borderRadius": "6px"},
                data_testid="variant-image",
            ),
        ),
        rx.center(
            rx.cond(variant.kind == "video", rx.icon("film", size=32), rx.icon("image", size=32)),
            width="100%",
            style={"aspectRatio": "9 / 16"},
            background=rx.color("gray", 3),
            border_radius="6px",
            color=rx.color("gray", 9),
        ),
    )


def _variant_card(variant: rx.Var) -> rx.Component:
    label = "Variant " + variant.number.to(str)
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(label, size="3", as_="h2"),
                rx.spacer(),
                status_badge(variant.status, "variant-status"),
                width="100%",
                align="center",
            ),
            _media(variant),
            rx.cond(
                (variant.status == "queued") | (variant.status == "running"),
                progress_bar(variant.progress, label + " progress", "variant-progress"),
            ),
            rx.cond(
                variant.error != "",
                rx.text(variant.error, color_scheme="red", size="2", data_testid="variant-error"),
            ),
            rx.cond(
                variant.cost_note != "",
                rx.text(variant.cost_note, size="1", color_scheme="gray"),
            ),
            rx.hstack(
                rx.cond(
                    variant.saved,
                    rx.badge(
                        rx.icon("check", size=14),
                        "In your library",
                        color_scheme="grass",
                        high_contrast=True,
                        data_testid="variant-saved",
                    ),
                    rx.button(
                        rx.icon("bookmark-plus", size=14),
                        "Save to library",
                        size="1",
                        disabled=variant.media_url == "",
                        on_click=ReviewState.save(variant.id),
                        data_testid="variant-save",
                    ),
                ),
                rx.button(
                    rx.icon("refresh-cw", size=14),
                    "Regenerate",
                    size="1",
                    variant="soft",
                    disabled=(ReviewState.status != "succeeded")
                    | (variant.status == "queued")
                    | (variant.status == "running"),
                    on_click=ReviewState.regenerate(variant.id),
                    data_testid="variant-regenerate",
                ),
                wrap="wrap",
                spacing="2",
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        data_testid="variant-card",
    )


def _summary() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(ReviewState.title, size="5", data_testid="review-title"),
                rx.spacer(),
                status_badge(ReviewState.status, "review-status"),
                width="100%",
                align="center",
                wrap="wrap",
            ),
            rx.text(ReviewState.topic, color_scheme="gray", size="2"),
            rx.text(
                ReviewState.platform,
                " · ",
                ReviewState.preset,
                " · ",
                ReviewState.format,
                " · started ",
                ReviewState.created,
                size="2",
            ),
            rx.cond(
                (ReviewState.status == "queued") | (ReviewState.status == "running"),
                progress_bar(ReviewState.progress, "Job progress", "review-progress"),
            ),
            rx.text(ReviewState.money, weight="medium", data_testid="review-money"),
            rx.cond(
                ReviewState.error != "",
                rx.callout(
                    ReviewState.error,
                    icon="circle-alert",
                    color_scheme="red",
                    data_testid="review-error",
                ),
            ),
            rx.cond(
                ReviewState.message != "",
                rx.callout(
                    ReviewState.message,
                    icon="info",
                    color_scheme="amber",
                    high_contrast=True,
                    role="alert",
                    data_testid="review-message",
                ),
            ),
            rx.hstack(
                rx.cond(
                    ReviewState.can_cancel,
                    rx.button(
                        "Cancel job",
                        color_scheme="red",
                        variant="soft",
                        on_click=ReviewState.cancel,
                        data_testid="review-cancel",
                    ),
                ),
                rx.cond(
                    ReviewState.can_retry,
                    rx.button("Retry", on_click=ReviewState.retry, data_testid="review-retry"),
                ),
                rx.link("All jobs", href=routes.JOBS, size="2"),
                rx.link("Create another", href=routes.CREATE, size="2"),
                spacing="3",
                align="center",
                wrap="wrap",
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )


def review_page() -> rx.Component:
    return shell(
        page_heading("Review", "Watch your job render, then keep what you like."),
        rx.cond(
            ReviewState.missing,
            rx.callout(
                "There is no such job.",
                icon="circle-alert",
                data_testid="review-missing",
            ),
            rx.vstack(
                _summary(),
                rx.grid(
                    rx.foreach(ReviewState.variants, _variant_card),
                    columns=rx.breakpoints(initial="1", sm="2", lg="4"),
                    spacing="4",
                    width="100%",
                ),
                spacing="4",
                width="100%",
            ),
        ),
        live=ReviewState,
    )
