"""The library: saved results, filtered by platform, format and tag, searched by title and
tags (FTS5 on SQLite, a GIN index on PostgreSQL), paged by a cursor that stays stable while
new assets arrive; edits, soft deletion, downloads counted as exports. Another member's ids
get NotFound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard_app.db import session_scope
from dashboard_app.domain import plans
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import InvalidInput, NotFound
from dashboard_app.domain.generation import downloads, library, review
from dashboard_app.domain.plans import LimitReached
from dashboard_app.models import Asset, Generation, UsageEntry, Variant
from tests.factories import count_rows, create_member

CATALOG = get_catalog()
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def delivered(engine, member: int, *, title: str, platform="tiktok", kind="video", n=0, saved=True):
    """A finished generation with one variant whose result is stored (and saved)."""
    with session_scope(engine) as session:
        generation = Generation(
            user_id=member,
            idempotency_key=f"{member}:lib-{title}-{n}",
            status="succeeded",
            title=title,
            prompt=title,
            platform=platform,
            preset="neon",
            format=kind,
            finished_at=NOW,
        )
        session.add(generation)
        session.flush()
        asset = Asset(
            owner_id=member,
            generation_id=generation.id,
            kind=kind,
            title=title,
            search_text=title.lower(),
            storage_key=f"generations/{generation.id}/v1/r0/media.mp4",
            content_type="video/mp4" if kind == "video" else "image/jpeg",
            platform=platform,
            preset="neon",
            created_at=NOW,
        )
        session.add(asset)
        session.flush()
        variant = Variant(
            generation_id=generation.id, status="succeeded", progress=100, asset_id=asset.id
        )
        session.add(variant)
        session.flush()
        variant_id = variant.id
    if saved:
        with session_scope(engine) as session:
            review.save_variant(
                session=session,
                user_id=member,
                variant_id=variant_id,
                now=NOW + timedelta(seconds=n),
            )
    return variant_id, asset.id


def titles(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [item.title for item in page.items]


def listing(engine, member: int, **filters):  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return library.list_library(session=session, user_id=member, catalog=CATALOG, **filters)


def test_saving_puts_a_result_in_the_library_once(engine) -> None:
    member = create_member(engine).id
    variant_id, asset_id = delivered(engine, member, title="Morning habits", saved=False)
    assert titles(listing(engine, member)) == []
    for _ in range(2):
        with session_scope(engine) as session:
            review.save_variant(session=session, user_id=member, variant_id=variant_id, now=NOW)
    assert titles(listing(engine, member)) == ["Morning habits"]


def test_pages_are_newest_first_and_stable_while_new_assets_arrive(engine) -> None:
    member = create_member(engine).id
    for n in range(5):
        delivered(engine, member, title=f"Reel {n}", n=n)
    first = listing(engine, member, limit=2)
    assert titles(first) == ["Reel 4", "Reel 3"]
    delivered(engine, member, title="Reel new", n=10)
    second = listing(engine, member, limit=2, cursor=first.next_cursor)
    third = listing(engine, member, limit=2, cursor=second.next_cursor)
    assert titles(second) == ["Reel 2", "Reel 1"]
    assert titles(third) == ["Reel 0"] and third.next_cursor is None


def test_filters_by_platform_format_and_tag(engine) -> None:
    member = create_member(engine).id
    delivered(engine, member, title="Tok video", platform="tiktok", n=1)
    delivered(engine, member, title="Shorts video", platform="youtube_shorts", n=2)
    _, image = delivered(engine, member, title="Tok image", platform="tiktok", kind="image", n=3)
    with session_scope(engine) as session:
        library.edit_asset(
            session=session,
            user_id=member,
            asset_id=image,
            title="Tok image",
            tags=["Launch", " promo ", "launch"],
            now=NOW,
        )
    assert titles(listing(engine, member, platform="tiktok")) == ["Tok image", "Tok video"]
    assert titles(listing(engine, member, kind="video")) == ["Shorts video", "Tok video"]
    assert titles(listing(engine, member, tag="launch")) == ["Tok image"]
    assert titles(listing(engine, member, tag="promo", platform="tiktok")) == ["Tok image"]
    with pytest.raises(InvalidInput):
        listing(engine, member, platform="myspace")
    with pytest.raises(InvalidInput):
        listing(engine, member, kind="avatar")
    with pytest.raises(InvalidInput):
        listing(engine, member, cursor="not-a-cursor")


def test_search_matches_words_of_title_and_tags_and_only_the_members_own(engine) -> None:
    member = create_member(engine).id
    other = create_member(engine).id
    delivered(engine, member, title="Calm mornings for parents", n=1)
    _, tagged = delivered(engine, member, title="Evening routine", n=2)
    delivered(engine, member, title="Gym motivation", n=3)
    delivered(engine, other, title="Calm mornings, someone else's", n=4)
    with session_scope(engine) as session:
        library.edit_asset(
            session=session,
            user_id=member,
            asset_id=tagged,
            title="Evening routine",
            tags=["calm", "sleep"],
            now=NOW,
        )
    assert titles(listing(engine, member, search="calm")) == [
        "Evening routine",
        "Calm mornings for parents",
    ]
    assert titles(listing(engine, member, search="morn")) == ["Calm mornings for parents"]
    assert titles(listing(engine, member, search="calm sleep")) == ["Evening routine"]
    assert titles(listing(engine, member, search='"); DROP TABLE assets; --')) == []
    assert titles(listing(engine, member, search="_ :* & ! (")) == titles(listing(engine, member))
    assert titles(listing(engine, member, search="   ")) == titles(listing(engine, member))


def test_edit_and_soft_delete(engine) -> None:
    member = create_member(engine).id
    _, asset_id = delivered(engine, member, title="Old title", n=1)
    with session_scope(engine) as session:
        asset = library.edit_asset(
            session=session,
            user_id=member,
            asset_id=asset_id,
            title="  New   title ",
            tags=["one"],
            now=NOW,
        )
    assert (asset.title, asset.tags) == ("New title", ["one"])
    assert titles(listing(engine, member, search="new")) == ["New title"]
    assert titles(listing(engine, member, search="old")) == []
    for bad in (
        {"title": ""},
        {"title": "x" * 300},
        {"tags": ["x" * 50]},
        {"tags": [f"t{i}" for i in range(30)]},
        {"tags": "one"},
        {"tags": [3]},
    ):
        values = {"title": "Fine", "tags": [], **bad}
        with session_scope(engine) as session, pytest.raises(InvalidInput):
            library.edit_asset(session=session, user_id=member, asset_id=asset_id, **values)
    with session_scope(engine) as session:
        library.delete_asset(session=session, user_id=member, asset_id=asset_id, now=NOW)
    assert titles(listing(engine, member)) == []
    assert titles(listing(engine, member, search="new")) == []
    assert titles(listing(engine, member, tag="one")) == []
    assert count_rows(engine, Asset, Asset.id == asset_id) == 1  # soft: the row stays


def test_an_edit_may_change_only_the_title_or_only_the_tags(engine) -> None:
    member = create_member(engine).id
    _, asset_id = delivered(engine, member, title="Old title", n=1)
    with session_scope(engine) as session:
        library.edit_asset(
            session=session, user_id=member, asset_id=asset_id, title="Kept", tags=["a", "b"]
        )
    with session_scope(engine) as session:
        asset = library.edit_asset(session=session, user_id=member, asset_id=asset_id, tags=["c"])
    assert (asset.title, asset.tags) == ("Kept", ["c"])
    with session_scope(engine) as session:
        asset = library.edit_asset(session=session, user_id=member, asset_id=asset_id, title="New")
    assert (asset.title, asset.tags) == ("New", ["c"])
    assert titles(listing(engine, member, tag="c")) == ["New"]
    assert titles(listing(engine, member, search="new")) == ["New"]
    for bad in ({"title": None}, {"tags": None}, {"title": " "}):
        with session_scope(engine) as session, pytest.raises(InvalidInput):
            library.edit_asset(session=session, user_id=member, asset_id=asset_id, **bad)


def test_another_members_assets_are_not_found(engine) -> None:
    member = create_member(engine).id
    stranger = create_member(engine).id
    variant_id, asset_id = delivered(engine, member, title="Mine", n=1)
    with session_scope(engine) as session:
        for action in (
            lambda: library.edit_asset(
                session=session, user_id=stranger, asset_id=asset_id, title="x", tags=[]
            ),
            lambda: library.delete_asset(session=session, user_id=stranger, asset_id=asset_id),
            lambda: review.save_variant(session=session, user_id=stranger, variant_id=variant_id),
            lambda: downloads.start_download(
                session=session,
                user_id=stranger,
                asset_id=asset_id,
                catalog=CATALOG,
                request_id="download-0001",
            ),
            lambda: downloads.file_for(
                session=session,
                viewer_id=stranger,
                viewer_is_admin=False,
                asset_id=asset_id,
                part="media",
            ),
        ):
            with pytest.raises(NotFound) as refused:
                action()
            assert refused.value.message in ("No such file", "No such variant")
    assert titles(listing(engine, stranger)) == []


def test_a_download_counts_one_export_and_stops_at_the_monthly_limit(engine) -> None:
    member = create_member(engine).id
    _, asset_id = delivered(engine, member, title="Mine", n=1)
    limit = CATALOG.plans["free"].monthly_exports
    with session_scope(engine) as session:
        plans.record_usage(
            session=session,
            user_id=member,
            metric="exports",
            quantity=limit - 1,
            reference="earlier",
            now=NOW,
        )
    for _ in range(2):  # the same request twice (a double click) counts once
        with session_scope(engine) as session:
            grant = downloads.start_download(
                session=session,
                user_id=member,
                asset_id=asset_id,
                catalog=CATALOG,
                request_id="download-0001",
                now=NOW,
            )
    assert (grant.storage_key, grant.content_type) == (
        f"generations/{grant.generation_id}/v1/r0/media.mp4",
        "video/mp4",
    )
    assert grant.filename.endswith(".mp4") and "mine" in grant.filename
    with session_scope(engine) as session:
        assert plans.usage_this_month(session=session, user_id=member, now=NOW).exports == limit
        with pytest.raises(LimitReached, match=f"all {limit} exports") as refused:
            downloads.start_download(
                session=session,
                user_id=member,
                asset_id=asset_id,
                catalog=CATALOG,
                request_id="download-0002",
                now=NOW,
            )
        assert refused.value.limit == "monthly_exports"
    assert count_rows(engine, UsageEntry, UsageEntry.user_id == member) == 2


def test_admins_may_fetch_a_members_file_and_deleted_files_are_gone(engine) -> None:
    member = create_member(engine).id
    admin = create_member(engine, role="admin").id
    _, asset_id = delivered(engine, member, title="Mine", n=1)
    with session_scope(engine) as session:
        found = downloads.file_for(
            session=session,
            viewer_id=admin,
            viewer_is_admin=True,
            asset_id=asset_id,
            part="media",
        )
        assert found.storage_key.endswith("media.mp4")
        with pytest.raises(NotFound):
            downloads.file_for(
                session=session,
                viewer_id=member,
                viewer_is_admin=False,
                asset_id=asset_id,
                part="poster",  # this asset has no poster
            )
        library.delete_asset(session=session, user_id=member, asset_id=asset_id, now=NOW)
    with session_scope(engine) as session, pytest.raises(NotFound):
        downloads.file_for(
            session=session,
            viewer_id=member,
            viewer_is_admin=False,
            asset_id=asset_id,
            part="media",
        )


def test_the_overview_lists_recent_results_and_recent_exports_of_the_member_only(engine) -> None:
    member = create_member(engine).id
    stranger = create_member(engine).id
    delivered(engine, member, title="Older", n=1, saved=False)
    _, newer = delivered(engine, member, title="Newer", kind="image", n=2)
    _, gone = delivered(engine, member, title="Deleted", n=3)
    delivered(engine, stranger, title="Not mine", n=4)
    with session_scope(engine) as session:
        library.delete_asset(session=session, user_id=member, asset_id=gone, now=NOW)
    with session_scope(engine) as session:
        recent = library.recent_results(session=session, user_id=member, limit=8)
        # Newest first, saved or not; deleted ones and another member's never.
        assert [asset.title for asset in recent] == ["Newer", "Older"]
    for n, request in enumerate(("recent-0001", "recent-0002")):
        with session_scope(engine) as session:
            downloads.start_download(
                session=session,
                user_id=member,
                asset_id=newer,
                catalog=CATALOG,
                request_id=request,
                now=NOW + timedelta(minutes=n),
            )
    with session_scope(engine) as session:
        exports = downloads.recent_exports(session=session, user_id=member, limit=5)
        assert [(e.title, e.asset_id, e.exported_at) for e in exports] == [
            ("Newer", newer, NOW + timedelta(minutes=1)),
            ("Newer", newer, NOW),
        ]
        assert downloads.recent_exports(session=session, user_id=stranger) == []


def test_one_request_id_sent_for_another_file_counts_another_export(engine) -> None:
    """A retry counts once; the same id for a different result is another export (else one id
    would download every result for the price of one)."""
    member = create_member(engine).id
    _, first = delivered(engine, member, title="First", n=1)
    _, second = delivered(engine, member, title="Second", n=2)
    for asset_id in (first, first, second):
        with session_scope(engine) as session:
            downloads.start_download(
                session=session,
                user_id=member,
                asset_id=asset_id,
                catalog=CATALOG,
                request_id="download-0001",
                now=NOW,
            )
    with session_scope(engine) as session:
        assert plans.usage_this_month(session=session, user_id=member, now=NOW).exports == 2
