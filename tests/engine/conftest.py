"""The job engine in this test process: DBOS launched on the test's own database (its system
tables in a SQLite file beside it, or in the same PostgreSQL database, schema dbos), with a
generator the test chooses, and a client that enqueues as the web process does."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.domain.catalog import Catalog, get_catalog
from dashboard_app.domain.generation import review, submit
from dashboard_app.engine import runtime, worker
from dashboard_app.engine.client import JobsClient
from dashboard_app.integrations.storage import Storage
from dashboard_app.models import Generation, Variant
from dashboard_app.settings import Settings
from tests.support.generators import CountingGenerator
from tests.support.servers import wait_for

# Scheduled work is off in engine tests unless a test turns a schedule on.
NO_SCHEDULES = {
    "schedule_stripe_reconcile": "",
    "schedule_ledger_expiry": "",
    "schedule_stale_orders": "",
    "schedule_retention": "",
    "schedule_holdings_refresh": "",
}


def engine_settings(db_url: str, data_dir, **overrides) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=db_url,
        jobs_polling_seconds=0.1,
        jobs_worker_concurrency=2,
        **{**NO_SCHEDULES, **overrides},
    )


def short_timeout(catalog: Catalog, seconds: int) -> Catalog:
    rules = catalog.generation.model_copy(update={"job_timeout_seconds": seconds})
    return catalog.model_copy(update={"generation": rules})


@dataclass
class Jobs:
    engine: Engine
    runtime: runtime.Runtime
    client: JobsClient
    storage: Storage

    @property
    def catalog(self) -> Catalog:
        return self.runtime.catalog

    def submit(self, member: int, key: str = "engine-key-01", **form) -> int:
        values = {
            "title": "Calm mornings",
            "topic": "Five habits that make mornings calmer",
            "platform": "tiktok",
            "preset": "neon",
            "format": "video",
            "variants": 2,
            **form,
        }
        with session_scope(self.engine) as session:
            generation = submit.submit_generation(
                session=session,
                user_id=member,
                catalog=self.catalog,
                idempotency_key=key,
                **values,
            ).generation
        self.enqueue(generation.id)
        return generation.id

    def enqueue(self, generation_id: int) -> None:
        generation = self.generation(generation_id)
        self.client.enqueue_generation(
            workflow_id=submit.workflow_id(generation),
            generation_id=generation_id,
            attempt=generation.attempt,
            timeout_seconds=self.catalog.generation.job_timeout_seconds,
        )

    def enqueue_regeneration(self, variant: Variant) -> None:
        self.client.enqueue_regeneration(
            workflow_id=review.regeneration_workflow_id(variant),
            variant_id=variant.id,
            revision=variant.revision,
            timeout_seconds=self.catalog.generation.job_timeout_seconds,
        )

    def generation(self, generation_id: int) -> Generation:
        with session_scope(self.engine) as session:
            return session.get(Generation, generation_id)

    def variants(self, generation_id: int) -> list[Variant]:
        with session_scope(self.engine) as session:
            return list(
                session.exec(
                    select(Variant)
                    .where(Variant.generation_id == generation_id)
                    .order_by(Variant.position)
                )
            )

    def wait_until(self, generation_id: int, *statuses: str, timeout: float = 60) -> Generation:
        wait_for(
            lambda: self.generation(generation_id).status in statuses,
            timeout=timeout,
            what=f"generation {generation_id} to be {' or '.join(statuses)}",
        )
        return self.generation(generation_id)

    def wait_for_workflow(self, workflow_id: str, timeout: float = 30) -> str:
        wait_for(
            lambda: self.client.status(workflow_id) in ("SUCCESS", "ERROR", "CANCELLED"),
            timeout=timeout,
            what=f"workflow {workflow_id} to end",
        )
        return self.client.status(workflow_id) or ""


def in_thread(function, *args, **kwargs):  # type: ignore[no-untyped-def]
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args, **kwargs).result()


@pytest.fixture
def jobs(engine: Engine, db_url: str, tmp_path) -> Iterator[Jobs]:
    settings = engine_settings(db_url, tmp_path)
    storage = Storage.local(tmp_path / "media")
    job_runtime = runtime.Runtime(
        engine=engine,
        storage=storage,
        generator=CountingGenerator(),
        catalog=get_catalog(),
        executor_id="test-worker",
        step_attempts=3,
        step_retry_seconds=0.05,
    )
    # On a thread of its own, as the embedded worker starts it: Playwright's sync API may own
    # this thread's event loop, and DBOS refuses to register a queue beside a running loop.
    in_thread(worker.start, settings, worker_runtime=job_runtime)
    client = JobsClient(
        system_database_url=settings.jobs_system_database_url,
        schema=settings.jobs_system_schema,
    )
    try:
        yield Jobs(engine=engine, runtime=job_runtime, client=client, storage=storage)
    finally:
        client.close()
        in_thread(worker.stop)


NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
