"""Scheduled work in real DBOS workers: a fast cron (with a seconds field) fires, each run
leaves its record, and with two workers polling the same schedules each instant runs once."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import timedelta

import pytest
from dbos import DBOS
from sqlmodel import Session, select

from dashboard_app.db import session_scope
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.engine import runtime, schedules, worker
from dashboard_app.integrations.storage import Storage
from dashboard_app.models import ScheduledRun, SignInAttempt
from dashboard_app.models.base import utcnow
from tests.engine.conftest import NO_SCHEDULES, engine_settings, in_thread
from tests.factories import count_rows
from tests.support.generators import CountingGenerator
from tests.support.servers import PROJECT_ROOT, wait_for

EVERY_SECOND = "* * * * * *"


def scheduled_runs(engine) -> list[ScheduledRun]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(ScheduledRun)
                .where(ScheduledRun.source == "schedule")
                .order_by(ScheduledRun.scheduled_for)
            )
        )


@pytest.fixture
def scheduling_worker(engine, db_url, tmp_path):
    settings = engine_settings(db_url, tmp_path, schedule_retention=EVERY_SECOND)
    worker_runtime = runtime.Runtime(
        engine=engine,
        storage=Storage.local(tmp_path / "media"),
        generator=CountingGenerator(),
        catalog=get_catalog(),
        executor_id="scheduler-test",
        settings=settings,
    )
    in_thread(worker.start, settings, worker_runtime=worker_runtime)
    try:
        yield settings
    finally:
        in_thread(worker.stop)


def test_a_schedule_fires_in_a_worker_and_records_each_run(engine, scheduling_worker) -> None:
    with session_scope(engine) as session:
        session.add(SignInAttempt(account_key="a" * 64, created_at=utcnow() - timedelta(days=60)))
        session.add(SignInAttempt(account_key="b" * 64, created_at=utcnow()))
    assert [s["schedule_name"] for s in DBOS.list_schedules()] == ["dashboard-retention"]

    wait_for(lambda: len(scheduled_runs(engine)) >= 3, timeout=60, what="three scheduled runs")

    runs = scheduled_runs(engine)
    first = runs[0]
    assert first.job == "retention" and first.outcome in ("succeeded", "running")
    assert first.run_key == f"sched-dashboard-retention-{first.scheduled_for.isoformat()}"
    assert count_rows(engine, SignInAttempt) == 1  # the old attempt went, the recent one stayed
    wait_for(
        lambda: any(
            r.outcome == "succeeded" and r.summary.get("sign_in_attempts") == 1
            for r in scheduled_runs(engine)
        ),
        timeout=30,
        what="the run that pruned the old attempt",
    )
    # One run per instant: the instants are whole seconds, each recorded once.
    instants = [r.scheduled_for for r in scheduled_runs(engine)]
    assert len(instants) == len(set(instants))
    assert all(moment.microsecond == 0 for moment in instants)


def test_an_instant_already_run_is_not_run_again(engine, scheduling_worker) -> None:
    """DBOS names each scheduled run by its instant: enqueuing the same instants again (as a
    second worker's scheduler, or a backfill, does) starts nothing new."""

    def finished() -> list[ScheduledRun]:
        return [r for r in scheduled_runs(engine) if r.outcome == "succeeded"]

    wait_for(lambda: len(finished()) >= 2, timeout=60, what="two finished scheduled runs")
    done = finished()
    first, last = done[0].scheduled_for, done[-1].scheduled_for
    before = {r.run_key: r.finished_at for r in done}

    handles = in_thread(
        DBOS.backfill_schedule,
        "dashboard-retention",
        first - timedelta(seconds=1),
        last + timedelta(milliseconds=1),
    )
    ids = [handle.get_workflow_id() for handle in handles]
    results = {
        workflow_id: in_thread(handle.get_result)
        for workflow_id, handle in zip(ids, handles, strict=True)
    }

    assert {r.run_key for r in done} <= set(ids)
    after = {r.run_key: r for r in scheduled_runs(engine)}
    for run in done:
        assert after[run.run_key].finished_at == before[run.run_key]  # not run again
        assert results[run.run_key] == "succeeded"  # the first run's result, not a second run


def test_two_workers_run_each_scheduled_instant_once(engine, db_url, tmp_path, scheduling_worker):
    settings = scheduling_worker
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": db_url,
        "DATA_DIR": str(tmp_path / "second"),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "JOBS_SYSTEM_DATABASE_URL": settings.jobs_system_database_url,
        "JOBS_POLLING_SECONDS": "0.1",
        "PYTHONPATH": str(PROJECT_ROOT),
        **{name.upper(): "" for name in NO_SCHEDULES},
        "SCHEDULE_RETENTION": EVERY_SECOND,
    }
    log = tmp_path / "second-worker.log"
    second = subprocess.Popen(
        [sys.executable, "-m", "dashboard_app", "worker", "--executor-id", "second"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: b"is running" in log.read_bytes(), timeout=60, what="the second worker")
        started = len(scheduled_runs(engine))
        wait_for(
            lambda: len(scheduled_runs(engine)) >= started + 5,
            timeout=60,
            what="five runs with both workers scheduling",
        )
    finally:
        second.terminate()
        assert second.wait(timeout=30) == 0, log.read_text()
    instants = [r.scheduled_for for r in scheduled_runs(engine)]
    assert len(instants) == len(set(instants)), "an instant ran twice"
    with Session(engine) as session:
        executors = set(session.exec(select(ScheduledRun.run_key)))
    assert len(executors) == len(instants)
    assert schedules.schedule_name("retention") == "dashboard-retention"
