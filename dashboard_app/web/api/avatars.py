"""The member's avatar: uploaded by a plain form POST, served only to its owner and to admins.

The upload is authorised by the request's own session cookie, checked before a byte of the body
is read, and the body is refused once it passes the avatar limit (announced or streamed), so
nobody can make the server read or store more than one avatar's worth. Reflex's own upload
endpoint is not used: it builds its event without the request's cookie.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.types import Message

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, profiles
from dashboard_app.domain.errors import DomainError
from dashboard_app.settings import get_settings
from dashboard_app.web import routes
from dashboard_app.web.api.common import current_member, redirect, same_origin
from dashboard_app.web.signing import sign

# The image plus the multipart framing around it (boundaries, part headers, file name).
MAX_BODY_BYTES = profiles.MAX_AVATAR_BYTES + 16 * 1024
TOO_LARGE = "Choose an image of at most 2 MB"
NOT_ONE_IMAGE = "Choose one image."
AVATAR_FIELD = "avatar"
AVATAR_ERROR = "avatar-error"  # the signing purpose of the error shown on the profile page


def back_to_profile(error: str | None = None) -> Response:
    """To the profile page, with an error only this server can put there (signed)."""
    if error is None:
        return redirect(routes.PROFILE)
    return redirect(routes.profile_url(avatar_error=sign(AVATAR_ERROR, error)))


class BodyTooLarge(Exception):
    """The request body went past the limit while it was being read."""


def capped(request: Request, limit: int) -> Request:
    """The same request, whose body reading stops with BodyTooLarge past `limit` bytes (a chunked
    body announces no length, so the bytes are counted as they arrive)."""
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge
        return message

    return Request(request.scope, receive)


def announced_too_large(request: Request) -> bool:
    declared = request.headers.get("content-length")
    if declared is None:
        return False
    return not declared.isdigit() or int(declared) > MAX_BODY_BYTES


async def upload_avatar(request: Request) -> Response:
    # Everything that needs no body is checked first: the body is not read for a refusal.
    if not same_origin(request):
        return PlainTextResponse("Cross-site upload refused", status_code=403)
    member = await current_member(request)
    if member is None:
        return redirect(routes.sign_in_url(routes.PROFILE))
    if announced_too_large(request):
        return back_to_profile(TOO_LARGE)
    try:
        form = await capped(request, MAX_BODY_BYTES).form(max_files=1, max_fields=1)
    except BodyTooLarge:
        return back_to_profile(TOO_LARGE)
    except Exception:  # noqa: BLE001 - a malformed body is the client's mistake, not ours
        return back_to_profile(NOT_ONE_IMAGE)
    try:
        upload = form.get(AVATAR_FIELD)
        if not isinstance(upload, UploadFile) or not upload.filename:
            return back_to_profile(NOT_ONE_IMAGE)
        data = await upload.read(profiles.MAX_AVATAR_BYTES + 1)
    finally:
        await form.close()

    def work() -> None:
        with session_scope() as session:
            user = accounts.get_user(session=session, user_id=member.user.id)
            profiles.set_avatar(
                session=session,
                user=user,
                data=data,
                storage=get_settings().private_storage,
            )

    try:
        await run_in_threadpool(work)
    except DomainError as error:
        return back_to_profile(error.message)
    return back_to_profile()


async def avatar(request: Request) -> Response:
    """A member's avatar, for that member and for admins only; never a public URL."""
    member = await current_member(request)
    if member is None:
        return PlainTextResponse("Sign in first", status_code=401)
    try:
        owner_id = int(request.path_params.get("user_id", member.user.id))
    except ValueError:
        return PlainTextResponse("Not found", status_code=404)
    if owner_id != member.user.id and member.user.role != "admin":
        return PlainTextResponse("Not found", status_code=404)

    def work():  # type: ignore[no-untyped-def]
        with session_scope() as session:
            return profiles.avatar_file(
                session=session, owner_id=owner_id, storage=get_settings().private_storage
            )

    path = await run_in_threadpool(work)
    if path is None:
        return PlainTextResponse("Not found", status_code=404)
    return FileResponse(
        path, media_type="image/webp", headers={"Cache-Control": "private, max-age=300"}
    )


async def no_reflex_upload(_request: Request) -> Response:
    """Reflex's upload endpoint stays closed even if a stale build marker would register it."""
    return PlainTextResponse("Not found", status_code=404)
