"""The avatar upload route over plain HTTP: the request's own session, checked before the body
is read; bodies past the avatar limit refused before they are read (announced length) or as soon
as the limit passes (chunked); nothing stored for any refusal."""

from __future__ import annotations

import io
import socket
from urllib.parse import urlsplit

import httpx
from PIL import Image

from dashboard_app.db import session_scope
from dashboard_app.domain.profiles import MAX_AVATAR_BYTES
from dashboard_app.models import Profile
from tests.factories import create_member
from tests.support.tab import sign_in_cookie

BOUNDARY = "avatar-test-boundary"
PART_HEAD = (
    f"--{BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="avatar"; filename="me.png"\r\n'
    "Content-Type: image/png\r\n\r\n"
).encode()


def png_bytes() -> bytes:
    output = io.BytesIO()
    Image.new("RGB", (40, 30), (90, 20, 200)).save(output, format="PNG")
    return output.getvalue()


def avatar_of(app, member_id: int) -> str | None:
    with session_scope(app.engine) as session:
        return session.get(Profile, member_id).avatar_path


def raw_post(app, headers: dict[str, str], body: list[bytes], *, then_wait: bool) -> str:
    """POST /account/avatar on a bare socket: the head, then `body` (bytes are sent as they are),
    then, if `then_wait`, nothing more: the body is never finished, so only a server that
    answers without reading to the end answers at all. Returns the response head."""
    port = urlsplit(app.base_url).port
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"POST /account/avatar HTTP/1.1\r\nHost: localhost:{port}\r\n{head}\r\n".encode()
        )
        try:
            for chunk in body:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were still sending
        if not then_wait:
            return ""
        received = b""
        while b"\r\n\r\n" not in received:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            received += data
        return received.split(b"\r\n\r\n", 1)[0].decode("latin-1")


def chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def status_and_location(head: str) -> tuple[int, str]:
    lines = head.split("\r\n")
    status = int(lines[0].split(" ")[1])
    location = next(
        (line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("location:")),
        "",
    )
    return status, location


def test_a_member_uploads_an_avatar_with_a_plain_form_post(app) -> None:
    member = create_member(app.engine)
    cookie = sign_in_cookie(app.base_url, member.email)
    response = httpx.post(
        app.url("/account/avatar"),
        headers={"Cookie": cookie},
        files={"avatar": ("me.png", png_bytes(), "image/png")},
    )
    assert (response.status_code, response.headers["location"]) == (303, "/profile")
    assert avatar_of(app, member.id) is not None
    image = httpx.get(app.url("/account/avatar"), headers={"Cookie": cookie})
    assert Image.open(io.BytesIO(image.content)).size == (40, 30)


def test_an_upload_without_a_session_is_refused_before_its_body_is_read(app) -> None:
    head = raw_post(
        app,
        {
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(MAX_AVATAR_BYTES),
        },
        [PART_HEAD],
        then_wait=True,
    )
    status, location = status_and_location(head)
    assert status == 303 and location.startswith("/sign-in")


def test_a_body_announced_over_the_limit_is_refused_before_it_is_read(app) -> None:
    member = create_member(app.engine)
    head = raw_post(
        app,
        {
            "Cookie": sign_in_cookie(app.base_url, member.email),
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(50 * 1024 * 1024),
        },
        [PART_HEAD],
        then_wait=True,
    )
    status, location = status_and_location(head)
    assert status == 303 and location.startswith("/profile?avatar_error=")
    assert avatar_of(app, member.id) is None


def test_a_chunked_body_is_refused_once_it_passes_the_limit(app) -> None:
    member = create_member(app.engine)
    block = b"\x89PNG" + b"x" * (64 * 1024 - 4)
    over_the_limit = MAX_AVATAR_BYTES // len(block) + 2
    head = raw_post(
        app,
        {
            "Cookie": sign_in_cookie(app.base_url, member.email),
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Transfer-Encoding": "chunked",
        },
        [chunked(PART_HEAD), *[chunked(block)] * over_the_limit],
        then_wait=True,  # the body never ends: only a server that stops reading answers
    )
    status, location = status_and_location(head)
    assert status == 303 and location.startswith("/profile?avatar_error=")
    assert avatar_of(app, member.id) is None


def test_an_upload_from_another_site_is_refused(app) -> None:
    member = create_member(app.engine)
    response = httpx.post(
        app.url("/account/avatar"),
        headers={
            "Cookie": sign_in_cookie(app.base_url, member.email),
            "Origin": "https://evil.example",
        },
        files={"avatar": ("me.png", png_bytes(), "image/png")},
    )
    assert response.status_code == 403
    assert avatar_of(app, member.id) is None


def test_a_form_without_an_image_changes_nothing(app) -> None:
    member = create_member(app.engine)
    response = httpx.post(
        app.url("/account/avatar"),
        headers={"Cookie": sign_in_cookie(app.base_url, member.email)},
        data={"avatar": "not a file"},
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/profile?avatar_error=")
    assert avatar_of(app, member.id) is None
