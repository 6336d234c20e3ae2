"""Review and Jobs: what a member sees of their generations, and what they can do with them:
cancel a job in flight, retry a failed one, regenerate one variant, save a variant to the
library. Another member's ids get NotFound, the same answer as a missing id."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from dashboard_app.domain import credits, plans
from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.errors import DomainError, InvalidInput, NotFound
from dashboard_app.domain.generation import library, progress
from dashboard_app.domain.generation.submit import reservation_reference, workflow_id
from dashboard_app.domain.ids import record_id
from dashboard_app.models import Asset, Generation, UsageEntry, Variant
from dashboard_app.models.base import utcnow
from dashboard_app.models.jobs import GENERATION_STATUSES, IN_FLIGHT

NOT_FOUND = "No such generation"


class NotAllowedNow(DomainError):
    """The action does not apply to the job as it is now (cancel a finished job, ...)."""


def regeneration_workflow_id(variant: Variant) -> str:
    return f"regeneration-{variant.id}-r{variant.revision}"


def _id(value: object, what: str) -> int:
    found = record_id(value)
    if found is None:
        raise NotFound(what)
    return found


def owned_generation(
    *, session: Session, user_id: int, generation_id: object, lock: bool = False
) -> Generation:
    query = select(Generation).where(Generation.id == _id(generation_id, NOT_FOUND))
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    generation = session.exec(query).first()
    if generation is None or generation.user_id != user_id:
        raise NotFound(NOT_FOUND)
    return generation


def owned_variant(
    *, session: Session, user_id: int, variant_id: object, lock: bool = False
) -> tuple[Variant, Generation]:
    query = select(Variant).where(Variant.id == _id(variant_id, "No such variant"))
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    variant = session.exec(query).first()
    generation = session.get(Generation, variant.generation_id) if variant else None
    if variant is None or generation is None or generation.user_id != user_id:
        raise NotFound("No such variant")
    return variant, generation


# --- Reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantView:
    variant: Variant
    asset: Asset | None


@dataclass(frozen=True)
class ReviewView:
    generation: Generation
    variants: list[VariantView]


def review(*, session: Session, user_id: int, generation_id: object) -> ReviewView:
    generation = owned_generation(session=session, user_id=user_id, generation_id=generation_id)
    variants = list(
        session.exec(
            select(Variant)
            .where(Variant.generation_id == generation.id)
            .order_by(col(Variant.position))
        )
    )
    asset_ids = [v.asset_id for v in variants if v.asset_id is not None]
    assets = (
        {a.id: a for a in session.exec(select(Asset).where(col(Asset.id).in_(asset_ids)))}
        if asset_ids
        else {}
    )
    return ReviewView(
        generation=generation,
        variants=[VariantView(variant=v, asset=assets.get(v.asset_id)) for v in variants],
    )


@dataclass(frozen=True)
class JobsPage:
    jobs: list[Generation]
    next_cursor: str | None


def _cursor(generation_id: int) -> str:
    return base64.urlsafe_b64encode(f"g{generation_id}".encode()).decode().rstrip("=")


def _read_cursor(cursor: object) -> int:
    try:
        assert isinstance(cursor, str) and len(cursor) <= 40
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        assert raw.startswith("g")
        found = record_id(int(raw[1:]))  # an id the database can hold, or the link is bad
        assert found is not None
        return found
    except (AssertionError, ValueError, UnicodeDecodeError):
        raise InvalidInput("This page link is no longer valid", field="cursor") from None


def list_jobs(
    *,
    session: Session,
    user_id: int,
    status: object = None,
    cursor: object = None,
    limit: int = 20,
) -> JobsPage:
    """The member's jobs, newest first, optionally of one status. The cursor is the last id
    shown, so jobs created meanwhile never shift or repeat a page."""
    query = select(Generation).where(Generation.user_id == user_id)
    if status is not None:
        if status not in GENERATION_STATUSES:
            raise InvalidInput("Unknown status", field="status")
        query = query.where(Generation.status == status)
    if cursor is not None:
        query = query.where(col(Generation.id) < _read_cursor(cursor))
    limit = max(1, min(limit, 100))
    rows = list(session.exec(query.order_by(col(Generation.id).desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return JobsPage(jobs=rows, next_cursor=_cursor(rows[-1].id) if more and rows else None)


def jobs_in_progress(*, session: Session, user_id: int) -> list[Generation]:
    return list(
        session.exec(
            select(Generation)
            .where(Generation.user_id == user_id, col(Generation.status).in_(IN_FLIGHT))
            .order_by(col(Generation.id).desc())
        )
    )


def activity_version(*, session: Session, user_id: int) -> str:
    """When any of the member's jobs last changed (status, progress, a regeneration) and when
    they last exported: what open pages compare each second to know they must show something
    new. One query, each half one read of an index ((user_id, updated_at) on generations,
    (user_id, metric, occurred_at) on usage_entries)."""
    jobs = select(func.max(Generation.updated_at)).where(Generation.user_id == user_id)
    exports = select(func.max(UsageEntry.occurred_at)).where(
        UsageEntry.user_id == user_id, UsageEntry.metric == "exports"
    )
    changed, exported = session.exec(
        select(jobs.scalar_subquery(), exports.scalar_subquery())
    ).one()
    return "|".join(str(moment) if moment is not None else "" for moment in (changed, exported))


# --- Acting -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cancelled:
    generation: Generation
    workflow_ids: list[str]  # for the caller to cancel in the engine after commit


def cancel_generation(
    *, session: Session, user_id: int, generation_id: object, now: datetime | None = None
) -> Cancelled:
    """Cancel a job in flight (or the regenerations in flight of a delivered one): its held
    credits come back at once; the worker stops at its next progress report."""
    now = now or utcnow()
    generation = owned_generation(
        session=session, user_id=user_id, generation_id=generation_id, lock=True
    )
    variants = list(
        session.exec(
            select(Variant)
            .where(Variant.generation_id == generation.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    if generation.status in IN_FLIGHT:
        progress.fail_generation(
            session=session,
            generation_id=generation.id,
            attempt=generation.attempt,
            reason="cancelled",
            now=now,
        )
        return Cancelled(generation=generation, workflow_ids=[workflow_id(generation)])
    regenerating = [v for v in variants if v.status in IN_FLIGHT]
    if not regenerating:
        raise NotAllowedNow("This job has already finished; there is nothing to cancel.")
    for variant in regenerating:
        progress.fail_regeneration(
            session=session,
            variant_id=variant.id,
            revision=variant.revision,
            reason="cancelled",
            now=now,
        )
    return Cancelled(
        generation=generation, workflow_ids=[regeneration_workflow_id(v) for v in regenerating]
    )


def retry_generation(
    *,
    session: Session,
    user_id: int,
    generation_id: object,
    catalog: Catalog,
    now: datetime | None = None,
) -> Generation:
    """Run a failed job again as a new attempt: the limits apply as to a new job, and its cost
    is held again (the failed attempt's hold was given back). The caller enqueues it."""
    now = now or utcnow()
    if (
        owned_generation(session=session, user_id=user_id, generation_id=generation_id).status
        != "failed"
    ):
        raise NotAllowedNow("Only a failed job can be retried.")
    limits = plans.member_limits(session=session, user_id=user_id, catalog=catalog, now=now)
    plans.check_monthly_pool(session=session, user_id=user_id, limits=limits, now=now)
    plans.take_job_slot(session=session, user_id=user_id, limits=limits, now=now)
    generation = owned_generation(
        session=session, user_id=user_id, generation_id=generation_id, lock=True
    )
    if generation.status != "failed":
        raise NotAllowedNow("Only a failed job can be retried.")
    if generation.preset not in catalog.presets:
        raise NotAllowedNow("This job's preset is no longer offered; start a new one.")
    per_variant = catalog.presets[generation.preset].credits_per_variant
    generation.attempt += 1
    reference = reservation_reference(generation.id, generation.attempt)
    generation.credits_cost = per_variant * generation.variant_count
    credits.reserve_credits(
        session=session,
        user_id=user_id,
        amount=generation.credits_cost,
        reference=reference,
        reason=f"Held for generation {generation.id}, attempt {generation.attempt}",
        now=now,
    )
    generation.status, generation.progress, generation.error = "queued", 0, None
    generation.started_at = generation.deadline_at = generation.finished_at = None
    generation.updated_at = now
    session.add(generation)
    for variant in session.exec(select(Variant).where(Variant.generation_id == generation.id)):
        variant.revision += 1
        variant.status, variant.progress, variant.error = "queued", 0, None
        variant.credits_cost, variant.reservation_reference = per_variant, reference
        variant.updated_at = now
        session.add(variant)
    session.flush()
    return generation


def regenerate_variant(
    *,
    session: Session,
    user_id: int,
    variant_id: object,
    catalog: Catalog,
    now: datetime | None = None,
) -> Variant:
    """Render one variant of a delivered job again, under a hold of its own, once its cooldown
    has passed and while the monthly pool lasts. The caller enqueues it."""
    now = now or utcnow()
    limits = plans.member_limits(session=session, user_id=user_id, catalog=catalog, now=now)
    plans.check_monthly_pool(session=session, user_id=user_id, limits=limits, now=now)
    # The job, then the variant: the order every writer of both locks them.
    _, found = owned_variant(session=session, user_id=user_id, variant_id=variant_id)
    owned_generation(session=session, user_id=user_id, generation_id=found.id, lock=True)
    variant, generation = owned_variant(
        session=session, user_id=user_id, variant_id=variant_id, lock=True
    )
    if generation.status != "succeeded":
        raise NotAllowedNow("A variant can be regenerated once its job has finished.")
    if variant.status in IN_FLIGHT:
        raise NotAllowedNow("This variant is already being regenerated.")
    if generation.preset not in catalog.presets:
        raise NotAllowedNow("This job's preset is no longer offered; start a new one.")
    cooldown = timedelta(seconds=catalog.generation.regeneration_cooldown_seconds)
    last = variant.regenerated_at or generation.finished_at
    if last is not None and now < last + cooldown:
        frees_at = last + cooldown
        wait = max(1, int((frees_at - now).total_seconds() + 0.999))
        raise plans.LimitReached(
            f"You can regenerate this variant again in {wait} seconds.",
            limit="regeneration_cooldown",
            frees_at=frees_at,
        )
    per_variant = catalog.presets[generation.preset].credits_per_variant
    variant.revision += 1
    reference = f"regeneration:{variant.id}:{variant.revision}"
    credits.reserve_credits(
        session=session,
        user_id=user_id,
        amount=per_variant,
        reference=reference,
        reason=f"Held to regenerate variant {variant.position + 1} of generation {generation.id}",
        now=now,
    )
    variant.status, variant.progress, variant.error = "queued", 0, None
    variant.credits_cost, variant.reservation_reference = per_variant, reference
    variant.regenerated_at = variant.updated_at = now
    session.add(variant)
    progress.touch_generation(session, generation.id, now)
    session.flush()
    return variant


def save_variant(
    *, session: Session, user_id: int, variant_id: object, now: datetime | None = None
) -> Asset:
    """Put a delivered variant's result in the member's library (once; saving again is a no-op)."""
    now = now or utcnow()
    variant, generation = owned_variant(session=session, user_id=user_id, variant_id=variant_id)
    asset = session.get(Asset, variant.asset_id) if variant.asset_id is not None else None
    if asset is None or asset.deleted_at is not None:
        raise NotAllowedNow("This variant has no result to save yet.")
    if asset.saved_at is None:
        asset.saved_at = asset.updated_at = now
        asset.title = asset.title or generation.title
        asset.search_text = " ".join([asset.title, *asset.tags]).lower()
        session.add(asset)
        library.index_saved(session, asset)
        session.flush()
    return asset
