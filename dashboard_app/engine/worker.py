"""Running the queue: launch DBOS with this process's executor id, install the scheduled work,
recover interrupted work, keep house (end work past its deadline, enqueue work a crashed web
process committed but never enqueued), and shut down."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from dbos import DBOS, DBOSConfig

from dashboard_app.db import session_scope
from dashboard_app.domain.generation import progress
from dashboard_app.domain.generation.review import regeneration_workflow_id
from dashboard_app.domain.generation.submit import workflow_id
from dashboard_app.engine import (
    APP_NAME,
    APP_VERSION,
    HOLDINGS_CONCURRENCY,
    HOLDINGS_QUEUE,
    QUEUE_NAME,
    prepare_system_database,
    runtime,
    schedules,
)
from dashboard_app.engine import holdings as _holdings  # noqa: F401  (registers its workflow)
from dashboard_app.engine import workflows as _workflows  # noqa: F401  (registers workflows)
from dashboard_app.engine.client import JobsClient
from dashboard_app.models.base import utcnow
from dashboard_app.settings import Settings

log = logging.getLogger(__name__)
HOUSEKEEPING_SECONDS = 15.0
# Queued work this old with no workflow behind it is enqueued again.
ENQUEUE_AGAIN_AFTER = timedelta(seconds=30)
OVERDUE_GRACE_SECONDS = 60


def dbos_config(settings: Settings, executor_id: str) -> DBOSConfig:
    return {
        "name": APP_NAME,
        "system_database_url": settings.jobs_system_database_url,
        "dbos_system_schema": settings.jobs_system_schema,
        "application_version": APP_VERSION,
        "executor_id": executor_id,
        "notification_listener_polling_interval_sec": min(1.0, settings.jobs_polling_seconds),
        "log_level": "WARNING",
    }


def start(
    settings: Settings,
    *,
    worker_runtime: runtime.Runtime,
    recover_executors: tuple[str, ...] = (),
) -> None:
    """Launch the workers of this process. DBOS recovers this executor id's interrupted work
    on launch; `recover_executors` hands over the work of executors that will not come back."""
    runtime.install(worker_runtime)
    prepare_system_database(settings.jobs_system_database_url)
    DBOS(config=dbos_config(settings, worker_runtime.executor_id))
    DBOS.launch()
    DBOS.register_queue(
        QUEUE_NAME,
        worker_concurrency=settings.jobs_worker_concurrency,
        polling_interval_sec=settings.jobs_polling_seconds,
        on_conflict="always_update",
    )
    DBOS.register_queue(
        HOLDINGS_QUEUE,
        worker_concurrency=HOLDINGS_CONCURRENCY,
        polling_interval_sec=settings.jobs_polling_seconds,
        on_conflict="always_update",
    )
    schedules.install(settings)
    if recover_executors:
        recover(list(recover_executors))


def recover(executor_ids: list[str]) -> list[str]:
    """Put the interrupted work of dead executors back on the queue (what DBOS's admin API
    endpoint /dbos-workflow-recovery does); any worker then picks it up. Only for executors
    that are really gone: a live one would run the same work at the same time."""
    handles = DBOS._recover_pending_workflows(executor_ids)
    recovered = [handle.get_workflow_id() for handle in handles]
    log.warning("recovered %d workflow(s) of executor(s) %s", len(recovered), executor_ids)
    return recovered


def stop() -> None:
    DBOS.destroy(workflow_completion_timeout_sec=0)
    runtime.install(None)


def keep_house(client: JobsClient, *, now=None) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """One round of housekeeping; returns what it did (for logs and tests)."""
    current = runtime.current()
    now = now or utcnow()
    ended = requeued = 0
    with session_scope(current.engine) as session:
        overdue = progress.overdue_work(
            session=session,
            timeout_seconds=current.timeout_seconds,
            grace_seconds=OVERDUE_GRACE_SECONDS,
            now=now,
        )
    for work in overdue:
        with session_scope(current.engine) as session:
            if work.attempt is not None:
                done = progress.fail_generation(
                    session=session,
                    generation_id=work.generation_id,
                    attempt=work.attempt,
                    reason="timed_out",
                    timeout_seconds=current.timeout_seconds,
                    now=now,
                )
            else:
                assert work.variant_id is not None and work.revision is not None
                done = progress.fail_regeneration(
                    session=session,
                    variant_id=work.variant_id,
                    revision=work.revision,
                    reason="timed_out",
                    timeout_seconds=current.timeout_seconds,
                    now=now,
                )
        ended += int(done)
    with session_scope(current.engine) as session:
        waiting = progress.waiting_since(session=session, before=now - ENQUEUE_AGAIN_AFTER)
        regenerations = progress.regenerations_waiting_since(
            session=session, before=now - ENQUEUE_AGAIN_AFTER
        )
    for generation in waiting:
        assert generation.id is not None
        client.enqueue_generation(
            workflow_id=workflow_id(generation),
            generation_id=generation.id,
            attempt=generation.attempt,
            timeout_seconds=current.timeout_seconds,
        )
        requeued += 1
    for variant in regenerations:
        assert variant.id is not None
        client.enqueue_regeneration(
            workflow_id=regeneration_workflow_id(variant),
            variant_id=variant.id,
            revision=variant.revision,
            timeout_seconds=current.timeout_seconds,
        )
        requeued += 1
    return {"ended": ended, "enqueued": requeued}


def housekeeping_loop(client: JobsClient, stop_event: threading.Event) -> None:
    while not stop_event.wait(HOUSEKEEPING_SECONDS):
        try:
            keep_house(client)
        except Exception:  # noqa: BLE001 - the loop must outlive a database hiccup
            log.exception("job housekeeping failed; trying again in %ss", HOUSEKEEPING_SECONDS)
