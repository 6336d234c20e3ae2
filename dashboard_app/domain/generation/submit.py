"""Submit: one transaction that validates, honours the idempotency key, enforces the effective
plan's monthly pool, concurrent-jobs and hourly limits, holds the credits and creates the draft,
the generation and its variants. The caller commits, then enqueues `workflow_id(generation)`.

The monthly pool is the plan's processing minutes (`monthly_minutes`): while any are left a job
may start; each finished job adds its processing time to the month's meter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from dashboard_app.domain import credits, plans
from dashboard_app.domain.catalog import Catalog, Limits
from dashboard_app.domain.errors import DomainError
from dashboard_app.domain.generation.options import (
    GenerationRequest,
    check_count,
    check_idempotency_key,
    check_preset,
    cost_of,
    read_request,
)
from dashboard_app.models import Draft, Generation, Variant
from dashboard_app.models.base import utcnow


def reservation_reference(generation_id: int, attempt: int) -> str:
    """The credit hold of one attempt: `generation:<id>`, then `generation:<id>:attempt:<n>`."""
    return (
        f"generation:{generation_id}"
        if attempt == 1
        else f"generation:{generation_id}:attempt:{attempt}"
    )


def workflow_id(generation: Generation) -> str:
    """The durable workflow of the generation's current attempt; enqueuing it twice runs once."""
    if generation.attempt == 1:
        return f"generation-{generation.id}"
    return f"generation-{generation.id}-attempt-{generation.attempt}"


class KeyReused(DomainError):
    """The idempotency key already made a generation from a different request."""


@dataclass(frozen=True)
class Submitted:
    generation: Generation
    created: bool  # False when the idempotency key had already made this generation


@dataclass(frozen=True)
class Quote:
    """What Create shows before submitting."""

    cost: int
    available_credits: int
    pool_minutes_left: int
    pool_resets_at: datetime
    limits: Limits


def quote(
    *,
    session: Session,
    user_id: int,
    catalog: Catalog,
    preset: object,
    variants: object,
    now: datetime | None = None,
) -> Quote:
    now = now or utcnow()
    preset_code = check_preset(preset, catalog=catalog)
    count = check_count(variants, catalog=catalog)
    limits = plans.member_limits(session=session, user_id=user_id, catalog=catalog, now=now)
    usage = plans.usage_this_month(session=session, user_id=user_id, now=now)
    balances = credits.get_balances(session=session, user_id=user_id)
    return Quote(
        cost=cost_of(catalog=catalog, preset=preset_code, variants=count),
        available_credits=max(0, balances.available - balances.frozen),
        pool_minutes_left=max(0, limits.monthly_minutes - usage.processing_minutes),
        pool_resets_at=usage.resets_at,
        limits=limits,
    )


def _existing(session: Session, key: str, request: GenerationRequest) -> Generation | None:
    """The generation this key already made, which must have been made from this request."""
    found = session.exec(select(Generation).where(Generation.idempotency_key == key)).first()
    if found is not None and (
        found.title,
        found.prompt,
        found.platform,
        found.preset,
        found.format,
        found.variant_count,
    ) != (
        request.title,
        request.topic,
        request.platform,
        request.preset,
        request.format,
        request.variants,
    ):
        raise KeyReused("This idempotency key was already used for another request", field="key")
    return found


def submit_generation(
    *,
    session: Session,
    user_id: int,
    catalog: Catalog,
    idempotency_key: object,
    title: object = None,
    topic: object = None,
    platform: object = None,
    preset: object = None,
    format: object = None,
    variants: object = None,
    draft_id: int | None = None,
    now: datetime | None = None,
) -> Submitted:
    """Create the job, or raise (InvalidInput, KeyReused, LimitReached, InsufficientCredits)
    having changed nothing the caller's rollback does not undo."""
    now = now or utcnow()
    key = f"{user_id}:{check_idempotency_key(idempotency_key)}"
    request = read_request(
        catalog=catalog,
        title=title,
        topic=topic,
        platform=platform,
        preset=preset,
        format=format,
        variants=variants,
    )
    existing = _existing(session, key, request)
    if existing is not None:
        return Submitted(generation=existing, created=False)
    limits = plans.member_limits(session=session, user_id=user_id, catalog=catalog, now=now)
    plans.check_monthly_pool(session=session, user_id=user_id, limits=limits, now=now)
    plans.take_job_slot(session=session, user_id=user_id, limits=limits, now=now)
    # Under the member's lock now: a racing submit with the same key may have just committed.
    existing = _existing(session, key, request)
    if existing is not None:
        return Submitted(generation=existing, created=False)

    draft = session.get(Draft, draft_id) if draft_id is not None else None
    if draft is None or draft.user_id != user_id or draft.submitted_at is not None:
        draft = Draft(user_id=user_id, created_at=now)
    draft.title, draft.prompt, draft.platform = request.title, request.topic, request.platform
    draft.options = {
        "preset": request.preset,
        "format": request.format,
        "variants": request.variants,
    }
    draft.updated_at = draft.submitted_at = now
    session.add(draft)
    session.flush()

    per_variant = catalog.presets[request.preset].credits_per_variant
    generation = Generation(
        user_id=user_id,
        draft_id=draft.id,
        idempotency_key=key,
        status="queued",
        title=request.title,
        prompt=request.topic,
        platform=request.platform,
        preset=request.preset,
        format=request.format,
        variant_count=request.variants,
        credits_cost=per_variant * request.variants,
        created_at=now,
        updated_at=now,
    )
    session.add(generation)
    session.flush()
    assert generation.id is not None
    reference = reservation_reference(generation.id, 1)
    credits.reserve_credits(
        session=session,
        user_id=user_id,
        amount=generation.credits_cost,
        reference=reference,
        reason=f"Held for generation {generation.id}",
        now=now,
    )
    for position in range(request.variants):
        session.add(
            Variant(
                generation_id=generation.id,
                position=position,
                credits_cost=per_variant,
                reservation_reference=reference,
                created_at=now,
                updated_at=now,
            )
        )
    session.flush()
    return Submitted(generation=generation, created=True)
