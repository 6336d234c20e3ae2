"""The file route: a member's own file with their own session; another member's link, an
expired link, a tampered link or no session: the same 404."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from dashboard_app.db import session_scope
from dashboard_app.models import Asset
from tests.factories import DEFAULT_PASSWORD, create_member

PURPOSE = "file-link"


def signed_in(app, role: str = "member") -> tuple[int, dict[str, str]]:
    member = create_member(app.engine, role=role)
    response = httpx.post(
        app.url("/auth/sign-in"), data={"email": member.email, "password": DEFAULT_PASSWORD}
    )
    token = response.cookies["dash_session"]
    return member.id, {"Cookie": f"dash_session={token}"}


def stored_video(app, owner: int, data: bytes) -> int:
    with session_scope(app.engine) as session:
        asset = Asset(
            owner_id=owner,
            kind="video",
            title="My reel",
            storage_key=f"generations/test-{owner}/v1/r0/media.mp4",
            content_type="video/mp4",
            size_bytes=len(data),
        )
        session.add(asset)
        session.flush()
        path = Path(app.data_dir) / "private" / "media" / asset.storage_key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return asset.id


class _PastSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 3600


def link(app, asset_id: int, viewer: int, *, download=False, expired=False) -> str:
    serializer = URLSafeTimedSerializer(
        app.secret_key, salt=PURPOSE, signer=_PastSigner if expired else TimestampSigner
    )
    token = serializer.dumps({"a": asset_id, "p": "media", "u": viewer, "d": download})
    return app.url(f"/files/{token}")


def test_only_the_owner_with_their_own_session_gets_the_file(app) -> None:
    owner, owner_cookie = signed_in(app)
    stranger, stranger_cookie = signed_in(app)
    asset_id = stored_video(app, owner, b"\x00\x00\x00\x18ftypmp42" + b"x" * 100)
    url = link(app, asset_id, owner)

    mine = httpx.get(url, headers=owner_cookie)
    assert mine.status_code == 200
    assert mine.content.startswith(b"\x00\x00\x00\x18ftyp")
    assert mine.headers["content-type"] == "video/mp4"
    assert mine.headers["content-disposition"].startswith("inline")
    assert "private" in mine.headers["cache-control"]
    part = httpx.get(url, headers={**owner_cookie, "Range": "bytes=0-7"})
    assert (part.status_code, len(part.content)) == (206, 8)

    refusals = [
        httpx.get(url),  # no session
        httpx.get(url, headers=stranger_cookie),  # another member holding the owner's link
        httpx.get(link(app, asset_id, stranger), headers=stranger_cookie),  # their own claim
        httpx.get(link(app, asset_id, owner, expired=True), headers=owner_cookie),
        httpx.get(url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB"), headers=owner_cookie),
        httpx.get(app.url("/files/not-a-token"), headers=owner_cookie),
        httpx.get(link(app, asset_id + 10_000, owner), headers=owner_cookie),  # missing asset
    ]
    assert [r.status_code for r in refusals] == [404] * len(refusals)
    assert {r.text for r in refusals} == {"Not found"}


def test_an_admin_may_fetch_it_and_a_download_link_is_an_attachment(app) -> None:
    owner, owner_cookie = signed_in(app)
    _admin, admin_cookie = signed_in(app, role="admin")
    asset_id = stored_video(app, owner, b"reel-bytes")
    assert httpx.get(link(app, asset_id, owner), headers=admin_cookie).content == b"reel-bytes"
    download = httpx.get(link(app, asset_id, owner, download=True), headers=owner_cookie)
    assert download.headers["content-disposition"] == (
        f'attachment; filename="my-reel-{asset_id}.mp4"'
    )
