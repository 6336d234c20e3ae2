"""The app's own files in assets/: the favicon, the logo and the social preview image are served,
and the pages point at them (in the HTML the server sends, which link previews read)."""

from __future__ import annotations

import io
from html.parser import HTMLParser

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.e2e.helpers import sign_in
from tests.factories import DEFAULT_PASSWORD, create_member

pytestmark = pytest.mark.e2e


class _HeadTags(HTMLParser):
    """The <link> and <meta> tags of a page, as (tag, attributes) pairs."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("link", "meta"):
            self.tags.append((tag, {name: value or "" for name, value in attrs}))


def head_tags(html: str) -> list[tuple[str, dict[str, str]]]:
    parser = _HeadTags()
    parser.feed(html)
    return parser.tags


def meta_values(tags, key: str) -> list[str]:
    return [
        attrs.get("content", "")
        for tag, attrs in tags
        if tag == "meta" and key in (attrs.get("property"), attrs.get("name"))
    ]


def fetch(app, url: str) -> httpx.Response:
    response = httpx.get(url if url.startswith("http") else app.url(url), timeout=10)
    assert response.status_code == 200, f"{url}: HTTP {response.status_code}"
    return response


@pytest.mark.parametrize("path", ["/sign-in/", "/sign-up/"])
def test_the_pages_head_points_at_the_favicon_and_the_social_preview(app, path: str) -> None:
    tags = head_tags(fetch(app, path).text)

    icons = [attrs["href"] for tag, attrs in tags if tag == "link" and "icon" in attrs.get("rel")]
    assert "/favicon.ico" in icons, f"no favicon link in {path}: {icons}"
    for href in icons:
        assert fetch(app, href).headers["content-type"].startswith("image/")

    # One preview image, at an absolute address (link previews need one), 1200×630.
    (image_url,) = meta_values(tags, "og:image")
    assert image_url == app.url("/social-preview.png")
    preview = fetch(app, image_url)
    assert preview.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(preview.content)).size == (1200, 630)
    assert meta_values(tags, "twitter:card") == ["summary_large_image"]
    assert meta_values(tags, "twitter:image") == [image_url]


def test_favicon_is_served_where_browsers_look_for_it(app) -> None:
    icon = Image.open(io.BytesIO(fetch(app, "/favicon.ico").content))
    assert icon.format == "ICO"
    assert {(16, 16), (32, 32)} <= icon.info["sizes"]


def _logo_loaded(page: Page, scope: str) -> None:
    logo = page.locator(f"{scope} img[src='/logo.svg']")
    expect(logo).to_be_visible()
    # Loaded, not a broken image; decorative beside the app's name, so screen readers skip it.
    assert logo.evaluate("img => img.complete && img.naturalWidth > 0")
    assert logo.get_attribute("alt") == ""


def test_the_logo_shows_on_sign_in_and_in_the_sidebar(page: Page, app) -> None:
    page.goto("/sign-in")
    _logo_loaded(page, "main")
    member = create_member(app.engine)
    sign_in(page, member.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("header-credits")).to_be_visible(timeout=20_000)
    _logo_loaded(page, "aside")
