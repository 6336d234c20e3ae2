"""What the workers record while they render: starting a job, progress, stored results, and
the one transaction that delivers a job (capture the credits, count the processing time, mark
it succeeded) or gives the credits back (failure, timeout, cancellation).

Workers may run a step again after a crash (steps are at least once), so each function here
is safe to repeat: it looks at the row's status under a lock and does nothing twice; the
ledger's and the usage meter's idempotency keys back that up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil

from sqlmodel import Session, col, select

from dashboard_app.domain import credits, plans
from dashboard_app.models import Asset, Generation, Variant
from dashboard_app.models.base import utcnow
from dashboard_app.models.jobs import IN_FLIGHT

MAX_ERROR = 500


class RenderStopped(Exception):
    """The render must stop: the job was cancelled, ran past its deadline or was superseded."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "cancelled", "timed_out" or "superseded"


@dataclass(frozen=True)
class RenderJob:
    """Everything one render step needs. `attempt` is None for a regeneration."""

    generation_id: int
    variant_id: int
    revision: int
    attempt: int | None
    owner_id: int
    title: str
    topic: str
    platform: str
    preset: str
    format: str
    position: int
    deadline: datetime

    @property
    def key(self) -> str:
        return f"generation-{self.generation_id}-variant-{self.variant_id}-r{self.revision}"

    def storage_key(self, name: str) -> str:
        """Where a file of this render lives; the same for a repeat, so a repeat overwrites."""
        return f"generations/{self.generation_id}/v{self.variant_id}/r{self.revision}/{name}"


@dataclass(frozen=True)
class StoredFile:
    key: str
    content_type: str
    size_bytes: int


@dataclass(frozen=True)
class Rendered:
    """A stored render, as a step reports it to the step that delivers the job."""

    variant_id: int
    revision: int
    asset_id: int
    processing_ms: int


