"""The API's "done when", with the real curl against the running app: a member's key (and,
the second time, a JWT from the test identity service for a subject linked to the member), then
create a generation, poll it until it is done, save a variant to the library, fetch the
download link and download the file, whose bytes are the stored result's."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path

import av
import pytest
from playwright.sync_api import Page, expect

from dashboard_app.db import session_scope
from dashboard_app.domain import credits
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.models import Asset
from tests.conftest import REEL_HEIGHT
from tests.e2e.helpers import sign_in
from tests.factories import DEFAULT_PASSWORD, create_member
from tests.support.api_callers import credential_for
from tests.support.servers import wait_for

pytestmark = pytest.mark.e2e
CATALOG = get_catalog()
RENDER_SECONDS = 90


class Curl:
    """The curl binary, as a member's script would run it, with the member's key."""

    def __init__(self, base_url: str, key: str, folder: Path) -> None:
        self.base_url, self.key, self.folder = base_url, key, folder

    def __call__(
        self, method: str, url: str, *, body: dict | None = None, headers: dict | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers in lower case, body) of one request."""
        head, out = self.folder / f"{uuid.uuid4().hex}.head", self.folder / uuid.uuid4().hex
        command = [
            "curl", "--silent", "--show-error", "--max-time", "30",
            "--request", method,
            "--header", f"Authorization: Bearer {self.key}",
            "--dump-header", str(head), "--output", str(out),
        ]  # fmt: skip
        for name, value in (headers or {}).items():
            command += ["--header", f"{name}: {value}"]
        if body is not None:
            command += ["--header", "Content-Type: application/json", "--data", json.dumps(body)]
        command.append(url if url.startswith("http") else f"{self.base_url}{url}")
        subprocess.run(command, check=True, capture_output=True, timeout=60)
        status_line, *lines = head.read_text().strip().splitlines()
        fields = dict(line.split(":", 1) for line in lines if ":" in line)
        found = {name.strip().lower(): value.strip() for name, value in fields.items()}
        return int(status_line.split()[1]), found, out.read_bytes()

    def json(self, method: str, url: str, **kwargs) -> tuple[int, dict[str, str], dict]:
        status, headers, body = self(method, url, **kwargs)
        return status, headers, json.loads(body)


def key_made_in_the_browser(page: Page, email: str) -> str:
    """The member signs in, makes a read-write key on the profile page and copies it."""
    sign_in(page, email, DEFAULT_PASSWORD, start="/sign-in?next=/profile")
    expect(page.get_by_test_id("profile-since")).not_to_have_text("")
    page.fill("#api_key_name", "My script")
    page.locator("#api_key_scope").click()
    page.get_by_role("option", name="Read and write").click()
    page.get_by_role("button", name="Create key").click()
    shown = page.get_by_test_id("new-api-key")
    expect(shown).to_have_value(re.compile(r"^dk_"))
    return shown.input_value()


@pytest.mark.parametrize("via", ["browser_key", "jwt"])
def test_a_member_creates_polls_saves_and_downloads_with_curl(
    page: Page, app, jwt_issuer, tmp_path, via
) -> None:
    member = create_member(app.engine, credits_granted=100)
    if via == "browser_key":
        bearer = key_made_in_the_browser(page, member.email)
    else:
        bearer = credential_for("jwt", app.engine, jwt_issuer)(member.id, scope="read-write")
    curl = Curl(app.base_url, bearer, tmp_path)
    request = {
        "topic": f"Morning stretches {uuid.uuid4().hex[:6]}",
        "platform": "tiktok",
        "preset": "neon",
        "format": "video",
        "variants": 1,
    }

    # Create: 202 with where to poll; sent again (a retry), the same generation.
    key = {"Idempotency-Key": f"journey {uuid.uuid4()}"}
    status, headers, accepted = curl.json("POST", "/api/v1/generations", body=request, headers=key)
    assert status == 202, accepted
    assert headers["location"] == f"/api/v1/generations/{accepted['id']}"
    status, _, again = curl.json("POST", "/api/v1/generations", body=request, headers=key)
    assert (status, again["id"]) == (202, accepted["id"])

    # Poll until it is done.
    seen: dict = {}

    def done() -> bool:
        _, _, seen["job"] = curl.json("GET", headers["location"])
        return seen["job"]["status"] in ("succeeded", "failed", "cancelled")

    wait_for(done, timeout=RENDER_SECONDS, what="the generation to finish", interval=0.5)
    job = seen["job"]
    assert (job["status"], job["progress"]) == ("succeeded", 100), job
    (variant,) = job["variants"]
    assert variant["status"] == "succeeded" and variant["media_url"].startswith(app.base_url)
    neon = CATALOG.presets["neon"].credits_per_variant
    with session_scope(app.engine) as session:  # charged once, for the one variant
        balances = credits.get_balances(session=session, user_id=member.id)
        assert (balances.available, balances.reserved) == (100 - neon, 0)

    # Save the variant to the library.
    status, _, item = curl.json("POST", "/api/v1/library", body={"variant_id": variant["id"]})
    assert status == 201, item
    status, _, listed = curl.json("GET", "/api/v1/library?search=stretches")
    assert [found["id"] for found in listed["items"]] == [item["id"]]

    # A download link, then the file through it.
    status, _, link = curl.json("POST", f"/api/v1/library/{item['id']}/download")
    assert status == 200, link
    status, file_headers, data = curl("GET", link["url"])
    assert status == 200
    assert file_headers["content-type"] == "video/mp4"
    assert file_headers["content-disposition"] == f'attachment; filename="{link["filename"]}"'
    with session_scope(app.engine) as session:
        stored = session.get(Asset, item["id"]).storage_key
    assert data == (app.data_dir / "private" / "media" / stored).read_bytes()
    assert len(data) == link["size_bytes"]
    saved = tmp_path / "reel.mp4"
    saved.write_bytes(data)
    with av.open(str(saved)) as container:
        assert container.streams.video[0].codec_context.height == REEL_HEIGHT

    # The link is the permission while it lasts (as a bucket's presigned URL): curl without
    # the key downloads the same bytes; a link with its signature changed is refused.
    plain = subprocess.run(
        ["curl", "--silent", "--fail", link["url"]], capture_output=True, timeout=60
    )
    assert plain.returncode == 0 and plain.stdout == data
    tampered = subprocess.run(
        [
            "curl",
            "--silent",
            "--output",
            "/dev/null",
            "--write-out",
            "%{http_code}",
            link["url"][:-3] + "abc",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tampered.stdout == "404"
