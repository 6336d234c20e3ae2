"""Generation jobs as an admin sees them across members: queue depth, what runs, what failed
and with which error, by preset; retry a failed job or cancel one in flight (its held credits
come back). The rules are the member's own (review.retry_generation, cancel_generation), run on
the job owner's behalf; the caller enqueues or cancels in the engine after commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from dashboard_app.domain.admin.guard import (
    audit_action,
    check_form_token,
    check_reason,
    done_before,
    lock_users,
    require_admin,
    target_member,
)
from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.errors import InvalidInput, NotFound
from dashboard_app.domain.generation import review
from dashboard_app.domain.ids import record_id
from dashboard_app.models import Generation
from dashboard_app.models.base import utcnow
from dashboard_app.models.jobs import GENERATION_STATUSES

PAGE_SIZE = 25


@dataclass(frozen=True)
class QueueFigures:
    queued: int
    running: int
    failed_24h: int
    oldest_queued_at: datetime | None
    by_preset: list[tuple[str, dict[str, int]]]  # preset -> status -> count, last 7 days


def jobs_in_flight(*, session: Session) -> tuple[int, int, datetime | None]:
    """Jobs queued, jobs running, and when the oldest queued one was submitted."""
    counts = dict(
        session.exec(
            select(Generation.status, func.count())
            .where(col(Generation.status).in_(("queued", "running")))
            .group_by(Generation.status)
        ).all()
    )
    oldest = session.exec(
        select(func.min(Generation.created_at)).where(Generation.status == "queued")
    ).one()
    return int(counts.get("queued", 0)), int(counts.get("running", 0)), oldest


def queue_figures(*, session: Session, now: datetime | None = None) -> QueueFigures:
    now = now or utcnow()
    queued, running, oldest = jobs_in_flight(session=session)
    failed = session.exec(
        select(func.count())
        .select_from(Generation)
        .where(Generation.status == "failed", Generation.updated_at >= now - timedelta(days=1))
    ).one()
    by_preset: dict[str, dict[str, int]] = {}
    for preset, status, count in session.exec(
        select(Generation.preset, Generation.status, func.count())
        .where(Generation.created_at >= now - timedelta(days=7))
        .group_by(Generation.preset, Generation.status)
    ):
        by_preset.setdefault(preset or "-", {})[status] = int(count)
    return QueueFigures(
        queued=queued,
        running=running,
        failed_24h=int(failed),
        oldest_queued_at=oldest,
        by_preset=sorted(by_preset.items()),
    )


@dataclass(frozen=True)
class JobsPage:
    jobs: list[Generation]
    next_cursor: int | None


def list_jobs(
    *,
    session: Session,
    status: str | None = None,
    member_id: int | None = None,
    before_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> JobsPage:
    query = select(Generation)
    if status is not None:
        if status not in GENERATION_STATUSES:
            raise InvalidInput("Unknown status", field="status")
        query = query.where(Generation.status == status)
    if member_id is not None:
        query = query.where(Generation.user_id == member_id)
    if before_id is not None:
        query = query.where(col(Generation.id) < before_id)
    limit = max(1, min(limit, 100))
    rows = list(session.exec(query.order_by(col(Generation.id).desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return JobsPage(jobs=rows, next_cursor=rows[-1].id if more and rows else None)


def _job(session: Session, generation_id: object) -> Generation:
    if record_id(generation_id) is None:
        raise NotFound(review.NOT_FOUND)
    generation = session.get(Generation, generation_id)
    if generation is None:
        raise NotFound(review.NOT_FOUND)
    return generation


@dataclass(frozen=True)
class JobAction:
    message: str
    generation: Generation | None  # to enqueue (a retry), after commit
    workflow_ids: list[str]  # to cancel in the engine (a cancel), after commit


def _lock_actor_and_owner(session: Session, actor_user_id: object, generation_id: object) -> None:
    """The actor's and the job owner's rows, locked together in id order (see `lock_users`)."""
    valid = record_id(generation_id) is not None
    job = session.get(Generation, generation_id) if valid else None
    lock_users(session, actor_user_id, job.user_id if job is not None else None)


def cancel_job(
    *,
    session: Session,
    actor_user_id: object,
    generation_id: object,
    reason: object,
    form_token: object,
) -> JobAction:
    _lock_actor_and_owner(session, actor_user_id, generation_id)
    actor = require_admin(session=session, actor_user_id=actor_user_id)  # type: ignore[arg-type]
    reason_text, token = check_reason(reason), check_form_token(form_token)
    job = _job(session, generation_id)
    target_member(session, job.user_id)
    if done_before(session, member_id=job.user_id, action="admin.job_cancelled", form_token=token):
        return JobAction("Already cancelled: this form was sent before.", None, [])
    before = job.status
    cancelled = review.cancel_generation(session=session, user_id=job.user_id, generation_id=job.id)
    audit_action(
        session,
        action="admin.job_cancelled",
        actor=actor,
        member_id=job.user_id,
        before={"job": job.id, "status": before},
        after={"job": job.id, "status": cancelled.generation.status},
        reason=reason_text,
        form_token=token,
    )
    return JobAction(
        f"Job #{job.id} cancelled; its held credits are back.", None, cancelled.workflow_ids
    )


def retry_job(
    *,
    session: Session,
    actor_user_id: object,
    generation_id: object,
    catalog: Catalog,
    reason: object,
    form_token: object,
) -> JobAction:
    """Run a failed job again as a new attempt, on the member's plan limits and credits."""
    _lock_actor_and_owner(session, actor_user_id, generation_id)
    actor = require_admin(session=session, actor_user_id=actor_user_id)  # type: ignore[arg-type]
    reason_text, token = check_reason(reason), check_form_token(form_token)
    job = _job(session, generation_id)
    target_member(session, job.user_id)
    if done_before(session, member_id=job.user_id, action="admin.job_retried", form_token=token):
        return JobAction("Already retried: this form was sent before.", None, [])
    generation = review.retry_generation(
        session=session, user_id=job.user_id, generation_id=job.id, catalog=catalog
    )
    audit_action(
        session,
        action="admin.job_retried",
        actor=actor,
        member_id=job.user_id,
        before={"job": job.id, "status": "failed"},
        after={"job": job.id, "status": generation.status, "attempt": generation.attempt},
        reason=reason_text,
        form_token=token,
    )
    return JobAction(f"Job #{job.id} queued again (attempt {generation.attempt}).", generation, [])
