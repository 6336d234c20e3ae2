"""Steps a person takes in the browser, shared by the browser tests."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect


def sign_in(page: Page, email: str, password: str, *, start: str = "/sign-in") -> None:
    page.goto(start)
    expect(page.locator("#email")).to_be_visible()
    page.fill("#email", email)
    page.fill("#password", password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def expect_path(page: Page, path: str) -> None:
    """The browser is on `path` (the production build adds a trailing slash to pages)."""
    escaped = re.escape(path.rstrip("/"))
    expect(page).to_have_url(re.compile(rf"^https?://[^/]+{escaped}/?(\?.*)?$"))