def _locked_generation(session: Session, generation_id: int) -> Generation | None:
    return session.exec(
        select(Generation)
        .where(Generation.id == generation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def _locked_variant(session: Session, variant_id: int) -> Variant | None:
    return session.exec(
        select(Variant)
        .where(Variant.id == variant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def touch_generation(session: Session, generation_id: int, now: datetime) -> None:
    """A regeneration changed one variant: the job's last change moves with it, so the pages'
    live check (review.jobs_version) notices."""
    generation = session.get(Generation, generation_id)
    if generation is not None and generation.updated_at != now:
        generation.updated_at = now
        session.add(generation)
        session.flush()


def _locked_regeneration(session: Session, variant_id: int) -> Variant | None:
    """The variant locked after its job, in the order every writer of both takes them (the
    member's cancel locks the job, then its variants)."""
    found = session.get(Variant, variant_id)
    if found is None:
        return None
    _locked_generation(session, found.generation_id)
    return _locked_variant(session, variant_id)


def _variants(session: Session, generation_id: int) -> list[Variant]:
    return list(
        session.exec(
            select(Variant)
            .where(Variant.generation_id == generation_id)
            .order_by(col(Variant.position))
            .execution_options(populate_existing=True)
        )
    )


def _job(generation: Generation, variant: Variant, attempt: int | None, deadline) -> RenderJob:  # type: ignore[no-untyped-def]
    assert generation.id is not None and variant.id is not None
    return RenderJob(
        generation_id=generation.id,
        variant_id=variant.id,
        revision=variant.revision,
        attempt=attempt,
        owner_id=generation.user_id,
        title=generation.title,
        topic=generation.prompt,
        platform=generation.platform,
        preset=generation.preset,
        format=generation.format,
        position=variant.position,
        deadline=deadline,
    )


# --- Starting -----------------------------------------------------------------------------------


def begin_generation(
    *,
    session: Session,
    generation_id: int,
    attempt: int,
    worker_id: str,
    timeout_seconds: int,
    now: datetime | None = None,
) -> list[RenderJob]:
    """Mark the attempt running (its deadline starts now) and list the renders it needs; an
    empty list when it was cancelled, finished or superseded meanwhile."""
    now = now or utcnow()
    generation = _locked_generation(session, generation_id)
    if generation is None or generation.attempt != attempt or generation.status not in IN_FLIGHT:
        return []
    if generation.status == "queued":
        generation.status = "running"
        generation.started_at = now
        generation.deadline_at = now + timedelta(seconds=timeout_seconds)
    generation.worker_id = worker_id[:128]
    generation.heartbeat_at = generation.updated_at = now
    session.add(generation)
    session.flush()
    assert generation.deadline_at is not None
    return [
        _job(generation, variant, attempt, generation.deadline_at)
        for variant in _variants(session, generation_id)
    ]


def begin_regeneration(
    *,
    session: Session,
    variant_id: int,
    revision: int,
    worker_id: str,
    timeout_seconds: int,
    now: datetime | None = None,
) -> list[RenderJob]:
    """The one render a regeneration needs; empty when it was cancelled or superseded. Its
    deadline counts from the member's request."""
    now = now or utcnow()
    variant = _locked_variant(session, variant_id)
    if variant is None or variant.revision != revision or variant.status not in IN_FLIGHT:
        return []
    generation = session.get(Generation, variant.generation_id)
    assert generation is not None
    requested = variant.regenerated_at or now
    return [_job(generation, variant, None, requested + timedelta(seconds=timeout_seconds))]


# --- While rendering ----------------------------------------------------------------------------


def check_render(*, session: Session, job: RenderJob, now: datetime | None = None) -> Variant:
    """The variant, or RenderStopped when this render should no longer run."""
    now = now or utcnow()
    variant = session.get(Variant, job.variant_id, populate_existing=True)
    if variant is None or variant.revision != job.revision:
        raise RenderStopped("superseded")
    if variant.status == "cancelled":
        raise RenderStopped("cancelled")
    if variant.status not in IN_FLIGHT:
        raise RenderStopped("superseded")
    if job.attempt is not None:
        generation = session.get(Generation, job.generation_id, populate_existing=True)
        if generation is None or generation.attempt != job.attempt:
            raise RenderStopped("superseded")
        if generation.status == "cancelled":
            raise RenderStopped("cancelled")
        if generation.status not in IN_FLIGHT:
            raise RenderStopped("superseded")
    if now >= job.deadline:
        raise RenderStopped("timed_out")
    return variant


def record_progress(
    *,
    session: Session,
    job: RenderJob,
    fraction: float,
    worker_id: str | None = None,
    now: datetime | None = None,
) -> None:
    """Show how far the render is (and the job's average, and which worker renders it), or
    stop it (RenderStopped)."""
    now = now or utcnow()
    # The job first, then its variant: the order every writer of both takes them (a member's
    # cancel locks the job, then its variants). Updating the variant first and the job after
    # deadlocked against a cancel on PostgreSQL.
    _locked_generation(session, job.generation_id)
    variant = check_render(session=session, job=job, now=now)
    percent = max(0, min(99, int(fraction * 100)))
    if variant.status == "running" and variant.progress == percent:
        return
    if job.attempt is None:
        touch_generation(session, job.generation_id, now)
    variant.status, variant.progress, variant.updated_at = "running", percent, now
    session.add(variant)
    session.flush()
    if job.attempt is not None:
        generation = session.get(Generation, job.generation_id)
        assert generation is not None
        variants = _variants(session, job.generation_id)
        generation.progress = sum(v.progress for v in variants) // max(1, len(variants))
        generation.heartbeat_at = generation.updated_at = now
        if worker_id:
            generation.worker_id = worker_id[:128]
        session.add(generation)
        session.flush()


def record_render(
    *,
    session: Session,
    job: RenderJob,
    media: StoredFile,
    thumbnail: StoredFile,
    poster: StoredFile | None,
    width: int,
    height: int,
    duration_ms: int | None,
    now: datetime | None = None,
) -> int:
    """Keep the stored render as an asset of the member (not in the library until saved) and
    return its id. A repeat of the same render finds the same asset by its storage key."""
    now = now or utcnow()
    check_render(session=session, job=job, now=now)
    asset = session.exec(select(Asset).where(Asset.storage_key == media.key)).first()
    if asset is None:
        asset = Asset(owner_id=job.owner_id, storage_key=media.key, created_at=now)
    asset.generation_id = job.generation_id
    asset.kind = "video" if job.format == "video" else "image"
    asset.title = job.title
    asset.search_text = job.title.lower()
    asset.platform, asset.preset = job.platform, job.preset
    asset.content_type, asset.size_bytes = media.content_type, media.size_bytes
    asset.poster_key = poster.key if poster else None
    asset.thumbnail_key = thumbnail.key
    asset.width, asset.height, asset.duration_ms = width, height, duration_ms
    asset.updated_at = now
    session.add(asset)
    variant = session.get(Variant, job.variant_id)
    assert variant is not None
    variant.progress, variant.updated_at = 99, now
    session.add(variant)
    session.flush()
    assert asset.id is not None
    return asset.id


# --- Finishing ----------------------------------------------------------------------------------


def _usage(session: Session, user_id: int, reference: str, milliseconds: int, now) -> None:  # type: ignore[no-untyped-def]
    plans.record_usage(
        session=session,
        user_id=user_id,
        metric="processing_seconds",
        quantity=max(1, ceil(milliseconds / 1000)),
        reference=f"processing:{reference}",
        now=now,
    )


def _retire(session: Session, asset_id: int | None, now: datetime) -> None:
    """A result replaced by a regeneration leaves with it, unless the member saved it."""
    asset = session.get(Asset, asset_id) if asset_id is not None else None
    if asset is not None and asset.saved_at is None and asset.deleted_at is None:
        asset.deleted_at = asset.updated_at = now
        session.add(asset)


def complete_generation(
    *,
    session: Session,
    generation_id: int,
    attempt: int,
    rendered: list[Rendered],
    now: datetime | None = None,
) -> bool:
    """Deliver the attempt in one transaction: link each variant to its asset, capture the held
    credits, count the processing time and mark the job succeeded. False (changing nothing)
    when the attempt is no longer running (cancelled, failed, timed out, already delivered)."""
    now = now or utcnow()
    generation = _locked_generation(session, generation_id)
    if generation is None or generation.attempt != attempt or generation.status != "running":
        return False
    by_variant = {r.variant_id: r for r in rendered}
    variants = _variants(session, generation_id)
    if {v.id for v in variants} != set(by_variant):
        raise ValueError(f"generation {generation_id} was delivered without all its variants")
    reference = variants[0].reservation_reference
    credits.capture_reservation(session=session, reference=reference, now=now)
    milliseconds = sum(r.processing_ms for r in rendered)
    _usage(session, generation.user_id, reference, milliseconds, now)
    for variant in variants:
        result = by_variant[variant.id]
        if variant.asset_id != result.asset_id:
            _retire(session, variant.asset_id, now)
        variant.asset_id, variant.processing_ms = result.asset_id, result.processing_ms
        variant.status, variant.progress, variant.error, variant.updated_at = (
            "succeeded",
            100,
            None,
            now,
        )
        session.add(variant)
    generation.status, generation.progress, generation.error = "succeeded", 100, None
    generation.processing_seconds = max(1, ceil(milliseconds / 1000))
    generation.finished_at = generation.updated_at = now
    session.add(generation)
    session.flush()
    return True


def complete_regeneration(
    *, session: Session, variant_id: int, revision: int, rendered: Rendered, now=None
) -> bool:  # type: ignore[no-untyped-def]
    """Deliver a regenerated variant: the same one transaction, for its own hold."""
    now = now or utcnow()
    variant = _locked_regeneration(session, variant_id)
    if variant is None or variant.revision != revision or variant.status not in IN_FLIGHT:
        return False
    generation = session.get(Generation, variant.generation_id)
    assert generation is not None
    touch_generation(session, variant.generation_id, now)
    credits.capture_reservation(session=session, reference=variant.reservation_reference, now=now)
    _usage(session, generation.user_id, variant.reservation_reference, rendered.processing_ms, now)
    if variant.asset_id != rendered.asset_id:
        _retire(session, variant.asset_id, now)
    variant.asset_id, variant.processing_ms = rendered.asset_id, rendered.processing_ms
    variant.status, variant.progress, variant.error, variant.updated_at = (
        "succeeded",
        100,
        None,
        now,
    )
    session.add(variant)
    session.flush()
    return True


def _stop_message(reason: str, error: str | None, timeout_seconds: int | None) -> tuple[str, str]:
    """(status, error) for a job that ended without its result."""
    if reason == "cancelled":
        return "cancelled", "Cancelled"
    if reason == "timed_out":
        limit = f" of {timeout_seconds} seconds" if timeout_seconds else ""
        return "failed", f"The job ran past its time limit{limit} and was stopped."
    return "failed", (error or "The job failed.")[:MAX_ERROR]


def fail_generation(
    *,
    session: Session,
    generation_id: int,
    attempt: int,
    reason: str = "failed",
    error: str | None = None,
    timeout_seconds: int | None = None,
    now: datetime | None = None,
) -> bool:
    """End the attempt without a result and give its held credits back. `reason` is "failed",
    "timed_out" or "cancelled"; the error is kept for the member. False if already ended."""
    now = now or utcnow()
    generation = _locked_generation(session, generation_id)
    if generation is None or generation.attempt != attempt or generation.status not in IN_FLIGHT:
        return False
    status, message = _stop_message(reason, error, timeout_seconds)
    variants = _variants(session, generation_id)
    for variant in variants:
        if variant.status in IN_FLIGHT:
            variant.status, variant.updated_at = status, now
            variant.error = None if status == "cancelled" else message
            session.add(variant)
    generation.status, generation.finished_at, generation.updated_at = status, now, now
    generation.error = None if status == "cancelled" else message
    session.add(generation)
    credits.release_reservation(
        session=session, reference=variants[0].reservation_reference, now=now
    )
    session.flush()
    return True


def fail_regeneration(
    *,
    session: Session,
    variant_id: int,
    revision: int,
    reason: str = "failed",
    error: str | None = None,
    timeout_seconds: int | None = None,
    now: datetime | None = None,
) -> bool:
    """End a regeneration without a result: its hold comes back, the previous result stays."""
    now = now or utcnow()
    variant = _locked_regeneration(session, variant_id)
    if variant is None or variant.revision != revision or variant.status not in IN_FLIGHT:
        return False
    touch_generation(session, variant.generation_id, now)
    status, message = _stop_message(reason, error, timeout_seconds)
    variant.status, variant.updated_at = status, now
    variant.error = None if status == "cancelled" else message
    session.add(variant)
    credits.release_reservation(session=session, reference=variant.reservation_reference, now=now)
    session.flush()
    return True


# --- Housekeeping -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overdue:
    generation_id: int
    attempt: int | None  # None: a regeneration of `variant_id`
    variant_id: int | None
    revision: int | None


def overdue_work(
    *, session: Session, timeout_seconds: int, grace_seconds: int = 60, now: datetime | None = None
) -> list[Overdue]:
    """Work past its deadline by more than `grace_seconds`: left behind by a worker that died
    and was never recovered. The housekeeping loop ends it and gives its credits back."""
    now = now or utcnow()
    late = now - timedelta(seconds=grace_seconds)
    found = [
        Overdue(generation_id=g.id, attempt=g.attempt, variant_id=None, revision=None)
        for g in session.exec(
            select(Generation)
            .where(Generation.status == "running")
            .where(col(Generation.deadline_at) < late)
            .limit(200)
        )
        if g.id is not None
    ]
    requested_before = late - timedelta(seconds=timeout_seconds)
    found += [
        Overdue(generation_id=v.generation_id, attempt=None, variant_id=v.id, revision=v.revision)
        for v in session.exec(
            select(Variant)
            .join(Generation, col(Generation.id) == col(Variant.generation_id))
            .where(Generation.status == "succeeded")
            .where(col(Variant.status).in_(IN_FLIGHT))
            .where(col(Variant.regenerated_at) < requested_before)
            .limit(200)
        )
    ]
    return found


def waiting_since(*, session: Session, before: datetime, limit: int = 200) -> list[Generation]:
    """Queued work older than `before`: enqueued again in case the process that committed it
    died before enqueuing (the workflow id makes a second enqueue harmless)."""
    return list(
        session.exec(
            select(Generation)
            .where(Generation.status == "queued", col(Generation.updated_at) < before)
            .order_by(col(Generation.id))
            .limit(limit)
        )
    )


def regenerations_waiting_since(
    *, session: Session, before: datetime, limit: int = 200
) -> list[Variant]:
    """Regenerations requested before `before` and still queued (see `waiting_since`)."""
    return list(
        session.exec(
            select(Variant)
            .join(Generation, col(Generation.id) == col(Variant.generation_id))
            .where(Generation.status == "succeeded", Variant.status == "queued")
            .where(col(Variant.regenerated_at) < before)
            .order_by(col(Variant.id))
            .limit(limit)
        )
    )
