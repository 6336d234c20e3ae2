"""What the admin pages call for jobs: the admin's action in its own transaction, committed,
then handed to the engine (enqueue a retry, stop a cancelled workflow), as engine/actions.py
does for members."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from dashboard_app.db import session_scope
from dashboard_app.domain import admin
from dashboard_app.domain.catalog import Catalog
from dashboard_app.engine.actions import _enqueue_generation
from dashboard_app.engine.client import JobsClient


def cancel_job(*, engine: Engine | None, client: JobsClient, **action: object) -> admin.JobAction:
    with session_scope(engine) as session:
        done = admin.cancel_job(session=session, **action)  # type: ignore[arg-type]
    client.cancel(done.workflow_ids)
    return done


def retry_job(
    *, engine: Engine | None, client: JobsClient, catalog: Catalog, **action: object
) -> admin.JobAction:
    with session_scope(engine) as session:
        done = admin.retry_job(session=session, catalog=catalog, **action)  # type: ignore[arg-type]
    if done.generation is not None:
        _enqueue_generation(client, done.generation, catalog)
    return done
