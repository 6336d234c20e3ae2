"""Create's state: the form's start (a draft or the member's defaults), the quote, submit and
save as draft, the open drafts."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

import reflex as rx
from pydantic import ConfigDict

from dashboard_app.db import session_scope
from dashboard_app.domain import profiles
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import DomainError
from dashboard_app.domain.generation import drafts, submit
from dashboard_app.engine import actions
from dashboard_app.engine.client import get_client
from dashboard_app.web import routes
from dashboard_app.web.components.jobs import platform_name, when
from dashboard_app.web.state.auth import AuthState, LivePage, Viewer
from dashboard_app.web.state.payloads import Payload, bad_payload, id_from_text, read_payload

CATALOG = get_catalog()
PRESET_FORMATS = {code: list(preset.formats) for code, preset in CATALOG.presets.items()}
VARIANT_CHOICES = [str(n) for n in range(1, CATALOG.generation.max_variants + 1)]
FIRST_PRESET = next(iter(CATALOG.presets))
FIRST_PLATFORM = next(iter(CATALOG.platforms))
FORM_FIELDS = ("topic", "title", "platform", "preset", "format", "variants")


class CreateForm(Payload):
    # Long enough that an over-long topic reaches the domain, which says what the limit is.
    model_config = ConfigDict(extra="ignore", frozen=True, str_max_length=12_000)

    intent: str = "submit"  # or "draft"
    key: str = ""
    title: str = ""
    topic: str = ""
    platform: str = ""
    preset: str = ""
    format: str = ""
    variants: str | int = ""


def _count(value: str | int) -> object:
    """The form sends the number of variants as text; anything but digits stays as sent and
    the domain refuses it with its message."""
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 3:
        return int(value.strip())
    return value


@dataclass(frozen=True)
class Start:
    """What the form starts from: a draft, or the member's defaults."""

    draft_id: int | None
    title: str
    topic: str
    platform: str
    preset: str
    format: str
    variants: str
    error: str = ""


def _start(user_id: int, draft_param: str | None) -> Start:
    with session_scope() as session:
        profile = profiles.get_profile(session=session, user_id=user_id)
        platform = profile.default_platform or FIRST_PLATFORM
        if draft_param:
            try:
                draft = drafts.get_draft(
                    session=session,
                    user_id=user_id,
                    draft_id=id_from_text(draft_param),
                )
            except DomainError as error:
                return Start(None, "", "", platform, FIRST_PRESET, "video", "1", error.message)
            if draft.submitted_at is None:
                options = draft.options or {}
                preset = options.get("preset") or FIRST_PRESET
                return Start(
                    draft_id=draft.id,
                    title=draft.title,
                    topic=draft.prompt,
                    platform=draft.platform or platform,
                    preset=preset,
                    format=options.get("format") or PRESET_FORMATS[preset][0],
                    variants=str(options.get("variants") or 1),
                )
        return Start(None, "", "", platform, FIRST_PRESET, "video", "1")


def _quote(user_id: int, preset: str, variants: int) -> submit.Quote:
    with session_scope() as session:
        return submit.quote(
            session=session, user_id=user_id, catalog=CATALOG, preset=preset, variants=variants
        )


@dataclass
class DraftRow:
    id: int
    title: str
    platform: str
    updated: str
    href: str


def _open_drafts(user_id: int) -> list[DraftRow]:
    with session_scope() as session:
        return [
            DraftRow(
                id=draft.id or 0,
                title=draft.title or draft.prompt[:60] or "Untitled draft",
                platform=platform_name(draft.platform) if draft.platform else "No platform",
                updated=when(draft.updated_at),
                href=routes.draft_url(draft.id or 0),
            )
            for draft in drafts.open_drafts(session=session, user_id=user_id, limit=10)
        ]


