"""The library over the API: save a variant of one's own generation (once), list with the
Library page's filters, search and a stable cursor, rename and retag with the page's rules,
delete, and a download link that counts one export and serves the file to its owner only.
Another member's ids are 404 and change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dashboard_app.db import session_scope
from dashboard_app.models import Asset, UsageEntry
from tests.api.helpers import v1  # noqa: F401
from tests.api.test_generations import MEDIA, assert_problem, stored_result
from tests.factories import count_rows, create_member, delivered_result
from tests.support.api import make_api_key


def exports(engine, member: int) -> int:
    return count_rows(
        engine, UsageEntry, UsageEntry.user_id == member, UsageEntry.metric == "exports"
    )


def save(v1, member: int, variant_id: object):  # noqa: F811
    return v1.post("/api/v1/library", json={"variant_id": variant_id}, member=member)


def titles(v1, member: int, **params) -> list[str]:  # noqa: F811
    response = v1.get("/api/v1/library", params=params, member=member)
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


def test_saving_a_variant_puts_it_in_the_library_once(v1, engine) -> None:  # noqa: F811
    member = create_member(engine).id
    generation_id, variant_id, asset_id = stored_result(engine, member)
    assert titles(v1, member) == []

    first = save(v1, member, variant_id)
    assert first.status_code == 201, first.text
    item = first.json()
    assert (item["id"], item["title"], item["kind"], item["generation_id"]) == (
        asset_id,
        "Stored reel",
        "video",
        generation_id,
    )
    again = save(v1, member, variant_id)
    assert again.status_code == 200 and again.json()["id"] == asset_id
    assert titles(v1, member) == ["Stored reel"]
    job = v1.get(f"/api/v1/generations/{generation_id}", member=member).json()
    assert (job["variants"][0]["saved"], job["variants"][0]["library_id"]) == (True, asset_id)
    shown = v1.get(f"/api/v1/library/{asset_id}", member=member)
    assert shown.status_code == 200 and shown.json()["id"] == asset_id


def test_a_variant_without_a_result_yet_is_409_and_a_bad_body_is_422(v1, engine) -> None:  # noqa: F811
    member = create_member(engine, credits_granted=100).id
    accepted = v1.post(
        "/api/v1/generations",
        json={
            "topic": "Not rendered yet",
            "platform": "tiktok",
            "preset": "neon",
            "format": "video",
            "variants": 1,
        },
        member=member,
        headers={"Idempotency-Key": "unrendered"},
    ).json()
    job = v1.get(f"/api/v1/generations/{accepted['id']}", member=member).json()
    assert_problem(save(v1, member, job["variants"][0]["id"]), 409)
    assert_problem(save(v1, member, "one"), 422)
    assert_problem(v1.post("/api/v1/library", json={"variant_id": 1, "x": 2}, member=member), 422)


def test_the_list_filters_searches_and_pages_like_the_library_page(v1, engine) -> None:  # noqa: F811
    member = create_member(engine).id
    for n, (title, platform, kind) in enumerate(
        [
            ("Morning yoga", "tiktok", "video"),
            ("Evening tea", "instagram_reels", "image"),
            ("Morning run", "youtube_shorts", "video"),
        ]
    ):
        _, _, asset_id = delivered_result(engine, member, title=title, platform=platform, kind=kind)
        with session_scope(engine) as session:  # saved minutes ago, in this order
            asset = session.get(Asset, asset_id)
            asset.saved_at -= timedelta(minutes=10 - n)
            session.add(asset)
    yoga = v1.get("/api/v1/library", params={"search": "yoga"}, member=member).json()
    v1.patch(f"/api/v1/library/{yoga['items'][0]['id']}", json={"tags": ["calm"]}, member=member)

    assert titles(v1, member) == ["Morning run", "Evening tea", "Morning yoga"]
    assert titles(v1, member, search="morn") == ["Morning run", "Morning yoga"]
    assert titles(v1, member, platform="instagram_reels") == ["Evening tea"]
    assert titles(v1, member, kind="image") == ["Evening tea"]
    assert titles(v1, member, tag="calm") == ["Morning yoga"]
    first = v1.get("/api/v1/library", params={"limit": 2}, member=member).json()
    assert [item["title"] for item in first["items"]] == ["Morning run", "Evening tea"]
    delivered_result(engine, member, title="Arrives meanwhile")
    assert titles(v1, member, limit=2, cursor=first["next_cursor"]) == ["Morning yoga"]
    for params in ({"platform": "myspace"}, {"cursor": "garbage!"}, {"tag": "!!"}):
        assert_problem(v1.get("/api/v1/library", params=params, member=member), 400)
    assert_problem(v1.get("/api/v1/library", params={"kind": "gif"}, member=member), 422)


def test_an_edit_changes_title_or_tags_with_the_pages_rules(v1, engine) -> None:  # noqa: F811
    member = create_member(engine).id
    _, _, asset_id = delivered_result(engine, member, title="Old title")
    path = f"/api/v1/library/{asset_id}"

    renamed = v1.patch(path, json={"title": "  New   title "}, member=member)
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["title"], renamed.json()["tags"]) == ("New title", [])
    tagged = v1.patch(path, json={"tags": ["Calm", "calm", "sea side"]}, member=member)
    assert (tagged.json()["title"], tagged.json()["tags"]) == ("New title", ["calm", "sea side"])
    for bad, status in (
        ({"title": ""}, 400),
        ({"title": None}, 400),
        ({"title": "x" * 121}, 400),
        ({"tags": ["no!"]}, 400),
        ({"tags": [f"t{n}" for n in range(11)]}, 400),
        ({"tags": "calm"}, 422),
        ({"owner_id": 1}, 422),
    ):
        assert_problem(v1.patch(path, json=bad, member=member), status)
    with session_scope(engine) as session:
        asset = session.get(Asset, asset_id)
        assert (asset.title, asset.tags) == ("New title", ["calm", "sea side"])


def test_delete_takes_the_item_out_of_reach(v1, engine) -> None:  # noqa: F811
    member = create_member(engine).id
    _, _, asset_id = delivered_result(engine, member, title="Going away")
    assert v1.delete(f"/api/v1/library/{asset_id}", member=member).status_code == 204
    assert titles(v1, member) == []
    assert_problem(v1.get(f"/api/v1/library/{asset_id}", member=member), 404)
    assert_problem(v1.delete(f"/api/v1/library/{asset_id}", member=member), 404)
    assert_problem(v1.post(f"/api/v1/library/{asset_id}/download", member=member), 404)


def test_a_download_link_counts_one_export_and_downloads_the_file(
    v1,  # noqa: F811
    engine,
) -> None:
    member = create_member(engine).id
    _, _, asset_id = stored_result(engine, member, saved=True)
    path = f"/api/v1/library/{asset_id}/download"

    response = v1.post(path, member=member)
    assert response.status_code == 200, response.text
    link = response.json()
    assert link["filename"] == f"stored-reel-{asset_id}.mp4"
    assert link["content_type"] == "video/mp4"
    assert exports(engine, member) == 1
    served = v1.get(link["url"])
    assert served.status_code == 200 and served.content == MEDIA
    assert served.headers["content-disposition"] == f'attachment; filename="{link["filename"]}"'
    # A retry with the same Idempotency-Key counts once; a new request counts again.
    keyed = {"Idempotency-Key": "download-1"}
    assert v1.post(path, member=member, headers=keyed).status_code == 200
    assert v1.post(path, member=member, headers=keyed).status_code == 200
    assert exports(engine, member) == 2
    v1.post(path, member=member)
    assert exports(engine, member) == 3


def test_past_the_monthly_export_limit_a_download_is_refused(v1, engine) -> None:  # noqa: F811
    member = create_member(engine).id
    _, _, asset_id = stored_result(engine, member, saved=True)
    for _ in range(20):  # the free plan's monthly exports
        assert v1.post(f"/api/v1/library/{asset_id}/download", member=member).is_success
    refused = v1.post(f"/api/v1/library/{asset_id}/download", member=member)
    problem = assert_problem(refused, 429)
    assert "export" in problem["detail"].lower()
    assert int(refused.headers["retry-after"]) >= 1  # until the meter resets
    assert exports(engine, member) == 20


def test_an_unsaved_result_is_not_a_library_item(v1, engine) -> None:  # noqa: F811
    member = create_member(engine).id
    _, _, asset_id = stored_result(engine, member, saved=False)
    for response in (
        v1.get(f"/api/v1/library/{asset_id}", member=member),
        v1.patch(f"/api/v1/library/{asset_id}", json={"title": "x"}, member=member),
        v1.post(f"/api/v1/library/{asset_id}/download", member=member),
        v1.delete(f"/api/v1/library/{asset_id}", member=member),
    ):
        assert_problem(response, 404)
    assert exports(engine, member) == 0


@pytest.mark.parametrize("item_id", ["owner's", 0, -1, 2147483648, 10**30])
def test_another_members_library_ids_are_404_and_nothing_changes(v1, engine, item_id) -> None:  # noqa: F811
    owner = create_member(engine).id
    stranger = create_member(engine).id
    _, variant_id, asset_id = stored_result(engine, owner, saved=True)
    _, unsaved_variant, _ = delivered_result(engine, owner, title="Unsaved", saved=False)
    target = asset_id if item_id == "owner's" else item_id
    for response in (
        v1.get(f"/api/v1/library/{target}", member=stranger),
        v1.patch(f"/api/v1/library/{target}", json={"title": "Mine now"}, member=stranger),
        v1.delete(f"/api/v1/library/{target}", member=stranger),
        v1.post(f"/api/v1/library/{target}/download", member=stranger),
        save(v1, stranger, variant_id),
        save(v1, stranger, unsaved_variant),
    ):
        assert_problem(response, 404)
    assert titles(v1, stranger) == []
    with session_scope(engine) as session:
        asset = session.get(Asset, asset_id)
        assert (asset.title, asset.deleted_at) == ("Stored reel", None)
    assert titles(v1, owner) == ["Stored reel"]
    assert exports(engine, owner) == exports(engine, stranger) == 0


def test_a_read_only_key_lists_but_may_not_change_the_library_or_spend_exports(api, engine) -> None:
    member = create_member(engine).id
    _, variant_id, asset_id = stored_result(engine, member, saved=True)
    key = make_api_key(engine, member, scope="read")
    assert api.get("/library", key=key).json()["items"][0]["id"] == asset_id
    for response in (
        api.post(f"/library/{asset_id}/download", key=key),
        api.post("/library", json={"variant_id": variant_id}, key=key),
        api.patch(f"/library/{asset_id}", json={"title": "Renamed"}, key=key),
        api.delete(f"/library/{asset_id}", key=key),
    ):
        assert_problem(response, 403)
    with session_scope(engine) as session:
        asset = session.get(Asset, asset_id)
        assert (asset.title, asset.deleted_at) == ("Stored reel", None)
