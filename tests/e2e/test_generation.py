"""Generation in the browser, each test a whole flow: create a reel and watch it render live
(on its review page and on the overview in a second tab), play it, regenerate one variant,
save it, find it in the library by search and by filter, download a valid MP4; an image from a
form saved as a draft and continued from the overview, on the profile's default platform,
renamed, tagged, found by tag and deleted; and the limits a member meets on the way, each
refused with its reason."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import av
import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.domain import credits, plans, profiles
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.models import Asset, Generation
from tests.conftest import REEL_HEIGHT, REEL_SECONDS
from tests.e2e.helpers import expect_path, sign_in
from tests.factories import DEFAULT_PASSWORD, create_member

pytestmark = pytest.mark.e2e
CATALOG = get_catalog()
# A render and a page's first load on a busy machine; every wait ends as soon as its condition
# holds.
RENDER_MS = 60_000
PAGE_LOAD_MS = 15_000
REVIEW_PATH = re.compile(r"/review/(\d+)/?$")

# Records every value the progress figures of the page take, as the page shows them.
WATCH_PROGRESS = """() => {
    window.seenProgress = [];
    const record = () => document.querySelectorAll('[data-testid="variant-progress"]')
        .forEach((figure) => window.seenProgress.push(figure.textContent));
    record();
    new MutationObserver(record).observe(document.body,
        {subtree: true, childList: true, characterData: true});
}"""


def choose(page: Page, field_id: str, option: str) -> None:
    page.locator(f"#{field_id}").click()
    page.get_by_role("option", name=re.compile(rf"^{re.escape(option)}")).click()


def fill_create_form(page: Page, *, topic: str, title: str, preset: str, variants: int) -> None:
    page.locator("#topic").fill(topic)
    page.locator("#title").fill(title)
    choose(page, "platform", "TikTok")
    choose(page, "preset", CATALOG.presets[preset].name)
    choose(page, "variants", str(variants))


def submit_and_land_on_review(page: Page) -> tuple[int, float]:
    """Submit the form; the job's id and the seconds from the form's submit event (in the
    page) to the review page's address."""
    page.evaluate(
        "() => document.addEventListener('submit', () => { window.submittedAt = "
        "performance.now(); }, {capture: true, once: true})"
    )
    page.get_by_test_id("create-submit").click()
    expect(page).to_have_url(REVIEW_PATH)
    elapsed = page.evaluate("() => (performance.now() - window.submittedAt) / 1000")
    return int(REVIEW_PATH.search(page.url).group(1)), elapsed


# What shows that a page's data is in, as these flows open them (a job, a saved result).
LOADED = {"/": "meter-used", "/jobs": "job-row", "/library": "library-item"}


def open_page(page: Page, path: str) -> None:
    """Go to `path` and wait (as long as a busy machine needs) until its data is in."""
    page.goto(path)
    if path == "/create":  # the form shows once it has started
        expect(page.locator("#topic")).to_be_editable(timeout=PAGE_LOAD_MS)
    elif path.startswith("/review/"):
        expect(page.get_by_test_id("review-status")).not_to_have_text("", timeout=PAGE_LOAD_MS)
    else:
        expect(page.get_by_test_id(LOADED[path]).first).to_be_visible(timeout=PAGE_LOAD_MS)


def sign_in_and_open_create(page: Page, email: str) -> None:
    sign_in(page, email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("header-credits")).to_be_visible(timeout=PAGE_LOAD_MS)
    open_page(page, "/create")


def balance(app, member_id: int) -> credits.Balances:
    with session_scope(app.engine) as session:
        return credits.get_balances(session=session, user_id=member_id)


