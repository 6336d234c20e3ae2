"""The figures an operator watches that live in the database: the job queue, Stripe events not
yet applied, and the last ledger check. Read at scrape time by /metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from dashboard_app.domain.admin.checks import latest_checks
from dashboard_app.domain.admin.jobs import jobs_in_flight
from dashboard_app.models import StripeEvent
from dashboard_app.models.base import utcnow


@dataclass(frozen=True)
class OperationsFigures:
    jobs_queued: int
    jobs_running: int
    oldest_queued_seconds: float  # 0 when nothing waits
    stripe_unapplied: int  # received or failed, not yet applied
    oldest_unapplied_seconds: float
    ledger_check_ok: bool | None  # None: never run
    ledger_check_problems: int
    ledger_check_finished_at: datetime | None


def _age(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


def operations_figures(*, session: Session, now: datetime | None = None) -> OperationsFigures:
    now = now or utcnow()
    queued, running, oldest_queued = jobs_in_flight(session=session)
    unapplied, oldest_unapplied = session.exec(
        select(func.count(), func.min(StripeEvent.received_at)).where(
            col(StripeEvent.status).in_(("received", "failed"))
        )
    ).one()
    check = latest_checks(session=session).get("ledger_check")
    return OperationsFigures(
        jobs_queued=queued,
        jobs_running=running,
        oldest_queued_seconds=_age(now, oldest_queued),
        stripe_unapplied=int(unapplied),
        oldest_unapplied_seconds=_age(now, oldest_unapplied),
        ledger_check_ok=check.ok if check is not None else None,
        ledger_check_problems=len(check.details) if check is not None and not check.ok else 0,
        ledger_check_finished_at=check.finished_at if check is not None else None,
    )
