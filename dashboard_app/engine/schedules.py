"""The app's scheduled work on DBOS schedules: one workflow, `scheduled_job`, which every
schedule starts with its job's name as context. DBOS names each scheduled run
`sched-<schedule>-<instant>`, so however many workers poll the schedules, an instant is enqueued
once and run by one of them; the run record is keyed by that same id (domain/schedules)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from dbos import DBOS

from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.schedules import JOBS, WorkContext, run_job
from dashboard_app.engine import runtime
from dashboard_app.integrations.marketplace import config_from_settings
from dashboard_app.integrations.stripe_gateway import gateway_from_settings
from dashboard_app.models.base import utcnow
from dashboard_app.settings import Settings, get_settings

log = logging.getLogger(__name__)

# Each job's cron setting.
SCHEDULE_SETTINGS = {
    "stripe_reconcile": "schedule_stripe_reconcile",
    "ledger_expiry": "schedule_ledger_expiry",
    "stale_orders": "schedule_stale_orders",
    "retention": "schedule_retention",
    "holdings_refresh": "schedule_holdings_refresh",
}
SCHEDULE_PREFIX = "dashboard-"


def schedule_name(job: str) -> str:
    return f"{SCHEDULE_PREFIX}{job}"


def work_context(settings: Settings, *, engine, catalog: Catalog) -> WorkContext:  # type: ignore[no-untyped-def]
    return WorkContext(
        engine=engine,
        catalog=catalog,
        gateway=gateway_from_settings(settings),
        now=utcnow(),
        reconcile_lookback=timedelta(hours=settings.reconcile_lookback_hours),
        sign_in_attempts_retention=timedelta(days=settings.sign_in_attempts_retention_days),
        scheduled_runs_retention=timedelta(days=settings.scheduled_runs_retention_days),
        marketplace=config_from_settings(settings),
        holdings_fresh_for=timedelta(hours=settings.holdings_fresh_hours),
    )


def planned_schedules(settings: Settings) -> dict[str, str]:
    """job -> cron for every job this server schedules: those with a cron, and for the jobs
    that talk to Stripe (or the marketplace), only when it is configured."""
    planned = {}
    for job, setting in SCHEDULE_SETTINGS.items():
        cron = getattr(settings, setting)
        if not cron or (JOBS[job].needs_stripe and not settings.stripe_configured):
            continue
        if JOBS[job].needs_marketplace and not settings.marketplace_configured:
            continue
        planned[job] = cron
    return planned


def run_scheduled(job: str, run_key: str, scheduled_at: datetime) -> str:
    current = runtime.current()
    settings = current.settings or get_settings()
    context = work_context(settings, engine=current.engine, catalog=current.catalog)
    run = run_job(
        engine=current.engine,
        job=job,
        context=context,
        run_key=run_key,
        source="schedule",
        scheduled_for=scheduled_at,
    )
    return "already done" if run is None else run.outcome


@DBOS.workflow(name="scheduled_job")
def scheduled_job(scheduled_at: datetime, job: str) -> str:
    # One step: the run record and the work commit together as far as a retry is concerned
    # (a repeated step finds its record and takes it over).
    return DBOS.run_step({"name": job}, run_scheduled, job, DBOS.workflow_id or job, scheduled_at)


def install(settings: Settings) -> dict[str, str]:
    """Make DBOS's schedules match the settings (every worker does this on start; it is the
    same data each time). Jobs turned off lose their schedule."""
    planned = planned_schedules(settings)
    DBOS.apply_schedules(
        [
            {
                "schedule_name": schedule_name(job),
                "workflow_fn": scheduled_job,
                "schedule": cron,
                "context": job,
            }
            for job, cron in planned.items()
        ]
    )
    for job in JOBS:
        if job not in planned and DBOS.get_schedule(schedule_name(job)) is not None:
            DBOS.delete_schedule(schedule_name(job))
    log.info("scheduled work: %s", planned or "none")
    return planned
