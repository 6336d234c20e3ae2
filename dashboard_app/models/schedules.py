"""Runs of the app's scheduled work (reconciliation, expiry, refreshes, retention): one row per
run, whether the scheduler started it or an operator did."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Index, Text
from sqlmodel import Field, SQLModel

from dashboard_app.models.base import UTCDateTime, one_of, utcnow

RUN_OUTCOMES = ("running", "succeeded", "failed")
RUN_SOURCES = ("schedule", "cli")


class ScheduledRun(SQLModel, table=True):
    """One run of a scheduled job. `run_key` names the run (the DBOS workflow id of the
    scheduled instant, or a fresh one for an operator's run): a run repeated after a crash
    updates its row instead of adding another."""

    __tablename__ = "scheduled_runs"
    __table_args__ = (
        CheckConstraint(one_of("outcome", RUN_OUTCOMES), name="ck_scheduled_runs_outcome"),
        CheckConstraint(one_of("source", RUN_SOURCES), name="ck_scheduled_runs_source"),
        Index("ix_scheduled_runs_job_started", "job", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=40)
    run_key: str = Field(max_length=200, unique=True)
    source: str = Field(max_length=8)
    scheduled_for: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str = Field(default="running", max_length=10)
    # What the run found and did, in a few numbers and lines (see domain/schedules).
    summary: dict = Field(default_factory=dict, sa_type=JSON)
    error: str | None = Field(default=None, sa_type=Text)
