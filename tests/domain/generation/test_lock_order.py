"""A worker's progress report and a member's cancel take the job and its variants in the same
order (the job first). The report used to update the variant first and the job after, while the
cancel locks the job, then its variants: PostgreSQL found the deadlock in a browser test."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from dashboard_app.db import session_scope
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.generation import progress, submit
from dashboard_app.models import Generation, Variant
from tests.factories import create_member
from tests.support.servers import wait_for

CATALOG = get_catalog()
NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def _postgresql_only(engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writing transaction at a time")


def waiting_on_locks(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()


def test_a_progress_report_waits_for_the_job_before_touching_its_variant(engine) -> None:
    member = create_member(engine, credits_granted=100).id
    with session_scope(engine) as session:
        generation_id = submit.submit_generation(
            session=session, user_id=member, catalog=CATALOG, idempotency_key="lock-order-1",
            topic="Lock order", platform="tiktok", preset="clean", format="video", variants=1,
        ).generation.id  # fmt: skip
    with session_scope(engine) as session:
        (job,) = progress.begin_generation(
            session=session, generation_id=generation_id, attempt=1, worker_id="w",
            timeout_seconds=600,
        )  # fmt: skip

    def report() -> None:
        with session_scope(engine) as session:
            progress.record_progress(session=session, job=job, fraction=0.5)

    with Session(engine) as cancel:  # as the member's cancel: the job, then its variants
        cancel.exec(select(Generation).where(Generation.id == generation_id).with_for_update())
        reporter = threading.Thread(target=report)
        reporter.start()
        wait_for(lambda: waiting_on_locks(engine) >= 1, timeout=10, what="the report waiting")
        cancel.exec(text("SET LOCAL lock_timeout = '2s'"))
        # The report holds nothing of the variant yet: the cancel takes it without waiting.
        cancel.exec(
            select(Variant).where(Variant.generation_id == generation_id).with_for_update()
        ).all()
        cancel.rollback()
    reporter.join(timeout=10)
    with Session(engine) as session:
        assert (
            session.exec(
                select(Variant.progress).where(Variant.generation_id == generation_id)
            ).one()
            == 50
        )