def test_a_reel_from_create_to_a_downloaded_video(page: Page, app, tmp_path) -> None:
    member = create_member(app.engine, credits_granted=100)
    word = uuid.uuid4().hex[:8]
    neon = CATALOG.presets["neon"].credits_per_variant
    sign_in(page, member.email, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("header-credits")).to_have_text("100")
    overview = page.context.new_page()  # a second tab, left on the overview
    open_page(overview, "/")
    expect(overview.get_by_test_id("header-credits")).to_have_text("100")
    # The member goes on in the first tab; the overview stays open behind it (a hidden tab's
    # page waits for animation frames that never come, and every action on it would crawl).
    page.bring_to_front()

    page.get_by_test_id("create-new-reel").click()
    expect_path(page, "/create")
    fill_create_form(
        page,
        topic=f"Five slow stretches gate-{word}",
        title=f"Stretch {word}",
        preset="neon",
        variants=2,
    )
    # The cost, what the member has, and the plan's pool, before submitting.
    expect(page.get_by_test_id("quote-cost")).to_have_text(str(2 * neon))
    expect(page.get_by_test_id("quote-available")).to_have_text("100")
    expect(page.get_by_test_id("quote-pool")).to_have_text(
        str(CATALOG.plans["free"].monthly_minutes)
    )
    generation_id, elapsed = submit_and_land_on_review(page)
    assert elapsed < 1.0, f"landing on the review page took {elapsed:.2f}s"

    # Progress moves live while the worker renders, here and on the overview tab.
    page.evaluate(WATCH_PROGRESS)
    expect(page.get_by_test_id("variant-card")).to_have_count(2)
    page.wait_for_function("new Set(window.seenProgress).size >= 3", timeout=RENDER_MS)
    expect(overview.get_by_test_id("running-job")).to_have_count(1)
    expect(overview.get_by_test_id("header-credits")).to_have_text(str(100 - 2 * neon))
    app.open_gate(word)
    expect(page.get_by_test_id("variant-status")).to_have_text(
        ["Ready", "Ready"], timeout=RENDER_MS
    )
    seen = page.evaluate("window.seenProgress")
    figures = {int(value.rstrip("%")) for value in seen}
    assert len(figures - {0}) >= 2 and max(figures) < 100, seen
    expect(page.get_by_test_id("review-money")).to_have_text(f"Charged {2 * neon} credits")

    # The video plays in the page, with its poster.
    video = page.get_by_test_id("variant-video").first
    expect(video).to_have_attribute("poster", re.compile(r"^/files/"))
    video.evaluate("(v) => { v.muted = true; return v.play(); }")
    page.wait_for_function(
        "(v) => v.readyState >= 2 && v.currentTime > 0", arg=video.element_handle(), timeout=10_000
    )

    # The overview tab: no job in progress any more, meters and balance moved, the results shown.
    expect(overview.get_by_test_id("running-job")).to_have_count(0)
    expect(overview.get_by_test_id("header-credits")).to_have_text(str(100 - 2 * neon))
    expect(overview.get_by_test_id("meter-used").nth(1)).to_have_text(
        re.compile(rf"^1 of {CATALOG.plans['free'].monthly_minutes}$")
    )
    expect(overview.get_by_test_id("recent-result")).to_have_count(2)

    # Regenerate the first variant: refused during the cooldown, with the time left.
    first = page.get_by_test_id("variant-card").first
    first.get_by_test_id("variant-regenerate").click()
    expect(page.get_by_test_id("review-message")).to_contain_text("You can regenerate this variant")
    assert balance(app, member.id).reserved == 0
    with session_scope(app.engine) as session:  # the cooldown has passed
        generation = session.get(Generation, generation_id)
        generation.finished_at -= timedelta(minutes=5)
    first.get_by_test_id("variant-regenerate").click()
    expect(page.get_by_test_id("review-message")).to_have_count(0)
    expect(page.get_by_test_id("header-credits")).to_have_text(str(100 - 3 * neon))
    expect(first.get_by_test_id("variant-status")).to_have_text("Ready", timeout=RENDER_MS)
    expect(first).to_contain_text(f"Regeneration: Charged {neon} credits")

    # Save it, then find it in the library by search and by filter.
    first.get_by_test_id("variant-save").click()
    expect(first.get_by_test_id("variant-saved")).to_be_visible()
    page.get_by_test_id("nav-library").click()
    expect_path(page, "/library")
    items = page.get_by_test_id("library-item")
    expect(items).to_have_count(1)
    page.locator("#filter-search").fill(word)
    page.get_by_test_id("library-apply").click()
    expect(items).to_have_count(1)
    page.locator("#filter-search").fill("nothing-like-this")
    page.get_by_test_id("library-apply").click()
    expect(page.get_by_test_id("library-empty")).to_be_visible()
    page.locator("#filter-search").fill("")
    choose(page, "filter-platform", "Instagram Reels")
    page.get_by_test_id("library-apply").click()
    expect(page.get_by_test_id("library-empty")).to_be_visible()
    choose(page, "filter-platform", "TikTok")
    choose(page, "filter-kind", "Videos")
    page.get_by_test_id("library-apply").click()
    expect(items).to_have_count(1)
    expect(items.first.get_by_test_id("library-title")).to_have_text(f"Stretch {word}")

    # Download it: a valid MP4 of the configured length and size, counted as an export.
    with page.expect_download() as download:
        items.first.get_by_test_id("library-download").click()
    saved = tmp_path / "reel.mp4"
    download.value.save_as(saved)
    with av.open(str(saved)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (
            REEL_HEIGHT * 9 // 16,
            REEL_HEIGHT,
        )
        assert container.duration / 1_000_000 == pytest.approx(REEL_SECONDS, abs=0.2)
        assert sum(1 for _ in container.decode(video=0)) >= 2
    expect(overview.get_by_test_id("meter-used").first).to_have_text(
        f"1 of {CATALOG.plans['free'].monthly_exports}"
    )
    expect(overview.get_by_test_id("recent-export")).to_contain_text(f"Stretch {word}")


def test_an_image_from_a_draft_to_a_download(page: Page, app, tmp_path) -> None:
    member = create_member(app.engine, credits_granted=50)
    with session_scope(app.engine) as session:  # chosen on the profile page earlier
        profiles.get_profile(session=session, user_id=member.id).default_platform = "youtube_shorts"
    word = uuid.uuid4().hex[:8]
    clean = CATALOG.presets["clean"].credits_per_variant
    topic = f"A calm desk {word}"
    sign_in_and_open_create(page, member.email)
    # The form starts on the profile's default platform; saved as a draft, it is kept.
    expect(page.locator("#platform")).to_have_text("YouTube Shorts")
    page.locator("#topic").fill(topic)
    page.locator("#title").fill(f"Desk {word}")
    choose(page, "preset", CATALOG.presets["clean"].name)
    page.get_by_text("Image", exact=True).click()
    expect(page.get_by_role("radio", name="Image")).to_be_checked()  # the choice is in the form
    page.get_by_test_id("save-draft").click()
    expect(page.get_by_test_id("draft-saved")).to_have_text("Draft saved.")
    expect(page.get_by_test_id("draft-row")).to_have_count(1)

    # Continue it from the overview: the form comes back as it was saved.
    open_page(page, "/")
    page.get_by_test_id("continue-draft").click()
    expect(page.locator("#topic")).to_have_value(topic)
    expect(page.locator("#platform")).to_have_text("YouTube Shorts")
    expect(page.get_by_role("radio", name="Image")).to_be_checked()
    expect(page.get_by_test_id("quote-cost")).to_have_text(str(clean))
    submit_and_land_on_review(page)
    expect(page.get_by_test_id("variant-status")).to_have_text("Ready", timeout=RENDER_MS)
    image = page.get_by_test_id("variant-image")
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth === 1080 && img.naturalHeight === 1920",
        arg=image.element_handle(),
    )
    page.get_by_test_id("variant-save").click()
    expect(page.get_by_test_id("variant-saved")).to_be_visible()

    open_page(page, "/library")
    choose(page, "filter-kind", "Images")
    page.get_by_test_id("library-apply").click()
    expect(page.get_by_test_id("library-item")).to_have_count(1)
    with page.expect_download() as download:
        page.get_by_test_id("library-download").click()
    saved = tmp_path / "image"
    download.value.save_as(saved)
    with Image.open(saved) as picture:
        assert picture.size == (1080, 1920)
    assert balance(app, member.id).available == 50 - clean

    # Rename it and tag it; the tag filter finds it; deleted, it leaves the library.
    item = page.get_by_test_id("library-item")
    item.get_by_test_id("library-edit").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Title").fill(f"Desk at dawn {word}")
    dialog.get_by_label("Tags").fill(f"calm, tag{word}")
    dialog.get_by_role("button", name="Save").click()
    expect(item.get_by_test_id("library-title")).to_have_text(f"Desk at dawn {word}")
    expect(item.get_by_test_id("library-tags")).to_have_text(f"calm, tag{word}")
    page.locator("#filter-tag").fill(f"tag{word}")
    page.get_by_test_id("library-apply").click()
    expect(item).to_have_count(1)
    page.locator("#filter-tag").fill("sunset")
    page.get_by_test_id("library-apply").click()
    expect(page.get_by_test_id("library-empty")).to_be_visible()
    page.locator("#filter-tag").fill("")
    page.get_by_test_id("library-apply").click()
    item.get_by_test_id("library-delete").click()
    expect(page.get_by_test_id("library-empty")).to_be_visible()
    with session_scope(app.engine) as session:  # soft: the row stays, marked deleted
        (asset,) = session.exec(select(Asset).where(Asset.owner_id == member.id)).all()
        assert asset.deleted_at is not None and asset.title == f"Desk at dawn {word}"


