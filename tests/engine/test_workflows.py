"""Generation workflows on DBOS: delivered once and charged once, or ended with the credits
back; failures, retries, timeouts and cancellation, with real renders and real storage."""

from __future__ import annotations

import io
from datetime import timedelta

import av
import httpx
import pytest
from PIL import Image

from dashboard_app.db import session_scope
from dashboard_app.domain import credits
from dashboard_app.domain.generation import progress, review, submit
from dashboard_app.domain.generation.progress import RenderStopped
from dashboard_app.domain.generation.submit import workflow_id as review_workflow_id
from dashboard_app.domain.ledger_check import check_ledger
from dashboard_app.domain.plans import LimitReached
from dashboard_app.engine import actions, worker
from dashboard_app.integrations.storage import Storage
from dashboard_app.models import Asset, CreditEntry, UsageEntry
from dashboard_app.models.base import utcnow
from tests.engine.conftest import short_timeout
from tests.factories import count_rows, create_member
from tests.support.generators import (
    BrokenGenerator,
    CountingGenerator,
    FlakyGenerator,
    GatedGenerator,
)
from tests.support.s3 import S3Server
from tests.support.servers import wait_for


def balances(jobs, member: int):  # type: ignore[no-untyped-def]
    with session_scope(jobs.engine) as session:
        return credits.get_balances(session=session, user_id=member)


def ledger_is_consistent(jobs) -> None:  # type: ignore[no-untyped-def]
    with session_scope(jobs.engine) as session:
        assert check_ledger(session=session) == []


def entries(jobs, member: int, kind: str) -> int:  # type: ignore[no-untyped-def]
    return count_rows(
        jobs.engine, CreditEntry, CreditEntry.user_id == member, CreditEntry.kind == kind
    )


def processing_entries(jobs, member: int) -> int:  # type: ignore[no-untyped-def]
    return count_rows(
        jobs.engine,
        UsageEntry,
        UsageEntry.user_id == member,
        UsageEntry.metric == "processing_seconds",
    )


def test_a_job_is_rendered_stored_and_charged_once(jobs) -> None:
    member = create_member(jobs.engine, credits_granted=100).id
    generation_id = jobs.submit(member)
    jobs.enqueue(generation_id)  # a second enqueue of the same attempt runs nothing more

    generation = jobs.wait_until(generation_id, "succeeded", "failed")
    assert generation.status == "succeeded", generation.error
    assert (generation.progress, generation.error) == (100, None)
    assert generation.processing_seconds >= 1
    assert jobs.runtime.generator.calls == 2
    for variant in jobs.variants(generation_id):
        assert (variant.status, variant.progress) == ("succeeded", 100)
        with session_scope(jobs.engine) as session:
            asset = session.get(Asset, variant.asset_id)
        with av.open(io.BytesIO(jobs.storage.get(asset.storage_key))) as container:
            assert container.streams.video[0].codec_context.name == "h264"
        poster = Image.open(io.BytesIO(jobs.storage.get(asset.poster_key)))
        assert poster.format == "WEBP"
        assert (asset.kind, asset.owner_id, asset.saved_at) == ("video", member, None)
    after = balances(jobs, member)
    assert (after.available, after.reserved, after.spent) == (80, 0, 20)
    assert entries(jobs, member, "capture") == 1
    assert processing_entries(jobs, member) == 1
    assert jobs.wait_for_workflow(f"generation-{generation_id}") == "SUCCESS"
    ledger_is_consistent(jobs)


def test_an_image_job_makes_a_1080_by_1920_image(jobs) -> None:
    member = create_member(jobs.engine, credits_granted=100).id
    generation_id = jobs.submit(member, format="image", variants=1)
    assert jobs.wait_until(generation_id, "succeeded", "failed").status == "succeeded"
    variant = jobs.variants(generation_id)[0]
    with session_scope(jobs.engine) as session:
        asset = session.get(Asset, variant.asset_id)
    image = Image.open(io.BytesIO(jobs.storage.get(asset.storage_key)))
    assert (image.size, asset.kind, asset.content_type) == ((1080, 1920), "image", "image/jpeg")


def test_a_generator_that_fails_twice_then_succeeds_is_charged_once(jobs) -> None:
    jobs.runtime.generator = FlakyGenerator(failures=2)
    member = create_member(jobs.engine, credits_granted=100).id
    generation_id = jobs.submit(member, variants=1)

    generation = jobs.wait_until(generation_id, "succeeded", "failed")
    assert generation.status == "succeeded", generation.error
    assert jobs.runtime.generator.calls == 3
    after = balances(jobs, member)
    assert (after.available, after.reserved, after.spent) == (90, 0, 10)
    assert (entries(jobs, member, "capture"), entries(jobs, member, "release")) == (1, 0)
    assert processing_entries(jobs, member) == 1
    ledger_is_consistent(jobs)


