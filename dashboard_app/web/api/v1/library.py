"""The library over the API: list (filters, search and a cursor, as the Library page has), save
a variant of the caller's own generation, rename and retag, delete, and a download link that
counts one export, as the page's Download button does."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from dashboard_app.db import session_scope
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import NotFound
from dashboard_app.domain.generation import downloads, library, review
from dashboard_app.models import Asset
from dashboard_app.web.api.v1.auth import ReadCaller, WriteCaller
from dashboard_app.web.api.v1.files import file_link, links_expire_at, part_link
from dashboard_app.web.api.v1.generations import (
    IDEMPOTENCY_KEY,
    WORK_RESPONSES,
    domain_key,
)
from dashboard_app.web.api.v1.paging import DEFAULT_LIMIT, LimitQuery, Page
from dashboard_app.web.api.v1.problems import PROBLEM_RESPONSES

CATALOG = get_catalog()
PATH = "/library"

router = APIRouter(tags=["library"])


# --- Shapes -------------------------------------------------------------------------------------


class LibraryItem(BaseModel):
    id: int
    title: str
    tags: list[str]
    kind: Literal["video", "image"]
    platform: str
    preset: str
    generation_id: int | None
    content_type: str
    size_bytes: int
    width: int | None
    height: int | None
    duration_ms: int | None
    created_at: datetime
    saved_at: datetime
    updated_at: datetime
    thumbnail_url: str | None
    poster_url: str | None
    links_expire_at: datetime = Field(description="When the thumbnail and poster links stop")


class SaveVariant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variant_id: int = Field(description="A variant of one of your generations, once delivered")


class LibraryEdit(BaseModel):
    """Either field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=200)
    tags: list[Annotated[str, Field(max_length=100)]] | None = Field(default=None, max_length=50)


class DownloadLink(BaseModel):
    url: str = Field(description="Fetch it before it expires (it needs no credentials)")
    expires_at: datetime
    filename: str
    content_type: str
    size_bytes: int


# --- Views --------------------------------------------------------------------------------------


def library_item(asset: Asset, viewer_id: int) -> LibraryItem:
    assert asset.id is not None and asset.saved_at is not None
    return LibraryItem(
        id=asset.id,
        title=asset.title,
        tags=list(asset.tags or []),
        kind=asset.kind,  # type: ignore[arg-type]
        platform=asset.platform,
        preset=asset.preset,
        generation_id=asset.generation_id,
        content_type=asset.content_type,
        size_bytes=asset.size_bytes,
        width=asset.width,
        height=asset.height,
        duration_ms=asset.duration_ms,
        created_at=asset.created_at,
        saved_at=asset.saved_at,
        updated_at=asset.updated_at,
        thumbnail_url=part_link(viewer_id, asset, "thumbnail"),
        poster_url=part_link(viewer_id, asset, "poster"),
        links_expire_at=links_expire_at(),
    )


def _saved(session: Session, user_id: int, item_id: int) -> Asset:
    """A library item of the member's: a saved, live result (NotFound for anything else)."""
    asset = library.owned_asset(session=session, user_id=user_id, asset_id=item_id)
    if asset.saved_at is None:
        raise NotFound(library.NOT_FOUND)
    return asset


# --- Routes -------------------------------------------------------------------------------------


