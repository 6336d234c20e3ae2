"""Generation workflows on DBOS: delivered once and charged once, or ended with the credits
back; failures, retries, timeouts and cancellation, with real renders and real storage."""

from __future__ import annotations

import io

import av
from PIL import Image

from dashboard_app.db import session_scope
from dashboard_app.domain import credits
from dashboard_app.domain.ledger_check import check_ledger
from dashboard_app.models import Asset, CreditEntry, UsageEntry
from tests.factories import count_rows, create_member


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