def test_a_generator_that_always_fails_releases_the_credits_and_keeps_the_error(jobs) -> None:
    jobs.runtime.generator = BrokenGenerator()
    member = create_member(jobs.engine, credits_granted=100).id
    generation_id = jobs.submit(member, variants=1)

    generation = jobs.wait_until(generation_id, "failed", "succeeded")
    assert generation.status == "failed"
    assert "after 3 tries" in generation.error and "the model crashed" in generation.error
    assert jobs.runtime.generator.calls == 3
    assert [v.status for v in jobs.variants(generation_id)] == ["failed"]
    after = balances(jobs, member)
    assert (after.available, after.reserved, after.spent) == (100, 0, 0)
    assert (entries(jobs, member, "capture"), entries(jobs, member, "release")) == (0, 1)
    assert processing_entries(jobs, member) == 0
    ledger_is_consistent(jobs)


def test_a_job_past_its_time_limit_is_stopped_and_released(jobs, tmp_path) -> None:
    jobs.runtime.catalog = short_timeout(jobs.catalog, 1)
    gated = GatedGenerator(tmp_path / "never-opened")
    jobs.runtime.generator = gated
    member = create_member(jobs.engine, credits_granted=100).id
    generation_id = jobs.submit(member, variants=1)

    generation = jobs.wait_until(generation_id, "failed", "succeeded", timeout=30)
    assert generation.status == "failed"
    assert "time limit of 1 seconds" in generation.error
    assert isinstance(gated.stopped_by, RenderStopped)
    assert gated.stopped_by.reason == "timed_out"
    after = balances(jobs, member)
    assert (after.available, after.reserved) == (100, 0)
    assert entries(jobs, member, "capture") == 0
    ledger_is_consistent(jobs)


def test_cancelling_mid_render_gives_the_credits_back_and_stops_the_worker(jobs, tmp_path) -> None:
    gate = tmp_path / "gate"
    gated = GatedGenerator(gate)
    jobs.runtime.generator = gated
    member = create_member(jobs.engine, credits_granted=100).id
    generation_id = jobs.submit(member, variants=1)
    wait_for(
        lambda: jobs.variants(generation_id)[0].progress > 0,
        timeout=30,
        what="the render to report progress",
    )

    with session_scope(jobs.engine) as session:
        cancelled = review.cancel_generation(
            session=session, user_id=member, generation_id=generation_id
        )
    jobs.client.cancel(cancelled.workflow_ids)
    after = balances(jobs, member)
    assert (after.available, after.reserved) == (100, 0)  # back at once, not when the worker stops
    wait_for(lambda: gated.stopped_by is not None, timeout=30, what="the render to stop")
    assert isinstance(gated.stopped_by, RenderStopped)
    gate.touch()  # nothing the worker could still do may charge the member
    jobs.wait_for_workflow(f"generation-{generation_id}")
    generation = jobs.generation(generation_id)
    assert (generation.status, generation.error) == ("cancelled", None)
    assert [v.status for v in jobs.variants(generation_id)] == ["cancelled"]
    assert entries(jobs, member, "capture") == 0
    assert count_rows(jobs.engine, Asset, Asset.owner_id == member) == 0
    ledger_is_consistent(jobs)


def test_a_failed_job_is_retried_as_a_new_attempt_with_a_new_hold(jobs) -> None:
    jobs.runtime.generator = BrokenGenerator()
    member = create_member(jobs.engine, credits_granted=100).id
    generation_id = jobs.submit(member, variants=1)
    jobs.wait_until(generation_id, "failed")

    jobs.runtime.generator = CountingGenerator()
    with session_scope(jobs.engine) as session:
        retried = review.retry_generation(
            session=session, user_id=member, generation_id=generation_id, catalog=jobs.catalog
        )
    assert (retried.attempt, retried.status) == (2, "queued")
    assert review_workflow_id(retried) == f"generation-{generation_id}-attempt-2"
    assert balances(jobs, member).reserved == 10
    jobs.enqueue(generation_id)

    generation = jobs.wait_until(generation_id, "succeeded", "failed")
    assert generation.status == "succeeded", generation.error
    after = balances(jobs, member)
    assert (after.available, after.reserved, after.spent) == (90, 0, 10)
    assert (entries(jobs, member, "release"), entries(jobs, member, "capture")) == (1, 1)
    ledger_is_consistent(jobs)


