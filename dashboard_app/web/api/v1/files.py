"""Links to a member's generated files for API callers, and the route that serves them.

A bucket gives a presigned URL that expires. The local folder gives `/api/v1/files/<token>`:
the token is signed, expires after FILE_LINK_SECONDS and names the member it was made for, and
the route honours it only with that member's own bearer credential (never a cookie), so a link
that leaks is no use to anyone else. Every refusal is the same 404."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter
from fastapi.responses import FileResponse

from dashboard_app.db import session_scope
from dashboard_app.domain.errors import NotFound
from dashboard_app.domain.generation import downloads
from dashboard_app.engine.runtime import storage_for
from dashboard_app.integrations.storage import Storage, StorageError
from dashboard_app.models import Asset
from dashboard_app.models.base import utcnow
from dashboard_app.settings import get_settings
from dashboard_app.web import routes
from dashboard_app.web.api.common import absolute_url
from dashboard_app.web.api.v1.auth import ReadCaller
from dashboard_app.web.api.v1.problems import PROBLEM_RESPONSES
from dashboard_app.web.signing import sign, unsign

PURPOSE = "api-file-link"
FILES_PATH = "/files"
MEDIA_TYPES = ("video/mp4", "image/jpeg", "image/png", "image/webp")

router = APIRouter(tags=["files"])


def _storage() -> Storage:
    return storage_for(get_settings())  # opened once per configuration (open_storage)


def links_expire_at(now: datetime | None = None) -> datetime:
    """When links made now stop working."""
    return (now or utcnow()) + timedelta(seconds=get_settings().file_link_seconds)


def file_link(viewer_id: int, grant: downloads.FileGrant, *, download: bool = False) -> str:
    """An absolute link to a file the domain granted to `viewer_id`, for FILE_LINK_SECONDS."""
    storage = _storage()
    if not storage.is_local:
        return storage.presigned_url(
            grant.storage_key, expires_in=timedelta(seconds=get_settings().file_link_seconds)
        )
    token = sign(
        PURPOSE, {"a": grant.asset_id, "p": grant.part, "u": viewer_id, "d": bool(download)}
    )
    return absolute_url(f"{routes.API_V1}{FILES_PATH}/{token}")


def part_link(viewer_id: int, asset: Asset | None, part: str) -> str | None:
    """A viewing link to a part (media, poster, thumbnail) of the viewer's own live asset."""
    if asset is None or asset.id is None or asset.deleted_at is not None:
        return None
    grant = downloads.grant_for(asset, part)
    return file_link(viewer_id, grant) if grant is not None else None


@router.get(
    f"{FILES_PATH}/{{token}}",
    summary="Fetch a file by a link from this API",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The file",
            "content": {
                kind: {"schema": {"type": "string", "format": "binary"}} for kind in MEDIA_TYPES
            },
        },
        **PROBLEM_RESPONSES,
    },
)
def serve_file(token: str, caller: ReadCaller) -> FileResponse:
    """A file named by a link this API made for the caller (a generation's media, a library
    item's thumbnail, a download), while the link lasts."""
    claims = unsign(PURPOSE, token, get_settings().file_link_seconds)
    if not isinstance(claims, dict) or not {"a", "p", "u", "d"} <= set(claims):
        raise NotFound("No such file")
    if claims["u"] != caller.user_id:
        raise NotFound("No such file")
    with session_scope() as session:
        grant = downloads.file_for(
            session=session,
            viewer_id=caller.user_id,
            viewer_is_admin=False,
            asset_id=claims["a"],
            part=claims["p"],
        )
    try:
        path = _storage().local_path(grant.storage_key)
    except StorageError:  # missing, or the files have moved to a bucket since
        raise NotFound("No such file") from None
    disposition = "attachment" if claims["d"] else "inline"
    return FileResponse(
        path,
        media_type=grant.content_type,
        headers={
            "Cache-Control": "private, no-store",
            "Content-Disposition": f'{disposition}; filename="{grant.filename}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
