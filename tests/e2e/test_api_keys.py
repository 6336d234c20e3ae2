"""Personal API keys in a real browser: a member makes a key on the profile page, sees its
secret once, calls the API with it against the running app, revokes it, and the API refuses it."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.models import ApiKey
from tests.e2e.helpers import sign_in
from tests.factories import DEFAULT_PASSWORD, create_member
from tests.support.api import bearer

pytestmark = pytest.mark.e2e


def me(app, secret: str) -> httpx.Response:
    return httpx.get(app.url("/api/v1/me"), headers=bearer(secret))


def test_a_member_makes_a_key_sees_it_once_uses_it_and_revokes_it(page: Page, app) -> None:
    member = create_member(app.engine, display_name="Key Maker")
    sign_in(page, member.email, DEFAULT_PASSWORD, start="/sign-in?next=/profile")
    expect(page.get_by_test_id("profile-since")).not_to_have_text("")
    expect(page.get_by_text("You have no API keys.")).to_be_visible()

    page.fill("#api_key_name", "My laptop")
    page.locator("#api_key_scope").click()
    page.get_by_role("option", name="Read and write").click()
    page.get_by_role("button", name="Create key").click()
    shown = page.get_by_test_id("new-api-key")
    expect(shown).to_have_value(re.compile(r"^dk_[0-9a-f]{12}_"))
    expect(page.get_by_text("it will not be shown again")).to_be_visible()
    secret = shown.input_value()
    expect(page.get_by_test_id("api-key-row")).to_have_count(1)
    expect(page.get_by_test_id("api-key-row")).to_contain_text("Read and write")
    expect(page.get_by_test_id("api-key-row")).to_contain_text(secret[:15])
    with session_scope(app.engine) as session:
        [key] = session.exec(select(ApiKey).where(ApiKey.user_id == member.id)).all()
    assert secret not in {key.secret_hash, key.prefix, key.name}  # stored hashed

    response = me(app, secret)
    assert response.status_code == 200, response.text
    assert response.json()["email"] == member.email

    # Shown once: the page opened again lists the key, its last use, and not its secret.
    page.reload()
    expect(page.get_by_test_id("api-key-last-used")).not_to_have_text("Never")
    expect(page.get_by_test_id("new-api-key")).to_have_count(0)
    assert secret not in page.content()

    page.get_by_role("button", name="Revoke the key My laptop").click()
    expect(page.get_by_test_id("api-key-row")).to_have_count(0)
    refused = me(app, secret)
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")


def test_a_refused_key_name_says_why(page: Page, app) -> None:
    member = create_member(app.engine)
    sign_in(page, member.email, DEFAULT_PASSWORD, start="/sign-in?next=/profile")
    expect(page.get_by_test_id("profile-since")).not_to_have_text("")
    page.fill("#api_key_name", "   ")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_test_id("api-key-error")).to_have_text("Give the key a name")
    expect(page.get_by_test_id("new-api-key")).to_have_count(0)
