"""The pages' live check: one query of the member's most recent change to any job and most recent
export, which moves with every status change and progress report of the member's jobs and
regenerations, with each download, and with nothing of another member's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard_app.db import session_scope
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.generation import downloads, progress, review, submit
from tests.factories import create_member

CATALOG = get_catalog()
T0 = datetime(2026, 3, 10, 12, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def version(engine, member: int) -> str:
    with session_scope(engine) as session:
        return review.activity_version(session=session, user_id=member)


def stored(job: progress.RenderJob, name: str) -> progress.StoredFile:
    return progress.StoredFile(key=job.storage_key(name), content_type="video/mp4", size_bytes=9)


def render(engine, job: progress.RenderJob, now: datetime) -> progress.Rendered:
    with session_scope(engine) as session:
        asset_id = progress.record_render(
            session=session,
            job=job,
            media=stored(job, "media.mp4"),
            thumbnail=stored(job, "thumbnail.webp"),
            poster=None,
            width=72,
            height=128,
            duration_ms=500,
            now=now,
        )
    return progress.Rendered(
        variant_id=job.variant_id, revision=job.revision, asset_id=asset_id, processing_ms=500
    )


def test_the_activity_version_moves_with_every_change_of_the_members_jobs_and_exports_only(
    engine,
) -> None:
    member = create_member(engine, credits_granted=100).id
    other = create_member(engine, credits_granted=100).id
    seen = [version(engine, member)]
    assert seen == ["|"]

    def moved() -> None:
        now = version(engine, member)
        assert now not in seen, "the live check did not notice the change"
        seen.append(now)

    with session_scope(engine) as session:
        generation = submit.submit_generation(
            session=session,
            user_id=member,
            catalog=CATALOG,
            idempotency_key="live-version-1",
            topic="Morning light",
            platform="tiktok",
            preset="clean",
            format="video",
            variants=1,
            now=at(0),
        ).generation
    moved()
    others = version(engine, other)
    with session_scope(engine) as session:
        (job,) = progress.begin_generation(
            session=session,
            generation_id=generation.id,
            attempt=1,
            worker_id="w",
            timeout_seconds=600,
            now=at(1),
        )
    moved()
    with session_scope(engine) as session:
        progress.record_progress(session=session, job=job, fraction=0.4, now=at(2))
    moved()
    rendered = render(engine, job, at(3))
    with session_scope(engine) as session:
        assert progress.complete_generation(
            session=session, generation_id=generation.id, attempt=1, rendered=[rendered], now=at(4)
        )
    moved()

    # A regeneration changes a variant only; the page showing it must notice each step too.
    with session_scope(engine) as session:
        variant = review.regenerate_variant(
            session=session, user_id=member, variant_id=job.variant_id, catalog=CATALOG, now=at(60)
        )
    moved()
    with session_scope(engine) as session:
        (again,) = progress.begin_regeneration(
            session=session,
            variant_id=variant.id,
            revision=variant.revision,
            worker_id="w",
            timeout_seconds=600,
            now=at(61),
        )
    with session_scope(engine) as session:
        progress.record_progress(session=session, job=again, fraction=0.3, now=at(62))
    moved()
    with session_scope(engine) as session:
        progress.record_progress(session=session, job=again, fraction=0.6, now=at(63))
    moved()
    rendered = render(engine, again, at(64))
    with session_scope(engine) as session:
        assert progress.complete_regeneration(
            session=session,
            variant_id=variant.id,
            revision=variant.revision,
            rendered=rendered,
            now=at(65),
        )
    moved()
    with session_scope(engine) as session:
        variant = review.regenerate_variant(
            session=session, user_id=member, variant_id=job.variant_id, catalog=CATALOG, now=at(120)
        )
    moved()
    with session_scope(engine) as session:
        review.cancel_generation(
            session=session, user_id=member, generation_id=generation.id, now=at(121)
        )
    moved()
    # A download counts an export: the overview's meter on every open tab must show it.
    with session_scope(engine) as session:
        review.save_variant(session=session, user_id=member, variant_id=job.variant_id, now=at(122))
        downloads.start_download(
            session=session,
            user_id=member,
            asset_id=rendered.asset_id,
            catalog=CATALOG,
            request_id="live-version-download",
            now=at(123),
        )
    moved()
    assert version(engine, other) == others