@router.get(
    PATH,
    response_model=Page[LibraryItem],
    summary="The library, newest saved first",
    responses=PROBLEM_RESPONSES,
)
def list_library(
    caller: ReadCaller,
    platform: Annotated[str | None, Query(max_length=32)] = None,
    kind: Literal["video", "image"] | None = None,
    tag: Annotated[str | None, Query(max_length=40)] = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[
        str | None,
        Query(
            max_length=200, description="`next_cursor` of the previous page; none for the first."
        ),
    ] = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Page[LibraryItem]:
    """Filtered by platform, kind and tag, searched over titles and tags, as the Library page."""
    with session_scope() as session:
        page = library.list_library(
            session=session,
            user_id=caller.user_id,
            catalog=CATALOG,
            platform=platform,
            kind=kind,
            tag=tag,
            search=search,
            cursor=cursor,
            limit=limit,
        )
        return Page[LibraryItem](
            items=[library_item(asset, caller.user_id) for asset in page.items],
            next_cursor=page.next_cursor,
        )


@router.post(
    PATH,
    status_code=201,
    response_model=LibraryItem,
    summary="Save a variant of your generation to the library",
    responses={200: {"model": LibraryItem, "description": "Already saved"}, **WORK_RESPONSES},
)
def save_variant(request: SaveVariant, response: Response, caller: WriteCaller) -> LibraryItem:
    """Saving the same variant again answers the item it already is (200)."""
    with session_scope() as session:
        variant, _ = review.owned_variant(
            session=session, user_id=caller.user_id, variant_id=request.variant_id
        )
        before = session.get(Asset, variant.asset_id) if variant.asset_id else None
        already = before is not None and before.saved_at is not None
        asset = review.save_variant(
            session=session, user_id=caller.user_id, variant_id=request.variant_id
        )
    if already:
        response.status_code = 200
    return library_item(asset, caller.user_id)


@router.get(
    f"{PATH}/{{item_id}}",
    response_model=LibraryItem,
    summary="One library item",
    responses=PROBLEM_RESPONSES,
)
def get_item(item_id: int, caller: ReadCaller) -> LibraryItem:
    with session_scope() as session:
        asset = _saved(session, caller.user_id, item_id)
        return library_item(asset, caller.user_id)


@router.patch(
    f"{PATH}/{{item_id}}",
    response_model=LibraryItem,
    summary="Rename a library item or set its tags",
    responses=PROBLEM_RESPONSES,
)
def edit_item(item_id: int, request: LibraryEdit, caller: WriteCaller) -> LibraryItem:
    """The same rules as the Library page: a title of 1 to 120 characters, at most 10 tags of
    letters, digits, spaces or dashes."""
    changes = request.model_dump(exclude_unset=True)
    with session_scope() as session:
        _saved(session, caller.user_id, item_id)
        asset = library.edit_asset(
            session=session, user_id=caller.user_id, asset_id=item_id, **changes
        )
        return library_item(asset, caller.user_id)


@router.delete(
    f"{PATH}/{{item_id}}",
    status_code=204,
    response_class=Response,
    summary="Delete a library item",
    responses=PROBLEM_RESPONSES,
)
def delete_item(item_id: int, caller: WriteCaller) -> Response:
    with session_scope() as session:
        _saved(session, caller.user_id, item_id)
        library.delete_asset(session=session, user_id=caller.user_id, asset_id=item_id)
    return Response(status_code=204)


@router.post(
    f"{PATH}/{{item_id}}/download",
    response_model=DownloadLink,
    summary="A short-lived link that downloads the file (counts one export)",
    responses=WORK_RESPONSES,
)
def download_link(
    item_id: int,
    caller: WriteCaller,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            pattern=IDEMPOTENCY_KEY,
            description="Send the same key again (a retry) and the export counts once",
        ),
    ] = None,
) -> DownloadLink:
    """Each request counts one export against the plan's monthly limit, unless it repeats an
    Idempotency-Key; past the limit it is refused with when the limit resets. Counting uses
    the plan's quota, so it needs a read-write credential."""
    request_id = (
        domain_key(idempotency_key) if idempotency_key is not None else secrets.token_urlsafe(24)
    )
    with session_scope() as session:
        asset = _saved(session, caller.user_id, item_id)
        grant = downloads.start_download(
            session=session,
            user_id=caller.user_id,
            asset_id=item_id,
            catalog=CATALOG,
            request_id=request_id,
        )
        size = asset.size_bytes
    return DownloadLink(
        url=file_link(caller.user_id, grant, download=True),
        expires_at=links_expire_at(),
        filename=grant.filename,
        content_type=grant.content_type,
        size_bytes=size,
    )
