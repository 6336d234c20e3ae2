"""Generated files, for their owner and admins only. Pages get a link from `file_link`: for a
bucket, a presigned URL that expires; for the local folder, `/files/<token>`, whose token is
signed, expires, names the member it was made for, and is honoured only with that member's
(or an admin's) own session cookie. A link made for an API caller (`for_api`, signed for
another purpose) is honoured without a cookie, as a bucket's presigned URL is: API clients
have no cookie, and the link itself, short-lived and naming an active member's own file, is
the permission. Every refusal is the same 404."""

from __future__ import annotations

from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from dashboard_app.db import session_scope
from dashboard_app.domain.errors import NotFound
from dashboard_app.domain.generation import downloads
from dashboard_app.domain.ids import record_id
from dashboard_app.engine.runtime import storage_for
from dashboard_app.integrations.storage import MissingFile, Storage
from dashboard_app.models import User
from dashboard_app.settings import get_settings
from dashboard_app.web import routes
from dashboard_app.web.api.common import current_member
from dashboard_app.web.signing import sign, unsign

PURPOSE = "file-link"
API_PURPOSE = "api-file-link"


def _not_found() -> Response:
    return PlainTextResponse("Not found", status_code=404, headers={"Cache-Control": "no-store"})


def file_link(
    *,
    storage: Storage,
    viewer_id: int,
    grant: downloads.FileGrant,
    download: bool = False,
    for_api: bool = False,
) -> str:
    """A link to a file the domain granted to `viewer_id` (see downloads.file_for and
    downloads.start_download), valid for FILE_LINK_SECONDS; `for_api`: one that needs no
    session cookie (for an API caller)."""
    settings = get_settings()
    if not storage.is_local:
        return storage.presigned_url(
            grant.storage_key, expires_in=timedelta(seconds=settings.file_link_seconds)
        )
    token = sign(
        API_PURPOSE if for_api else PURPOSE,
        {"a": grant.asset_id, "p": grant.part, "u": viewer_id, "d": bool(download)},
    )
    return routes.file_path(token)


def _api_viewer(claims: dict) -> int | None:
    """The member an API link was made for, while they may still use the product."""
    with session_scope() as session:
        user = session.get(User, claims["u"]) if record_id(claims["u"]) else None
        if user is None or user.deleted_at is not None or user.status != "active":
            return None
        return user.id


async def serve_file(request: Request) -> Response:
    settings = get_settings()
    token = request.path_params.get("token")
    claims = unsign(PURPOSE, token, settings.file_link_seconds)
    api_claims = None if claims else unsign(API_PURPOSE, token, settings.file_link_seconds)
    found = claims or api_claims
    if not isinstance(found, dict) or not {"a", "p", "u", "d"} <= set(found):
        return _not_found()
    claims = found
    if api_claims:
        viewer_id, is_admin = await run_in_threadpool(_api_viewer, claims), False
        if viewer_id is None:
            return _not_found()
    else:
        member = await current_member(request)
        if member is None:
            return _not_found()
        is_admin = member.user.role == "admin"
        if member.user.id != claims["u"] and not is_admin:
            return _not_found()
        viewer_id = member.user.id

    def work() -> downloads.FileGrant:
        with session_scope() as session:
            return downloads.file_for(
                session=session,
                viewer_id=viewer_id,
                viewer_is_admin=is_admin,
                asset_id=claims["a"],
                part=claims["p"],
            )

    try:
        grant = await run_in_threadpool(work)
        path = storage_for(settings).local_path(grant.storage_key)
    except (NotFound, MissingFile):
        return _not_found()
    disposition = "attachment" if claims["d"] else "inline"
    return FileResponse(
        path,
        media_type=grant.content_type,
        headers={
            "Cache-Control": "private, max-age=300",
            "Content-Disposition": f'{disposition}; filename="{grant.filename}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