def test_regenerating_a_variant_replaces_it_under_its_own_hold_after_the_cooldown(jobs) -> None:
    member = create_member(jobs.engine, credits_granted=100).id
    generation_id = jobs.submit(member, variants=2)
    generation = jobs.wait_until(generation_id, "succeeded", "failed")
    first, second = jobs.variants(generation_id)
    cooldown = jobs.catalog.generation.regeneration_cooldown_seconds
    later = generation.finished_at + timedelta(seconds=cooldown)

    with session_scope(jobs.engine) as session:
        with pytest.raises(LimitReached, match="regenerate this variant again in") as waiting:
            review.regenerate_variant(
                session=session,
                user_id=member,
                variant_id=first.id,
                catalog=jobs.catalog,
                now=generation.finished_at + timedelta(seconds=1),
            )
        assert waiting.value.limit == "regeneration_cooldown"
    with session_scope(jobs.engine) as session:
        variant = review.regenerate_variant(
            session=session, user_id=member, variant_id=first.id, catalog=jobs.catalog, now=later
        )
    assert (variant.revision, variant.status) == (1, "queued")
    assert balances(jobs, member).reserved == 10
    jobs.enqueue_regeneration(variant)
    wait_for(
        lambda: (
            jobs.variants(generation_id)[0].status == "succeeded"
            and jobs.variants(generation_id)[0].revision == 1
        ),
        timeout=60,
        what="the regeneration to be delivered",
    )
    regenerated, untouched = jobs.variants(generation_id)
    assert regenerated.asset_id != first.asset_id
    assert untouched.asset_id == second.asset_id
    with session_scope(jobs.engine) as session:
        assert session.get(Asset, first.asset_id).deleted_at is not None  # unsaved: replaced
        new = session.get(Asset, regenerated.asset_id)
    assert new.storage_key.endswith("/r1/media.mp4")
    after = balances(jobs, member)
    assert (after.available, after.reserved, after.spent) == (70, 0, 30)
    assert processing_entries(jobs, member) == 2
    with session_scope(jobs.engine) as session:
        with pytest.raises(LimitReached, match="again in"):
            review.regenerate_variant(
                session=session,
                user_id=member,
                variant_id=first.id,
                catalog=jobs.catalog,
                now=later + timedelta(seconds=1),
            )
    ledger_is_consistent(jobs)


def test_housekeeping_enqueues_work_nobody_enqueued_and_ends_work_nobody_finishes(jobs) -> None:
    member = create_member(jobs.engine, credits_granted=100).id
    with session_scope(jobs.engine) as session:
        orphan = submit.submit_generation(
            session=session,
            user_id=member,
            catalog=jobs.catalog,
            idempotency_key="orphan-key-1",
            topic="Committed, then the web process died",
            platform="tiktok",
            preset="neon",
            format="video",
            variants=1,
        ).generation
    done = worker.keep_house(jobs.client, now=utcnow() + timedelta(minutes=1))
    assert done["enqueued"] == 1
    assert jobs.wait_until(orphan.id, "succeeded", "failed").status == "succeeded"

    abandoned = create_member(jobs.engine, credits_granted=100).id
    with session_scope(jobs.engine) as session:
        lost = submit.submit_generation(
            session=session,
            user_id=abandoned,
            catalog=jobs.catalog,
            idempotency_key="lost-key-01",
            topic="Its worker died for good",
            platform="tiktok",
            preset="neon",
            format="video",
            variants=1,
        ).generation
        progress.begin_generation(
            session=session,
            generation_id=lost.id,
            attempt=1,
            worker_id="gone",
            timeout_seconds=60,
            now=utcnow() - timedelta(hours=1),
        )
    assert worker.keep_house(jobs.client)["ended"] == 1
    generation = jobs.generation(lost.id)
    assert generation.status == "failed" and "time limit" in generation.error
    assert balances(jobs, abandoned).reserved == 0
    ledger_is_consistent(jobs)


def test_the_page_actions_commit_then_enqueue_and_a_double_submit_lands_on_one_job(jobs) -> None:
    member = create_member(jobs.engine, credits_granted=100).id
    form = {
        "idempotency_key": "double-click-1",
        "topic": "Submitted twice",
        "platform": "instagram_reels",
        "preset": "clean",
        "format": "video",
        "variants": 1,
    }
    first = actions.submit_and_enqueue(
        engine=jobs.engine, client=jobs.client, catalog=jobs.catalog, user_id=member, **form
    )
    second = actions.submit_and_enqueue(
        engine=jobs.engine, client=jobs.client, catalog=jobs.catalog, user_id=member, **form
    )
    assert (first.created, second.created) == (True, False)
    assert second.generation.id == first.generation.id
    assert jobs.wait_until(first.generation.id, "succeeded", "failed").status == "succeeded"
    assert jobs.runtime.generator.calls == 1
    assert balances(jobs, member).spent == jobs.catalog.presets["clean"].credits_per_variant


def test_results_go_to_an_s3_bucket_when_one_is_configured(jobs) -> None:
    server = S3Server()
    server.start()
    try:
        bucket = Storage.s3(server.create_bucket("reels"))
        jobs.runtime.storage = bucket
        member = create_member(jobs.engine, credits_granted=100).id
        generation_id = jobs.submit(member, variants=1)
        assert jobs.wait_until(generation_id, "succeeded", "failed").status == "succeeded"
        with session_scope(jobs.engine) as session:
            asset = session.get(Asset, jobs.variants(generation_id)[0].asset_id)
        url = bucket.presigned_url(asset.storage_key, expires_in=timedelta(minutes=5))
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200
        with av.open(io.BytesIO(response.content)) as container:
            assert container.streams.video[0].codec_context.name == "h264"
        assert not jobs.storage.exists(asset.storage_key)  # nothing in the local folder
    finally:
        server.stop()
