"""The record of each run of a scheduled job: begun before the work, finished after it with
the outcome and the summary, or the error. A run repeated under the same key (a worker that
died mid-run and recovered) takes over its row; one that already succeeded is not run again."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from dashboard_app.db import session_scope
from dashboard_app.domain.errors import DomainError
from dashboard_app.domain.schedules.work import JOBS, WorkContext
from dashboard_app.models import ScheduledRun
from dashboard_app.models.base import utcnow

log = logging.getLogger(__name__)
MAX_ERROR_CHARS = 2000


def _begin(
    *, session: Session, job: str, run_key: str, source: str, scheduled_for: datetime | None
) -> int | None:
    """The run's row, marked running; None when this run already succeeded."""
    row = session.exec(
        select(ScheduledRun).where(ScheduledRun.run_key == run_key).with_for_update()
    ).first()
    if row is not None and row.outcome == "succeeded":
        return None
    if row is None:
        row = ScheduledRun(job=job, run_key=run_key, source=source, scheduled_for=scheduled_for)
    row.started_at, row.finished_at = utcnow(), None
    row.outcome, row.error, row.summary = "running", None, {}
    session.add(row)
    session.flush()
    return row.id


def _finish(
    *, session: Session, run_id: int, outcome: str, summary: dict, error: str | None
) -> ScheduledRun:
    row = session.get(ScheduledRun, run_id)
    assert row is not None
    row.outcome, row.summary, row.error = outcome, summary, error
    row.finished_at = utcnow()
    session.add(row)
    session.flush()
    session.expunge(row)
    return row


def run_job(
    *,
    engine: Engine | None,
    job: str,
    context: WorkContext,
    run_key: str,
    source: str,
    scheduled_for: datetime | None = None,
) -> ScheduledRun | None:
    """Run one job and record it. A failure is recorded (and logged), not raised: the next
    scheduled run tries again. None when the run under `run_key` had already succeeded."""
    work = JOBS[job]
    with session_scope(engine) as session:
        run_id = _begin(
            session=session, job=job, run_key=run_key, source=source, scheduled_for=scheduled_for
        )
    if run_id is None:
        return None
    try:
        summary, outcome, error = work.run(context), "succeeded", None
    except DomainError as refused:
        summary, outcome, error = {}, "failed", refused.message
    except Exception as crashed:  # noqa: BLE001 - recorded for the admins, then logged
        log.exception("scheduled job %s failed", job)
        summary, outcome, error = {}, "failed", f"{type(crashed).__name__}: {crashed}"
    with session_scope(engine) as session:
        return _finish(
            session=session,
            run_id=run_id,
            outcome=outcome,
            summary=summary,
            error=error[:MAX_ERROR_CHARS] if error else None,
        )


def latest_runs(*, session: Session) -> dict[str, ScheduledRun | None]:
    """Each job's most recent run (None for a job that never ran), in JOBS order."""
    return {
        job: session.exec(
            select(ScheduledRun)
            .where(ScheduledRun.job == job)
            .order_by(col(ScheduledRun.started_at).desc(), col(ScheduledRun.id).desc())
        ).first()
        for job in JOBS
    }


def recent_runs(*, session: Session, limit: int = 20) -> list[ScheduledRun]:
    return list(
        session.exec(
            select(ScheduledRun)
            .order_by(col(ScheduledRun.started_at).desc(), col(ScheduledRun.id).desc())
            .limit(limit)
        )
    )
