"""Links to a member's generated files for API callers: absolute, expiring after
FILE_LINK_SECONDS, usable without credentials (a bucket's presigned URL, or the app's
`/files/<token>` with a token signed for API callers: see web/api/files.py), naming the
member's own live file. Fetch them soon; do not store them."""

from __future__ import annotations

from datetime import datetime, timedelta

from dashboard_app.domain.generation import downloads
from dashboard_app.models import Asset
from dashboard_app.models.base import utcnow
from dashboard_app.settings import get_settings
from dashboard_app.web.api.common import absolute_url
from dashboard_app.web.media import api_file_link


def links_expire_at(now: datetime | None = None) -> datetime:
    """When links made now stop working."""
    return (now or utcnow()) + timedelta(seconds=get_settings().file_link_seconds)


def file_link(viewer_id: int, grant: downloads.FileGrant, *, download: bool = False) -> str:
    """An absolute link to a file the domain granted to `viewer_id`."""
    link = api_file_link(viewer_id, grant, download=download)
    return absolute_url(link) if link.startswith("/") else link


def part_link(viewer_id: int, asset: Asset | None, part: str) -> str | None:
    """A viewing link to a part (media, poster, thumbnail) of the viewer's own live asset."""
    if asset is None or asset.id is None or asset.deleted_at is not None:
        return None
    grant = downloads.grant_for(asset, part)
    return file_link(viewer_id, grant) if grant is not None else None
