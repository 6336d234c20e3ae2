"""The library's state: filters, cursor pages kept while new results arrive, edits, deletes and
downloads counted as exports."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

import reflex as rx
from sqlmodel import Session

from dashboard_app.db import read, session_scope
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import DomainError
from dashboard_app.domain.generation import downloads, library
from dashboard_app.models import Asset
from dashboard_app.web.components.jobs import FORMAT_LABELS, platform_name, when
from dashboard_app.web.media import MediaLinks, download_link
from dashboard_app.web.state.auth import AuthState, LivePage, Viewer
from dashboard_app.web.state.payloads import Payload, bad_payload, id_from_text, read_payload

CATALOG = get_catalog()
PAGE_SIZE = 24
ANY = "any"  # a select's "no filter" (Radix selects cannot hold an empty value)
PLATFORM_CHOICES = {ANY: "All platforms", **{c: p.name for c, p in CATALOG.platforms.items()}}
FORMAT_CHOICES = {ANY: "All formats", "video": "Videos", "image": "Images"}


@dataclass
class LibraryCard:
    id: int
    title: str
    tags: str
    platform: str
    kind: str
    saved: str
    thumbnail_url: str


class Filters(Payload):
    search: str = ""
    platform: str = ANY
    kind: str = ANY
    tag: str = ""


class EditForm(Payload):
    asset_id: int | str = ""
    title: str = ""
    tags: str = ""


def _filters(filters: Filters) -> dict[str, object]:
    """The library's filters from the form (`None`: not filtered)."""
    return {
        "search": filters.search.strip() or None,
        "platform": None if filters.platform == ANY else filters.platform,
        "kind": None if filters.kind == ANY else filters.kind,
        "tag": filters.tag.strip() or None,
    }


def _card(asset: Asset, media: MediaLinks) -> LibraryCard:
    return LibraryCard(
        id=asset.id or 0,
        title=asset.title,
        tags=", ".join(asset.tags or []),
        platform=platform_name(asset.platform),
        kind=FORMAT_LABELS.get(asset.kind, asset.kind),
        saved=when(asset.saved_at),
        thumbnail_url=media.link(asset, "thumbnail"),
    )


def _fetch(
    session: Session,
    user_id: int,
    filters: dict[str, object],
    cursor: str | None,
    links: dict[str, list],
) -> tuple[list[LibraryCard], str | None, dict[str, list]]:
    media = MediaLinks(user_id, links)
    page = library.list_library(
        session=session,
        user_id=user_id,
        catalog=CATALOG,
        cursor=cursor,
        limit=PAGE_SIZE,
        **filters,
    )
    return [_card(asset, media) for asset in page.items], page.next_cursor, media.kept


class LibraryState(LivePage, AuthState):
    items: list[LibraryCard] = []
    has_more: bool = False
    search: str = ""
    platform: str = ANY
    kind: str = ANY
    tag: str = ""
    error: str = ""
    message: str = ""
    filter_key: int = 0
    # One token per download button press: the same press sent twice counts one export.
    download_token: str = ""
    _filters: dict[str, object] = {}
    _cursor: str | None = None
    _first_page_cursor: str | None = None
    _links: dict[str, list] = {}

    @rx.event
    async def load(self):
        self.error, self.message = "", ""
        self.download_token = secrets.token_urlsafe(16)
        return await self._load_page()

    async def _refresh_page(self, viewer: Viewer) -> None:
        """The first page read again; pages loaded below it stay, without repeats, and
        `load_more` goes on from where they end."""
        fresh, cursor, self._links = await read(
            _fetch, viewer.user_id, self._filters, None, self._links
        )
        more_loaded = len(self.items) > PAGE_SIZE
        if not more_loaded:
            self.items, self._cursor = fresh, cursor
        else:
            seen = {card.id for card in fresh}
            self.items = fresh + [c for c in self.items[PAGE_SIZE:] if c.id not in seen]
        self.has_more = self._cursor is not None

    @rx.event
    async def apply_filters(self, form: dict | None = None):
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        filters = read_payload(Filters, form)
        if filters is None:
            return bad_payload()
        await self._apply(viewer, filters)
        return None

    @rx.event
    async def clear_filters(self):
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        self.filter_key += 1  # the form's inputs show the cleared values
        await self._apply(viewer, Filters())
        return None

    async def _apply(self, viewer: Viewer, filters: Filters) -> None:
        wanted = _filters(filters)
        try:
            items, cursor, self._links = await read(
                _fetch, viewer.user_id, wanted, None, self._links
            )
        except DomainError as error:
            self.error = error.message
            return
        self.search, self.platform, self.kind, self.tag = (
            filters.search,
            filters.platform,
            filters.kind,
            filters.tag,
        )
        self.error, self._filters = "", wanted
        self.items, self._cursor, self.has_more = items, cursor, cursor is not None

    @rx.event
    async def load_more(self):
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        if self._cursor is None:
            return None
        try:
            items, cursor, self._links = await read(
                _fetch, viewer.user_id, self._filters, self._cursor, self._links
            )
        except DomainError as error:
            self.error = error.message
            return None
        seen = {card.id for card in self.items}
        self.items = self.items + [card for card in items if card.id not in seen]
        self._cursor, self.has_more = cursor, cursor is not None
        return None

    @rx.event
    async def save_edit(self, form: dict | None = None):
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        fields = read_payload(EditForm, form)
        if fields is None:
            return bad_payload()
        asset_id = id_from_text(str(fields.asset_id))  # None: answered as a missing asset
        tags = [tag for tag in fields.tags.split(",") if tag.strip()]

        def work() -> None:
            with session_scope() as session:
                library.edit_asset(
                    session=session,
                    user_id=viewer.user_id,
                    asset_id=asset_id,
                    title=fields.title,
                    tags=tags,
                )

        try:
            await asyncio.to_thread(work)
        except DomainError as error:
            self.error = error.message
            return None
        self.error = ""
        await self._refresh_page(viewer)
        return rx.toast.success("Saved.")

    @rx.event
    async def delete(self, asset_id: int | None = None):
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        if asset_id is None:
            return bad_payload()

        def work() -> None:
            with session_scope() as session:
                library.delete_asset(session=session, user_id=viewer.user_id, asset_id=asset_id)

        try:
            await asyncio.to_thread(work)
        except DomainError as error:
            self.error = error.message
            return None
        self.error = ""
        self.items = [card for card in self.items if card.id != asset_id]
        return rx.toast.success("Deleted from your library.")

    @rx.event
    async def download(self, asset_id: int | None = None, request_id: str | None = None):
        """Count one export (refused past the month's limit, with when it resets) and hand the
        browser a link that downloads the file."""
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        if asset_id is None or request_id is None:
            return bad_payload()

        def work() -> str:
            with session_scope() as session:
                grant = downloads.start_download(
                    session=session,
                    user_id=viewer.user_id,
                    asset_id=asset_id,
                    catalog=CATALOG,
                    request_id=request_id,
                )
            return download_link(viewer.user_id, grant)

        try:
            url = await asyncio.to_thread(work)
        except DomainError as error:
            self.message = error.message
            return None
        self.message = ""
        self.download_token = secrets.token_urlsafe(16)
        return rx.download(url=url)
