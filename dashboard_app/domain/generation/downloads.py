"""Downloads and file access. A download is an export: it counts in the usage ledger (once per
request) and is refused past the plan's monthly export limit. Files are shown only to their
owner and to admins; everyone else gets NotFound, as for a missing file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from dashboard_app.domain import plans
from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.errors import InvalidInput, NotFound
from dashboard_app.domain.generation.library import NOT_FOUND, owned_asset
from dashboard_app.domain.ids import record_id
from dashboard_app.models import Asset, UsageEntry
from dashboard_app.models.base import utcnow

PARTS = ("media", "poster", "thumbnail")
REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


@dataclass(frozen=True)
class FileGrant:
    asset_id: int
    part: str  # media, poster or thumbnail
    generation_id: int | None
    storage_key: str
    content_type: str
    filename: str


def _filename(asset: Asset) -> str:
    stem = re.sub(r"[^a-z0-9]+", "-", asset.title.lower()).strip("-")[:60] or "reel"
    extension = asset.storage_key.rsplit(".", 1)[-1]
    return f"{stem}-{asset.id}.{extension}"


def _grant(asset: Asset, part: str) -> FileGrant:
    if part == "media":
        key, content_type = asset.storage_key, asset.content_type
    elif part == "poster" and asset.poster_key:
        key, content_type = asset.poster_key, "image/webp"
    elif part == "thumbnail" and asset.thumbnail_key:
        key, content_type = asset.thumbnail_key, "image/webp"
    else:
        raise NotFound(NOT_FOUND)
    assert asset.id is not None
    return FileGrant(
        asset_id=asset.id,
        part=part,
        generation_id=asset.generation_id,
        storage_key=key,
        content_type=content_type,
        filename=_filename(asset),
    )


def grant_for(asset: Asset, part: str) -> FileGrant | None:
    """A part of an asset the caller has already found for its owner (a listing of the
    member's own results), or None when the asset has no such part."""
    try:
        return _grant(asset, part)
    except NotFound:
        return None


def file_for(
    *, session: Session, viewer_id: int, viewer_is_admin: bool, asset_id: object, part: object
) -> FileGrant:
    """A result's file (media, poster or thumbnail) for its owner or an admin to view."""
    if part not in PARTS or record_id(asset_id) is None:
        raise NotFound(NOT_FOUND)
    asset = session.get(Asset, asset_id)
    if asset is None or asset.deleted_at is not None or asset.kind == "avatar":
        raise NotFound(NOT_FOUND)
    if asset.owner_id != viewer_id and not viewer_is_admin:
        raise NotFound(NOT_FOUND)
    return _grant(asset, str(part))


def start_download(
    *,
    session: Session,
    user_id: int,
    asset_id: object,
    catalog: Catalog,
    request_id: object,
    now: datetime | None = None,
) -> FileGrant:
    """Count one export for this download request and hand out the file, or refuse with the
    limit and when it resets. The same request id twice (a double click) counts once."""
    now = now or utcnow()
    if not isinstance(request_id, str) or not REQUEST_ID.match(request_id):
        raise InvalidInput("This download link has expired; try again", field="request_id")
    asset = owned_asset(session=session, user_id=user_id, asset_id=asset_id)
    # The same request for the same file counts once; the same id for another file does not.
    reference = f"export:{user_id}:{asset.id}:{request_id}"
    # The member's row is the lock every start of work takes; exports queue behind it too.
    plans.lock_member(session, user_id)
    if not plans.usage_recorded(session=session, reference=reference):
        limits = plans.member_limits(session=session, user_id=user_id, catalog=catalog, now=now)
        plans.check_can_export(session=session, user_id=user_id, limits=limits, now=now)
        plans.record_usage(
            session=session,
            user_id=user_id,
            metric="exports",
            quantity=1,
            reference=reference,
            now=now,
            asset_id=asset.id,
        )
    return _grant(asset, "media")


@dataclass(frozen=True)
class RecentExport:
    asset_id: int
    title: str
    exported_at: datetime


def recent_exports(*, session: Session, user_id: int, limit: int = 5) -> list[RecentExport]:
    """The member's latest downloads, newest first, of results still in reach."""
    rows = session.exec(
        select(UsageEntry.occurred_at, Asset.id, Asset.title)
        .join(Asset, col(Asset.id) == col(UsageEntry.asset_id))
        .where(UsageEntry.user_id == user_id, UsageEntry.metric == "exports")
        .where(col(Asset.deleted_at).is_(None))
        .order_by(col(UsageEntry.occurred_at).desc(), col(UsageEntry.id).desc())
        .limit(max(1, min(limit, 50)))
    ).all()
    return [RecentExport(asset_id=a, title=t, exported_at=when) for when, a, t in rows]