def test_limits_are_refused_in_the_browser_with_their_reason(page: Page, app) -> None:
    member = create_member(app.engine, credits_granted=100)
    word = uuid.uuid4().hex[:8]
    sign_in_and_open_create(page, member.email)
    fill_create_form(
        page, topic=f"Held back gate-{word}", title="First", preset="clean", variants=1
    )
    first_id, _ = submit_and_land_on_review(page)
    held = balance(app, member.id)

    # The free plan runs one job at a time: the second is refused, says so, holds nothing.
    open_page(page, "/create")
    fill_create_form(page, topic="One more", title="Second", preset="clean", variants=1)
    page.get_by_test_id("create-submit").click()
    expect(page.get_by_test_id("create-error")).to_contain_text("runs 1 job at a time")
    expect_path(page, "/create")
    assert balance(app, member.id) == held

    # Cancel the first one: its credits come back.
    open_page(page, f"/review/{first_id}")
    page.get_by_test_id("review-cancel").click()
    expect(page.get_by_test_id("review-status")).to_have_text("Cancelled")
    expect(page.get_by_test_id("header-credits")).to_have_text("100")

    # A job that fails shows its error on Jobs, and Retry runs it again.
    open_page(page, "/create")
    fill_create_form(page, topic=f"Broken fail-{word}", title="Third", preset="clean", variants=1)
    submit_and_land_on_review(page)
    expect(page.get_by_test_id("review-status")).to_have_text("Failed", timeout=RENDER_MS)
    open_page(page, "/jobs")
    rows = page.get_by_test_id("job-row")
    expect(rows).to_have_count(2)
    page.get_by_role("combobox", name="Status").click()
    page.get_by_role("option", name="Failed").click()
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_test_id("job-error")).to_contain_text(
        "The renderer refused this topic."
    )
    app.open_gate(word)
    rows.first.get_by_test_id("job-retry").click()
    page.get_by_role("combobox", name="Status").click()
    page.get_by_role("option", name="All jobs").click()
    expect(rows.first.get_by_test_id("job-status")).to_have_text("Ready", timeout=RENDER_MS)

    # Past the month's exports, a download is refused with the limit and when it resets.
    open_page(page, rows.first.get_by_role("link").get_attribute("href"))
    expect(page.get_by_test_id("review-title")).to_have_text("Third")
    page.get_by_test_id("variant-save").click()
    expect(page.get_by_test_id("variant-saved")).to_be_visible()
    with session_scope(app.engine) as session:
        plans.record_usage(
            session=session,
            user_id=member.id,
            metric="exports",
            quantity=CATALOG.plans["free"].monthly_exports,
            reference=f"earlier-exports:{member.id}",
        )
    open_page(page, "/library")
    page.get_by_test_id("library-download").click()
    expect(page.get_by_test_id("library-message")).to_contain_text(
        f"You have used all {CATALOG.plans['free'].monthly_exports} exports of this month"
    )
