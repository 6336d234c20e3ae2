"""Generations over the API: create with an Idempotency-Key (a retry answers the same job and
charges once; the same key with another body is refused), list with a cursor, read one with
its variants' media links, regenerate, cancel; short of credits is a 402 problem; another
member's ids are 404 and change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dashboard_app.db import session_scope
from dashboard_app.domain import credits
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.generation import progress
from dashboard_app.engine.runtime import storage_for
from dashboard_app.models import Asset, CreditReservation, Generation, Variant
from dashboard_app.settings import get_settings
from tests.api.helpers import v1  # noqa: F401
from tests.factories import count_rows, create_member, delivered_result
from tests.support.api import make_api_key

CATALOG = get_catalog()
BODY = {
    "title": "Calm mornings",
    "topic": "Five habits that make mornings calmer",
    "platform": "tiktok",
    "preset": "neon",
    "format": "video",
    "variants": 2,
}
COST = 2 * CATALOG.presets["neon"].credits_per_variant
MEDIA = b"\x00\x00\x00\x18ftypmp42 a tiny stand-in reel"


def create(v1, member: int, key: str = "my-key-1", body: dict | None = None):  # noqa: F811
    return v1.post(
        "/api/v1/generations",
        json=BODY if body is None else body,
        member=member,
        headers={"Idempotency-Key": key},
    )


def balances(engine, member: int) -> credits.Balances:
    with session_scope(engine) as session:
        return credits.get_balances(session=session, user_id=member)


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status and problem["detail"]
    return problem


def stored_result(engine, member: int, *, saved: bool = False) -> tuple[int, int, int]:
    """A delivered generation whose result file is really in storage: (generation, variant,
    asset) ids."""
    ids = delivered_result(engine, member, title="Stored reel", saved=saved)
    with session_scope(engine) as session:
        asset = session.get(Asset, ids[2])
        storage_for(get_settings()).put(asset.storage_key, MEDIA, content_type="video/mp4")
    return ids


# --- Create -------------------------------------------------------------------------------------


def test_a_create_answers_202_with_the_ids_and_where_to_poll_and_holds_the_cost(
    v1,  # noqa: F811
    engine,
) -> None:
    member = create_member(engine, credits_granted=100).id
    response = create(v1, member)

    assert response.status_code == 202, response.text
    accepted = response.json()
    with session_scope(engine) as session:
        generation = session.get(Generation, accepted["id"])
        assert generation.user_id == member and generation.draft_id == accepted["draft_id"]
    assert accepted["draft_id"] is not None and accepted["status"] == "queued"
    assert (
        response.headers["location"] == accepted["url"] == f"/api/v1/generations/{accepted['id']}"
    )
    shown = v1.get(response.headers["location"], member=member)
    assert shown.status_code == 200
    job = shown.json()
    assert (job["status"], job["progress"], job["topic"], job["variant_count"]) == (
        "queued",
        0,
        BODY["topic"],
        2,
    )
    assert [(v["position"], v["status"], v["media_url"]) for v in job["variants"]] == [
        (0, "queued", None),
        (1, "queued", None),
    ]
    assert balances(engine, member).reserved == COST


def test_a_retry_with_the_same_key_and_body_answers_the_same_generation_and_charges_once(
    v1,  # noqa: F811
    engine,
) -> None:
    member = create_member(engine, credits_granted=100).id
    first, again = create(v1, member), create(v1, member)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == first.headers["location"]
    assert count_rows(engine, Generation, Generation.user_id == member) == 1
    assert balances(engine, member).reserved == COST
    # Another key is another generation (once the first is out of the way of the free plan's
    # one job at a time); the key is the member's own.
    v1.post(f"/api/v1/generations/{first.json()['id']}/cancel", member=member)
    assert create(v1, member, key="my-key-2").json()["id"] != first.json()["id"]
    other = create_member(engine, credits_granted=100).id
    assert create(v1, other).json()["id"] != first.json()["id"]


def test_the_same_key_with_another_body_is_a_409_problem_and_changes_nothing(
    v1,  # noqa: F811
    engine,
) -> None:
    member = create_member(engine, credits_granted=100).id
    first = create(v1, member)
    refused = create(v1, member, body={**BODY, "variants": 1})
    assert_problem(refused, 409)
    assert count_rows(engine, Generation, Generation.user_id == member) == 1
    assert balances(engine, member).reserved == COST
    with session_scope(engine) as session:
        assert session.get(Generation, first.json()["id"]).variant_count == 2


@pytest.mark.parametrize(
    "headers",
    [{}, {"Idempotency-Key": ""}, {"Idempotency-Key": "k" * 201}, {"Idempotency-Key": "tab\there"}],
)
def test_a_missing_or_malformed_idempotency_key_is_refused(v1, engine, headers) -> None:  # noqa: F811
    member = create_member(engine, credits_granted=100).id
    response = v1.post("/api/v1/generations", json=BODY, member=member, headers=headers)
    assert_problem(response, 422)
    assert count_rows(engine, Generation, Generation.user_id == member) == 0


def test_any_printable_key_up_to_200_characters_is_accepted(v1, engine) -> None:  # noqa: F811
    member = create_member(engine, credits_granted=100).id
    first = create(v1, member, key="k")
    assert first.status_code == 202
    v1.post(f"/api/v1/generations/{first.json()['id']}/cancel", member=member)
    assert create(v1, member, key="a b:c/d?e=f~" + "x" * 188).status_code == 202
    assert count_rows(engine, Generation, Generation.user_id == member) == 2


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"topic": "   "}, 400),
        ({"platform": "myspace"}, 422),
        ({"preset": "sunset", "format": "image"}, 400),
        ({"variants": 0}, 422),
        ({"variants": "two"}, 422),
        ({"surprise": 1}, 422),
    ],
)
def test_bad_input_is_a_problem_and_creates_nothing(v1, engine, change, status) -> None:  # noqa: F811
    member = create_member(engine, credits_granted=100).id
    assert_problem(create(v1, member, body={**BODY, **change}), status)
    assert count_rows(engine, Generation, Generation.user_id == member) == 0
    assert balances(engine, member).reserved == 0


def test_short_of_credits_is_a_402_problem_and_holds_nothing(v1, engine) -> None:  # noqa: F811
    member = create_member(engine, credits_granted=COST - 1).id
    problem = assert_problem(create(v1, member), 402)
    assert "credits" in problem["detail"]
    assert count_rows(engine, Generation, Generation.user_id == member) == 0
    assert count_rows(engine, CreditReservation, CreditReservation.user_id == member) == 0


# --- Reading ------------------------------------------------------------------------------------


def test_the_list_pages_newest_first_with_a_cursor_that_holds_while_jobs_arrive(
    v1,  # noqa: F811
    engine,
) -> None:
    member = create_member(engine, credits_granted=1000).id
    ids = []
    for n in range(3):
        ids.append(create(v1, member, key=f"list-{n}", body={**BODY, "variants": 1}).json()["id"])
        v1.post(f"/api/v1/generations/{ids[-1]}/cancel", member=member)
    first = v1.get("/api/v1/generations", params={"limit": 2}, member=member).json()
    assert [job["id"] for job in first["items"]] == [ids[2], ids[1]]
    create(v1, member, key="list-new", body={**BODY, "variants": 1})  # arrives meanwhile
    second = v1.get(
        "/api/v1/generations",
        params={"limit": 2, "cursor": first["next_cursor"]},
        member=member,
    ).json()
    assert [job["id"] for job in second["items"]] == [ids[0]]
    assert second["next_cursor"] is None
    queued = v1.get("/api/v1/generations", params={"status": "queued"}, member=member)
    assert [job["status"] for job in queued.json()["items"]] == ["queued"]
    assert_problem(v1.get("/api/v1/generations", params={"cursor": "garbage!"}, member=member), 400)
    other = create_member(engine).id
    assert v1.get("/api/v1/generations", member=other).json()["items"] == []


def test_a_delivered_variant_has_media_links_that_serve_the_file_while_they_last(
    v1,  # noqa: F811
    engine,
) -> None:
    member = create_member(engine).id
    generation_id, variant_id, asset_id = stored_result(engine, member)
    job = v1.get(f"/api/v1/generations/{generation_id}", member=member).json()
    (variant,) = job["variants"]
    assert (variant["id"], variant["status"], variant["kind"], variant["saved"]) == (
        variant_id,
        "succeeded",
        "video",
        False,
    )
    link = variant["media_url"]
    assert link.startswith(f"{get_settings().public_base_url}/files/")
    # Like a bucket's presigned URL, the link itself is the permission: no credentials needed.
    served = v1.get(link)
    assert served.status_code == 200 and served.content == MEDIA
    assert served.headers["content-type"] == "video/mp4"
    assert served.headers["content-disposition"].startswith("inline;")
    assert v1.get(link[:-3] + "abc").status_code == 404  # tampered
    # The result deleted from reach, its link no longer serves it.
    with session_scope(engine) as session:
        asset = session.get(Asset, asset_id)
        asset.deleted_at = asset.created_at
        session.add(asset)
    assert v1.get(link).status_code == 404
    gone = v1.get(f"/api/v1/generations/{generation_id}", member=member).json()
    assert gone["variants"][0]["media_url"] is None


# --- Acting -------------------------------------------------------------------------------------


def test_cancel_gives_the_held_credits_back_and_a_second_cancel_is_409(v1, engine) -> None:  # noqa: F811
    member = create_member(engine, credits_granted=100).id
    generation_id = create(v1, member).json()["id"]
    cancelled = v1.post(f"/api/v1/generations/{generation_id}/cancel", member=member)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert balances(engine, member).reserved == 0
    assert balances(engine, member).available == 100
    again = v1.post(f"/api/v1/generations/{generation_id}/cancel", member=member)
    assert_problem(again, 409)


def test_regenerate_renders_one_variant_again_under_a_hold_of_its_own(v1, engine) -> None:  # noqa: F811
    member = create_member(engine, credits_granted=100).id
    generation_id, variant_id, _ = stored_result(engine, member)
    # Within the cooldown after delivery: refused with when it frees.
    early = v1.post(
        f"/api/v1/generations/{generation_id}/regenerate",
        json={"variant_id": variant_id},
        member=member,
    )
    assert_problem(early, 429)
    assert 1 <= int(early.headers["retry-after"]) <= 30  # the catalog's cooldown
    with session_scope(engine) as session:
        generation = session.get(Generation, generation_id)
        generation.finished_at -= timedelta(minutes=5)
        session.add(generation)
    response = v1.post(
        f"/api/v1/generations/{generation_id}/regenerate",
        json={"variant_id": variant_id},
        member=member,
    )
    assert response.status_code == 202, response.text
    (variant,) = response.json()["variants"]
    assert (variant["status"], variant["revision"]) == ("queued", 1)
    assert balances(engine, member).reserved == CATALOG.presets["neon"].credits_per_variant
    # A delivered job cannot be run again as a whole.
    assert_problem(v1.post(f"/api/v1/generations/{generation_id}/regenerate", member=member), 409)


def test_regenerate_without_a_variant_runs_a_failed_generation_again(v1, engine) -> None:  # noqa: F811
    member = create_member(engine, credits_granted=100).id
    generation_id = create(v1, member).json()["id"]
    with session_scope(engine) as session:
        progress.fail_generation(
            session=session, generation_id=generation_id, attempt=1, error="The renderer broke"
        )
    assert balances(engine, member).reserved == 0
    response = v1.post(f"/api/v1/generations/{generation_id}/regenerate", member=member)
    assert response.status_code == 202, response.text
    assert (response.json()["status"], response.json()["attempt"]) == ("queued", 2)
    assert balances(engine, member).reserved == COST


# --- Another member's ids -----------------------------------------------------------------------


def test_another_members_generation_and_variants_are_404_and_nothing_changes(
    v1,  # noqa: F811
    engine,
) -> None:
    owner = create_member(engine, credits_granted=100).id
    stranger = create_member(engine, credits_granted=100).id
    queued_id = create(v1, owner).json()["id"]
    generation_id, variant_id, _ = stored_result(engine, owner)
    own_generation = create(v1, stranger, key="strangers-own").json()["id"]
    before = (balances(engine, owner), balances(engine, stranger))

    for response in (
        v1.get(f"/api/v1/generations/{queued_id}", member=stranger),
        v1.get(f"/api/v1/generations/{generation_id}", member=stranger),
        v1.post(f"/api/v1/generations/{queued_id}/cancel", member=stranger),
        v1.post(f"/api/v1/generations/{queued_id}/regenerate", member=stranger),
        v1.post(
            f"/api/v1/generations/{generation_id}/regenerate",
            json={"variant_id": variant_id},
            member=stranger,
        ),
        # The owner's variant under the stranger's own generation id.
        v1.post(
            f"/api/v1/generations/{own_generation}/regenerate",
            json={"variant_id": variant_id},
            member=stranger,
        ),
        v1.get("/api/v1/generations/2147483648", member=stranger),
        v1.get("/api/v1/generations/0", member=stranger),
    ):
        assert_problem(response, 404)
    # The owner's variant named under the owner's other generation is not found either.
    assert_problem(
        v1.post(
            f"/api/v1/generations/{queued_id}/regenerate",
            json={"variant_id": variant_id},
            member=owner,
        ),
        404,
    )
    assert (balances(engine, owner), balances(engine, stranger)) == before
    with session_scope(engine) as session:
        assert session.get(Generation, queued_id).status == "queued"
        assert session.get(Variant, variant_id).revision == 0


def test_a_read_only_key_reads_but_may_not_create_cancel_or_regenerate(api, engine) -> None:
    member = create_member(engine, credits_granted=100).id
    generation_id, variant_id, _ = stored_result(engine, member)
    key = make_api_key(engine, member, scope="read")
    assert api.get(f"/generations/{generation_id}", key=key).status_code == 200
    for response in (
        api.post("/generations", json=BODY, headers={"Idempotency-Key": "ro-1"}, key=key),
        api.post(f"/generations/{generation_id}/cancel", key=key),
        api.post(
            f"/generations/{generation_id}/regenerate", json={"variant_id": variant_id}, key=key
        ),
    ):
        assert_problem(response, 403)
    assert count_rows(engine, Generation, Generation.user_id == member) == 1
    assert balances(engine, member).reserved == 0


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/api/v1/generations", "g" + "9" * 30),
        ("/api/v1/library", "2026-11-01T00:00:00+00:00|" + "9" * 30),
    ],
)
def test_a_cursor_naming_an_id_past_the_database_is_a_400_problem(
    v1,  # noqa: F811
    engine,
    path,
    raw,
) -> None:
    import base64

    member = create_member(engine).id
    cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    problem = assert_problem(v1.get(f"{path}?cursor={cursor}", member=member), 400)
    assert "no longer valid" in problem["detail"]
