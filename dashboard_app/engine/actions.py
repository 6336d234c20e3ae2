"""What the pages call: each member action in its own transaction, committed, then handed to
the engine (enqueue or cancel). If the process dies between the two, housekeeping enqueues the
committed work later; the workflow id derived from the job makes any repeat harmless."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from dashboard_app.db import session_scope
from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.generation import review, submit
from dashboard_app.engine.client import JobsClient
from dashboard_app.models import Generation, Variant


def _enqueue_generation(client: JobsClient, generation: Generation, catalog: Catalog) -> None:
    assert generation.id is not None
    client.enqueue_generation(
        workflow_id=submit.workflow_id(generation),
        generation_id=generation.id,
        attempt=generation.attempt,
        timeout_seconds=catalog.generation.job_timeout_seconds,
    )


def _enqueue_regeneration(client: JobsClient, variant: Variant, catalog: Catalog) -> None:
    assert variant.id is not None
    client.enqueue_regeneration(
        workflow_id=review.regeneration_workflow_id(variant),
        variant_id=variant.id,
        revision=variant.revision,
        timeout_seconds=catalog.generation.job_timeout_seconds,
    )


def submit_and_enqueue(
    *, engine: Engine | None, client: JobsClient, catalog: Catalog, user_id: int, **form: object
) -> submit.Submitted:
    """Submit (see submit.submit_generation for the form's fields) and enqueue. A repeat of the
    same idempotency key returns the first generation and enqueues nothing new."""
    with session_scope(engine) as session:
        submitted = submit.submit_generation(
            session=session,
            user_id=user_id,
            catalog=catalog,
            **form,  # type: ignore[arg-type]
        )
    if submitted.generation.status == "queued":
        _enqueue_generation(client, submitted.generation, catalog)
    return submitted


def cancel(
    *, engine: Engine | None, client: JobsClient, user_id: int, generation_id: object
) -> review.Cancelled:
    with session_scope(engine) as session:
        cancelled = review.cancel_generation(
            session=session, user_id=user_id, generation_id=generation_id
        )
    client.cancel(cancelled.workflow_ids)
    return cancelled


def retry(
    *,
    engine: Engine | None,
    client: JobsClient,
    catalog: Catalog,
    user_id: int,
    generation_id: object,
) -> Generation:
    with session_scope(engine) as session:
        generation = review.retry_generation(
            session=session, user_id=user_id, generation_id=generation_id, catalog=catalog
        )
    _enqueue_generation(client, generation, catalog)
    return generation


def regenerate(
    *,
    engine: Engine | None,
    client: JobsClient,
    catalog: Catalog,
    user_id: int,
    variant_id: object,
) -> Variant:
    with session_scope(engine) as session:
        variant = review.regenerate_variant(
            session=session, user_id=user_id, variant_id=variant_id, catalog=catalog
        )
    _enqueue_regeneration(client, variant, catalog)
    return variant
