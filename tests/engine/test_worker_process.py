"""Real worker processes (`python -m dashboard_app worker`): a worker killed with SIGKILL in
the middle of a job; after a restart under the same executor id, or a takeover by another
worker (`--recover`), the job completes once and is charged once. The test process only
enqueues, through the client, as a web process does."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.domain import credits
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.generation import submit
from dashboard_app.domain.ledger_check import check_ledger
from dashboard_app.engine.client import JobsClient
from dashboard_app.models import Asset, CreditEntry, Generation, UsageEntry, Variant
from tests.engine.conftest import engine_settings
from tests.factories import count_rows, create_member
from tests.support.servers import PROJECT_ROOT, wait_for


class Worker:
    def __init__(self, env: dict[str, str], log: Path, executor_id: str, *recover: str) -> None:
        args = [sys.executable, "-m", "dashboard_app", "worker", "--executor-id", executor_id]
        for dead in recover:
            args += ["--recover", dead]
        self.log = log
        self.process = subprocess.Popen(
            args,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        assert self.process.wait(timeout=10) == -signal.SIGKILL

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture
def setup(engine, db_url, tmp_path) -> Iterator[dict]:
    settings = engine_settings(db_url, tmp_path / "data")
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": db_url,
        "DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "GENERATOR": "tests.support.generators:GatedGenerator",
        "TEST_GATE_FILE": str(tmp_path / "gate"),
        "JOBS_SYSTEM_DATABASE_URL": settings.jobs_system_database_url,
        "JOBS_POLLING_SECONDS": "0.1",
        "JOBS_STEP_RETRY_SECONDS": "0.1",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    client = JobsClient(
        system_database_url=settings.jobs_system_database_url, schema=settings.jobs_system_schema
    )
    workers: list[Worker] = []
    yield {"env": env, "client": client, "workers": workers, "gate": tmp_path / "gate"}
    for started in workers:
        if started.process.poll() is None:
            started.process.kill()
            started.process.wait()
    client.close()


def start_job(engine, client: JobsClient, member: int) -> int:
    catalog = get_catalog()
    with session_scope(engine) as session:
        generation = submit.submit_generation(
            session=session,
            user_id=member,
            catalog=catalog,
            idempotency_key="sigkill-key-1",
            topic="A worker dies mid-render",
            platform="youtube_shorts",
            preset="clean",
            format="video",
            variants=2,
        ).generation
    client.enqueue_generation(
        workflow_id=submit.workflow_id(generation),
        generation_id=generation.id,
        attempt=1,
        timeout_seconds=catalog.generation.job_timeout_seconds,
    )
    return generation.id


def rendering(engine, generation_id: int) -> bool:
    with session_scope(engine) as session:
        variants = session.exec(select(Variant).where(Variant.generation_id == generation_id)).all()
        return any(v.progress > 0 for v in variants)


def status(engine, generation_id: int) -> str:
    with session_scope(engine) as session:
        return session.get(Generation, generation_id).status


def assert_completed_once(engine, member: int, generation_id: int) -> None:
    assert status(engine, generation_id) == "succeeded"
    assert (
        count_rows(
            engine, CreditEntry, CreditEntry.user_id == member, CreditEntry.kind == "capture"
        )
        == 1
    )
    assert count_rows(engine, UsageEntry, UsageEntry.user_id == member) == 1
    # The interrupted render ran again, into the same storage keys and the same asset rows.
    assert count_rows(engine, Asset, Asset.owner_id == member) == 2
    with session_scope(engine) as session:
        balances = credits.get_balances(session=session, user_id=member)
        assert (balances.available, balances.reserved, balances.spent) == (90, 0, 10)
    with session_scope(engine) as session:  # ledger check reads a snapshot of its own
        assert check_ledger(session=session) == []


def kill_mid_render(engine, setup, tmp_path, executor_id: str) -> tuple[int, int]:
    member = create_member(engine, credits_granted=100).id
    generation_id = start_job(engine, setup["client"], member)
    first = Worker(setup["env"], tmp_path / "worker.log", executor_id)
    setup["workers"].append(first)
    wait_for(lambda: rendering(engine, generation_id), timeout=60, what="the worker to render")
    first.kill()
    assert status(engine, generation_id) == "running"
    assert count_rows(engine, CreditEntry, CreditEntry.kind == "capture") == 0
    setup["gate"].touch()  # the model would now finish, for whoever runs the job
    return member, generation_id


def test_a_worker_killed_mid_job_resumes_it_on_restart_and_charges_once(engine, setup, tmp_path):
    member, generation_id = kill_mid_render(engine, setup, tmp_path, "worker-a")

    restarted = Worker(setup["env"], tmp_path / "worker.log", "worker-a")
    setup["workers"].append(restarted)
    wait_for(
        lambda: status(engine, generation_id) == "succeeded",
        timeout=90,
        what="the restarted worker to finish the job",
    )
    assert_completed_once(engine, member, generation_id)
    assert restarted.stop() == 0
    assert "Worker worker-a stopped." in (tmp_path / "worker.log").read_text()


def test_another_worker_takes_over_the_work_of_one_that_never_comes_back(engine, setup, tmp_path):
    member, generation_id = kill_mid_render(engine, setup, tmp_path, "worker-lost")

    other = Worker(setup["env"], tmp_path / "worker.log", "worker-b", "worker-lost")
    setup["workers"].append(other)
    wait_for(
        lambda: status(engine, generation_id) == "succeeded",
        timeout=90,
        what="worker-b to finish worker-lost's job",
    )
    assert_completed_once(engine, member, generation_id)
    with session_scope(engine) as session:
        assert session.get(Generation, generation_id).worker_id == "worker-b"
    assert other.stop() == 0
