"""Accounts in a real browser: sign-up with mailed verification, profile, avatar, sign-out,
password reset, single sign-on, throttled sign-in, suspension, sessions, export, deletion."""

from __future__ import annotations

import io
import json
import re
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, audit
from dashboard_app.models import AuditEntry, OAuthIdentity, Profile, User, UserSession
from tests.e2e.helpers import expect_path, sign_in
from tests.factories import DEFAULT_PASSWORD, count_rows, create_member, unique_email
from tests.support.mail import link_in

pytestmark = pytest.mark.e2e
NEW_PASSWORD = "a brand new passphrase 42"


def local(url: str) -> str:
    """The path and query of a link in a mail (its host is the app's public URL)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def user_by_email(app, email: str) -> User:
    with session_scope(app.engine) as session:
        return session.exec(select(User).where(User.email == email)).one()


def png_bytes(size=(64, 48), color=(200, 30, 90)) -> bytes:
    output = io.BytesIO()
    Image.new("RGB", size, color).save(output, format="PNG")
    return output.getvalue()


def test_sign_up_verify_edit_profile_upload_avatar_sign_out(
    page: Page, app, mail, tmp_path
) -> None:
    email = unique_email("journey")
    page.goto("/sign-up")
    page.fill("#display_name", "Journey Member")
    page.fill("#email", email)
    page.fill("#password", DEFAULT_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("unverified-banner")).to_be_visible()

    verification = mail.wait_for(email, "Confirm your email address")
    page.goto(local(link_in(verification)))
    expect(page.get_by_test_id("page-notice")).to_contain_text("confirmed")
    expect(page.get_by_test_id("unverified-banner")).to_have_count(0)
    assert user_by_email(app, email).email_verified_at is not None

    # The same link does not work twice.
    page.goto(local(link_in(verification)))
    expect(page.get_by_test_id("page-notice")).to_contain_text("expired or was already used")

    page.get_by_test_id("nav-profile").first.click()
    expect_path(page, "/profile")
    page.fill("#display_name", "Renamed Member")
    page.fill("#address_city", "Lyon")
    page.fill("#address_country", "fr")
    page.fill("#wallet_address", "0x" + "ab" * 20)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("profile-saved")).to_have_text("Saved.")
    expect(page.get_by_test_id("header-member")).to_have_text("Renamed Member")
    with session_scope(app.engine) as session:
        profile = session.get(Profile, user_by_email(app, email).id)
        assert (profile.display_name, profile.address_city, profile.address_country) == (
            "Renamed Member",
            "Lyon",
            "FR",
        )
        (change,) = [
            entry
            for entry in audit.audit_trail(session=session, subject_user_id=profile.user_id)
            if entry.action == "profile.updated"
        ]
        assert change.after["display_name"] == "Renamed Member"
        assert change.ip_address == "127.0.0.1"

    avatar_file = tmp_path / "me.png"
    avatar_file.write_bytes(png_bytes())
    page.locator("#avatar").set_input_files(str(avatar_file))
    page.get_by_role("button", name="Upload").click()
    image = page.get_by_test_id("avatar-image")
    expect(image).to_have_attribute("src", re.compile(r"^/account/avatar\?v=\d+$"))
    response = page.request.get("/account/avatar")
    assert response.status == 200 and response.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(response.body())).size == (64, 48)

    page.get_by_role("button", name="Sign out", exact=True).click()
    expect_path(page, "/sign-in")
    assert page.request.get("/account/avatar").status == 401


def test_bad_profile_input_shows_a_message_by_the_field_and_changes_nothing(
    page: Page, app
) -> None:
    member = create_member(app.engine, display_name="Steady")
    sign_in(page, member.email, DEFAULT_PASSWORD, start="/sign-in?next=/profile")
    expect(page.locator("#display_name")).to_have_value("Steady")
    page.fill("#display_name", "Changed")
    page.fill("#wallet_address", "not-a-wallet")
    page.fill("#address_country", "9Z")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("error-wallet_address")).to_contain_text("0x followed by 40")
    expect(page.get_by_test_id("error-address_country")).to_contain_text("two-letter")
    with session_scope(app.engine) as session:
        assert session.get(Profile, member.id).display_name == "Steady"


def test_a_file_that_is_not_an_image_is_refused(page: Page, app, tmp_path) -> None:
    member = create_member(app.engine)
    sign_in(page, member.email, DEFAULT_PASSWORD, start="/sign-in?next=/profile")
    fake = tmp_path / "fake.png"
    fake.write_text("this is not an image")
    page.locator("#avatar").set_input_files(str(fake))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_test_id("avatar-error")).to_contain_text("not an image")
    with session_scope(app.engine) as session:
        assert session.get(Profile, member.id).avatar_path is None


def test_an_image_over_the_limit_is_refused_with_a_message(page: Page, app, tmp_path) -> None:
    member = create_member(app.engine)
    sign_in(page, member.email, DEFAULT_PASSWORD, start="/sign-in?next=/profile")
    big = tmp_path / "big.png"
    big.write_bytes(png_bytes() + b"\0" * (3 * 1024 * 1024))
    page.locator("#avatar").set_input_files(str(big))
    page.get_by_role("button", name="Upload").click()
    # The browser's form validation stops it (the server would refuse it unread, see
    # tests/web/test_avatar_upload.py): the message is on the field and nothing was sent.
    field = page.locator("#avatar")
    expect(field).to_have_js_property("validationMessage", "Choose an image of at most 2 MB")
    expect_path(page, "/profile")
    expect(page.get_by_test_id("profile-email")).to_have_text(member.email)
    with session_scope(app.engine) as session:
        assert session.get(Profile, member.id).avatar_path is None


def test_avatars_are_private_to_their_owner_and_admins(app) -> None:
    owner = create_member(app.engine)
    stranger = create_member(app.engine)
    admin = create_member(app.engine, role="admin")
    from dashboard_app.domain import profiles
    from dashboard_app.settings import Settings

    storage = Settings(_env_file=None, data_dir=app.data_dir).private_storage
    with session_scope(app.engine) as session:
        profiles.set_avatar(
            session=session, user=session.get(User, owner.id), data=png_bytes(), storage=storage
        )

    def fetch(member: User) -> int:
        with httpx.Client(base_url=app.base_url) as client:
            client.post("/auth/sign-in", data={"email": member.email, "password": DEFAULT_PASSWORD})
            return client.get(f"/account/avatar/{owner.id}").status_code

    assert fetch(owner) == 200
    assert fetch(admin) == 200
    assert fetch(stranger) == 404
    assert httpx.get(app.url(f"/account/avatar/{owner.id}")).status_code == 401
    assert httpx.get(app.url(f"/_upload/avatars/{owner.id}")).status_code == 404


def test_forgotten_password_is_reset_once_by_a_mailed_link(page: Page, app, mail) -> None:
    member = create_member(app.engine)
    with httpx.Client(base_url=app.base_url) as old_browser:
        old_browser.post(
            "/auth/sign-in", data={"email": member.email, "password": DEFAULT_PASSWORD}
        )
    assert (
        count_rows(
            app.engine,
            UserSession,
            UserSession.user_id == member.id,
            UserSession.revoked_at.is_(None),
        )
        == 1
    )

    page.goto("/sign-in")
    page.get_by_role("link", name="Forgot your password?").click()
    # Wait for the new page: the sign-in page has an #email field of its own.
    expect(page.get_by_role("button", name="Send me a reset link")).to_be_visible()
    page.fill("#email", member.email)
    page.get_by_role("button", name="Send me a reset link").click()
    expect(page.get_by_test_id("auth-notice")).to_contain_text("If an account uses that address")
    reset_link = local(link_in(mail.wait_for(member.email, "Reset your password")))

    page.goto(reset_link)
    page.fill("#password", "password123")  # long enough, but on the common-passwords list
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_test_id("auth-error")).to_contain_text("too easy to guess")
    page.fill("#password", NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_test_id("auth-notice")).to_contain_text("Your password was changed")
    # Every session of the member ended with the reset.
    assert (
        count_rows(
            app.engine,
            UserSession,
            UserSession.user_id == member.id,
            UserSession.revoked_at.is_(None),
        )
        == 0
    )

    page.goto(reset_link)
    page.fill("#password", "yet another passphrase 7")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_test_id("auth-notice")).to_contain_text("expired or was already used")

    sign_in(page, member.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("auth-error")).to_contain_text("do not match")
    sign_in(page, member.email, NEW_PASSWORD)
    expect(page.get_by_test_id("header-credits")).to_be_visible()


def test_reset_for_an_unknown_address_says_the_same_and_sends_nothing(page: Page, mail) -> None:
    email = unique_email("nobody")
    page.goto("/forgot-password")
    page.fill("#email", email)
    page.get_by_role("button", name="Send me a reset link").click()
    expect(page.get_by_test_id("auth-notice")).to_contain_text("If an account uses that address")
    assert mail.messages_to(email) == []


def sso_sign_in(page: Page, subject: str) -> None:
    page.goto("/sign-in")
    page.get_by_test_id("sso-button").click()
    page.fill("input[name=sub]", subject)
    page.get_by_role("button", name="Authorize").click()


def test_single_sign_on_creates_the_member_then_signs_them_in_again(page: Page, app) -> None:
    sso_sign_in(page, "sso-alice")
    expect_path(page, "/")
    expect(page.get_by_test_id("header-member")).to_have_text("Alice Sso")
    alice = user_by_email(app, "alice.sso@example.com")
    assert alice.password_hash is None and alice.email_verified_at is not None
    page.get_by_role("button", name="Sign out", exact=True).click()
    sso_sign_in(page, "sso-alice")
    expect(page.get_by_test_id("header-member")).to_have_text("Alice Sso")
    assert count_rows(app.engine, OAuthIdentity, OAuthIdentity.user_id == alice.id) == 1
    assert count_rows(app.engine, User, User.email == "alice.sso@example.com") == 1


def test_single_sign_on_does_not_join_an_account_on_an_unverified_email(page: Page, app) -> None:
    create_member(app.engine, email="unverified.sso@example.com")
    sso_sign_in(page, "sso-unverified")
    expect_path(page, "/sign-in")
    expect(page.get_by_test_id("auth-error")).to_contain_text("Sign in with your password")
    assert count_rows(app.engine, OAuthIdentity, OAuthIdentity.subject == "sso-unverified") == 0


def provider_answer(client: httpx.Client, subject: str) -> str:
    """Start single sign-on with the app and authorize at the provider: the callback URL."""
    start = client.get("/auth/sso/start")
    assert start.status_code == 303
    authorize = httpx.post(start.headers["location"], data={"sub": subject})
    assert authorize.status_code in (302, 303), authorize.text
    return authorize.headers["location"]


def test_a_tampered_single_sign_on_state_is_refused(app) -> None:
    before = count_rows(app.engine, UserSession)
    with httpx.Client(base_url=app.base_url) as client:
        callback = provider_answer(client, "sso-alice")
        forged = client.get(callback.replace("state=", "state=forged"))
        assert forged.status_code == 303
        assert forged.headers["location"].startswith("/sign-in?message=")
        assert "dash_session" not in forged.cookies
    # The genuine answer, arriving in a browser that did not start the sign-in, is refused too.
    with httpx.Client(base_url=app.base_url) as first, httpx.Client() as other:
        callback = provider_answer(first, "sso-alice")
        stranger = other.get(callback)
        assert stranger.status_code == 303 and "dash_session" not in stranger.cookies
    assert count_rows(app.engine, UserSession) == before


def test_the_refusal_message_says_why(page: Page, app) -> None:
    with httpx.Client(base_url=app.base_url) as client:
        callback = provider_answer(client, "sso-alice")
        forged = client.get(callback.replace("state=", "state=forged"))
    page.goto(forged.headers["location"])
    expect(page.get_by_test_id("auth-error")).to_contain_text("does not match this browser")


def test_repeated_failures_slow_down_then_lock_the_account(page: Page, app) -> None:
    member = create_member(app.engine)
    with httpx.Client(base_url=app.base_url) as client:
        for _ in range(10):
            client.post("/auth/sign-in", data={"email": member.email, "password": "wrong guess!!"})
    sign_in(page, member.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("auth-error")).to_contain_text("Too many failed sign-ins")
    assert page.context.cookies() == []
    with session_scope(app.engine) as session:
        burst = session.exec(
            select(AuditEntry).where(
                AuditEntry.action == "sign_in.failure_burst",
                AuditEntry.subject_user_id == member.id,
            )
        ).one()
        assert burst.after["failures"] == 10


def test_a_suspended_member_cannot_sign_in_and_sees_why(page: Page, app) -> None:
    member = create_member(app.engine)
    with session_scope(app.engine) as session:
        accounts.suspend_member(
            session=session,
            user=session.get(User, member.id),
            reason="payment dispute under review",
            actor_user_id=None,
        )
    sign_in(page, member.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("auth-error")).to_contain_text("payment dispute under review")
    assert page.context.cookies() == []


def test_a_forged_sign_in_message_is_not_shown(page: Page) -> None:
    page.goto("/sign-in?message=Your+account+is+locked.+Call++1-800-SCAM")
    expect(page.locator("#email")).to_be_visible()
    expect(page.get_by_test_id("auth-error")).to_have_count(0)


def test_sessions_are_listed_and_the_others_can_be_ended(page: Page, app) -> None:
    member = create_member(app.engine)
    with httpx.Client(
        base_url=app.base_url, headers={"User-Agent": "Mozilla/5.0 (Windows NT 10.0) Firefox/130.0"}
    ) as other:
        other.post("/auth/sign-in", data={"email": member.email, "password": DEFAULT_PASSWORD})
        sign_in(page, member.email, DEFAULT_PASSWORD, start="/sign-in?next=/profile")
        rows = page.get_by_test_id("session-row")
        expect(rows).to_have_count(2)
        expect(rows.filter(has_text="this browser")).to_contain_text("Headless Chrome on Linux")
        expect(rows.filter(has_text="Firefox on Windows")).to_have_count(1)
        page.get_by_role("button", name="Sign out everywhere else").click()
        expect(rows).to_have_count(1)
        assert other.get("/account/export").status_code == 401
    expect(page.get_by_test_id("header-credits")).to_be_visible()


def test_a_member_downloads_their_data(page: Page, app) -> None:
    member = create_member(app.engine, credits_granted=12)
    sign_in(page, member.email, DEFAULT_PASSWORD, start="/sign-in?next=/profile")
    expect(page.get_by_test_id("export-link")).to_be_visible()
    response = page.request.get("/account/export")
    assert response.status == 200
    assert "attachment" in response.headers["content-disposition"]
    data = json.loads(response.body())
    assert data["account"]["email"] == member.email
    assert [e["amount"] for e in data["credit_history"]] == [12]
    assert "password_hash" not in json.dumps(data) and "token_hash" not in json.dumps(data)
    assert httpx.get(app.url("/account/export")).status_code == 401


def test_email_change_takes_effect_after_the_new_address_confirms(page: Page, app, mail) -> None:
    member = create_member(app.engine)
    taken = create_member(app.engine)
    new_email = unique_email("moved")
    sign_in(page, member.email, DEFAULT_PASSWORD, start="/sign-in?next=/profile")
    page.get_by_label("New email address").fill(taken.email)
    page.get_by_role("button", name="Change email").click()
    expect(page.get_by_test_id("email-error")).to_contain_text("Another account")
    page.get_by_label("New email address").fill(new_email)
    page.get_by_role("button", name="Change email").click()
    expect(page.get_by_test_id("email-sent")).to_contain_text(new_email)
    assert user_by_email(app, member.email).id == member.id  # not changed yet
    page.goto(local(link_in(mail.wait_for(new_email, "Confirm your new email address"))))
    expect(page.get_by_test_id("page-notice")).to_contain_text("new email address is confirmed")
    expect(page.get_by_test_id("profile-email")).to_have_text(new_email)


def test_the_fourth_email_change_in_a_quarter_hour_is_refused_and_says_when(
    page: Page, app, mail
) -> None:
    member = create_member(app.engine)
    sign_in(page, member.email, DEFAULT_PASSWORD, start="/sign-in?next=/profile")
    addresses = [unique_email("moving") for _ in range(4)]
    for address in addresses[:3]:
        page.get_by_label("New email address").fill(address)
        page.get_by_role("button", name="Change email").click()
        expect(page.get_by_test_id("email-sent")).to_contain_text(address)
    page.get_by_label("New email address").fill(addresses[3])
    page.get_by_role("button", name="Change email").click()
    expect(page.get_by_test_id("email-error")).to_contain_text(
        re.compile(r"Try again after \d\d:\d\d UTC")
    )
    for address in addresses[:3]:
        mail.wait_for(address, "Confirm your new email address")
    assert mail.messages_to(addresses[3]) == []


def test_the_fourth_verification_mail_in_a_quarter_hour_is_refused_and_says_when(
    page: Page, app, mail
) -> None:
    member = create_member(app.engine)
    with session_scope(app.engine) as session:
        user = session.get(User, member.id)
        user.email_verified_at = None
        session.add(user)
    sign_in(page, member.email, DEFAULT_PASSWORD)
    for count in (1, 2, 3):
        page.get_by_role("button", name="Send it again").click()
        expect(page.get_by_test_id("page-notice")).to_contain_text("We sent you a new")
        mail.wait_for(member.email, "Confirm your email address", count=count)
        page.get_by_role("button", name="Dismiss").click()
    page.get_by_role("button", name="Send it again").click()
    expect(page.get_by_test_id("page-notice")).to_contain_text(
        re.compile(r"Try again after \d\d:\d\d UTC")
    )
    assert len(mail.messages_to(member.email)) == 3


def test_deleting_the_account_erases_personal_data_and_signs_out(page: Page, app) -> None:
    member = create_member(app.engine, display_name="Leaving Member", credits_granted=3)
    sign_in(page, member.email, DEFAULT_PASSWORD, start="/sign-in?next=/profile")
    page.get_by_label("Confirm with your password").fill("not my password")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_test_id("page-notice")).to_contain_text("was not deleted")
    page.get_by_label("Confirm with your password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_test_id("auth-notice")).to_contain_text("Your account was deleted")
    with session_scope(app.engine) as session:
        user = session.get(User, member.id)
        assert user.deleted_at is not None and user.email.endswith("@deleted.invalid")
        assert session.get(Profile, member.id).display_name == ""
    sign_in(page, member.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("auth-error")).to_contain_text("do not match")


def test_the_saved_theme_applies_when_the_member_signs_in(page: Page, app) -> None:
    member = create_member(app.engine)
    with session_scope(app.engine) as session:
        from dashboard_app.domain import profiles

        current = profiles.get_profile(session=session, user_id=member.id)
        profiles.update_profile(
            session=session,
            user=session.get(User, member.id),
            changes=profiles.ProfileChanges(
                **{name: getattr(current, name) for name in profiles.TEXT_LIMITS},
                address_postal_code="",
                address_country="",
                wallet_address="",
                theme="dark",
                default_platform="",
                email_notifications=True,
            ),
        )
    page.emulate_media(color_scheme="light")
    sign_in(page, member.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("header-credits")).to_be_visible()
    expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))


def test_an_open_tab_whose_session_ends_elsewhere_goes_to_sign_in(page: Page, browser, app) -> None:
    member = create_member(app.engine)
    sign_in(page, member.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("header-credits")).to_be_visible()
    other_context = browser.new_context(base_url=app.base_url)
    other = other_context.new_page()
    sign_in(other, member.email, DEFAULT_PASSWORD, start="/sign-in?next=/profile")
    other.get_by_role("button", name="Sign out everywhere else").click()
    # The first tab notices on its next poll, within two seconds, without a reload.
    expect(page).to_have_url(re.compile(r"/sign-in"), timeout=2000)
    expect(page.get_by_test_id("header-credits")).to_have_count(0)
    other_context.close()