class CreateState(LivePage, AuthState):
    # The form as it starts (inputs are re-mounted with `form_key` when it is reset).
    title: str = ""
    topic: str = ""
    platform: str = FIRST_PLATFORM
    preset: str = FIRST_PRESET
    format: str = "video"
    variants: str = "1"
    # One token per form: submitting it twice (a double click, a resent form) makes one job.
    form_token: str = ""
    form_key: int = 0
    draft_id: str = ""
    # The quote.
    cost: int = 0
    available: int = 0
    pool_minutes_left: int = 0
    pool_resets: str = ""
    short_by: int = 0
    error: str = ""
    saved: str = ""
    formats: list[str] = PRESET_FORMATS[FIRST_PRESET]
    field_errors: dict[str, str] = {}
    drafts: list[DraftRow] = []
    # The `draft` parameter the form started from ("": none). Arriving on the page starts the
    # form again (its inputs re-mounted) only when the address names another draft, or the form
    # shown is tied to a draft the address does not name: never under the member's typing, and
    # never on the live check's reloads.
    _started_from: str | None = None
    _arriving: bool = False

    @rx.event
    async def load(self):
        self._arriving = True
        return await self._load_page()

    async def _refresh_page(self, viewer: Viewer) -> None:
        arriving, self._arriving = self._arriving, False
        wanted = str(self.router.url.query_parameters.get("draft") or "")[:20]
        elsewhere = wanted != self._started_from or self.draft_id not in ("", wanted)
        if arriving:  # the last visit's messages are not this visit's
            self.error, self.field_errors, self.saved = "", {}, ""
        if not self.form_token or (arriving and elsewhere):
            await self._start_form(viewer, wanted)
        await self._refresh_quote(viewer)
        self.drafts = await asyncio.to_thread(_open_drafts, viewer.user_id)

    async def _start_form(self, viewer: Viewer, param: str) -> None:
        start = await asyncio.to_thread(_start, viewer.user_id, param)
        self.title, self.topic, self.platform = start.title, start.topic, start.platform
        self.preset, self.format, self.variants = start.preset, start.format, start.variants
        self.formats = PRESET_FORMATS[self.preset]
        self.draft_id = str(start.draft_id or "")
        self.error, self.field_errors, self.saved = start.error, {}, ""
        self.form_token = secrets.token_urlsafe(16)
        self.form_key += 1
        self._started_from = param

    async def _refresh_quote(self, viewer: Viewer) -> None:
        quote = await asyncio.to_thread(_quote, viewer.user_id, self.preset, int(self.variants))
        self.cost, self.available = quote.cost, quote.available_credits
        self.pool_minutes_left = quote.pool_minutes_left
        self.pool_resets = f"{quote.pool_resets_at:%d %B %Y}"
        self.short_by = max(0, quote.cost - quote.available_credits)

    async def _choose(self, name: str, value: object, allowed: list[str], message: str):
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        if value is None:
            return bad_payload()
        if not isinstance(value, str) or value not in allowed:
            self.field_errors = {name: message}
            return None
        setattr(self, name, value)
        self.formats = PRESET_FORMATS[self.preset]
        if self.format not in self.formats:
            self.format = self.formats[0]
        self.field_errors = {}
        await self._refresh_quote(viewer)
        return None

    @rx.event
    async def choose_preset(self, value: str | None = None):
        return await self._choose("preset", value, list(PRESET_FORMATS), "Choose a listed preset")

    @rx.event
    async def choose_format(self, value: str | None = None):
        allowed = PRESET_FORMATS.get(self.preset, [])
        return await self._choose("format", value, allowed, "This preset does not make that")

    @rx.event
    async def choose_variants(self, value: str | None = None):
        most = CATALOG.generation.max_variants
        return await self._choose("variants", value, VARIANT_CHOICES, f"Choose 1 to {most}")

    @rx.event
    async def submit_form(self, form: dict | None = None):
        """Submit the job, or save the form as a draft (`intent`)."""
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        fields = read_payload(CreateForm, form)
        if fields is None:
            return bad_payload()
        values = {
            "title": fields.title,
            "topic": fields.topic,
            "platform": fields.platform,
            "preset": fields.preset,
            "format": fields.format,
            "variants": _count(fields.variants),
        }
        draft_id = int(self.draft_id) if self.draft_id else None
        if fields.intent == "draft":
            return await self._save_draft(viewer, draft_id, values)

        def work() -> int:
            submitted = actions.submit_and_enqueue(
                engine=None,
                client=get_client(),
                catalog=CATALOG,
                user_id=viewer.user_id,
                idempotency_key=fields.key,
                draft_id=draft_id,
                **values,
            )
            assert submitted.generation.id is not None
            return submitted.generation.id

        try:
            generation_id = await asyncio.to_thread(work)
        except DomainError as error:
            self._refused(error)
            return None
        # This form is spent: the next visit starts a new one (and token). Nothing more is read
        # before the member is taken to the review page.
        self.form_token = ""
        return rx.redirect(routes.review_path(generation_id))

    def _refused(self, error: DomainError) -> None:
        """A field's message by the field, anything else (a limit, credits) above the buttons."""
        self.saved = ""
        if error.field in FORM_FIELDS:
            self.error, self.field_errors = "", {str(error.field): error.message}
        else:
            self.error, self.field_errors = error.message, {}

    async def _save_draft(self, viewer: Viewer, draft_id: int | None, values: dict):
        def work() -> int:
            with session_scope() as session:
                draft = drafts.save_draft(
                    session=session,
                    user_id=viewer.user_id,
                    catalog=CATALOG,
                    draft_id=draft_id,
                    **values,
                )
                assert draft.id is not None
                return draft.id

        try:
            saved_id = await asyncio.to_thread(work)
        except DomainError as error:
            self._refused(error)
            return None
        self.draft_id = str(saved_id)
        self.error, self.field_errors, self.saved = "", {}, "Draft saved."
        self.drafts = await asyncio.to_thread(_open_drafts, viewer.user_id)
        return None

    @rx.event
    async def delete_draft(self, draft_id: int | None = None):
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        if draft_id is None:
            return bad_payload()

        def work() -> None:
            with session_scope() as session:
                drafts.delete_draft(session=session, user_id=viewer.user_id, draft_id=draft_id)

        try:
            await asyncio.to_thread(work)
        except DomainError as error:
            self.error = error.message
            return None
        if self.draft_id == str(draft_id):
            self.draft_id = ""
        self.drafts = await asyncio.to_thread(_open_drafts, viewer.user_id)
        return rx.toast.success("Draft deleted.")
