"""The job engine's dispatch cost on PostgreSQL, beside a bare queue on the same database.

    .venv/bin/python tests/bench/bench_jobs.py [--jobs 300] [--paced 60]

With a generator that does nothing (tests/support/generators.py:NullGenerator), for 1, 2 and 4
worker processes (`python -m dashboard_app worker`, JOBS_WORKER_CONCURRENCY per process):
- jobs/s: N one-variant jobs committed, then enqueued at once; the time until the last one is
  delivered (begin, render, store, deliver: four transactions and DBOS's bookkeeping per job);
- queued->running latency, p50 and p99: jobs enqueued one by one at half that rate, from the
  enqueue to the job's `started_at`.
Beside each, the same two figures for a bare queue table claimed with
`SELECT ... FOR UPDATE SKIP LOCKED` and completed by as many processes, in the same run on the
same server. Not a test: it prints figures and does not run in CI.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SECRET_KEY", "bench-secret-key-that-is-long-enough-000000")
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="bench-data-"))

import psycopg  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlmodel import select  # noqa: E402

from dashboard_app.db import build_engine, session_scope  # noqa: E402
from dashboard_app.domain import credits  # noqa: E402
from dashboard_app.domain.catalog import get_catalog  # noqa: E402
from dashboard_app.domain.generation import submit  # noqa: E402
from dashboard_app.engine.client import JobsClient  # noqa: E402
from dashboard_app.models import Generation  # noqa: E402
from dashboard_app.settings import Settings  # noqa: E402
from tests.factories import create_member  # noqa: E402
from tests.support.databases import migrate  # noqa: E402
from tests.support.servers import PostgresServer  # noqa: E402

CONCURRENCY = 4  # per worker process
# The queue's polling interval (JOBS_POLLING_SECONDS), seconds: the shipped default unless
# --polling sets another.
POLLING = Settings.model_fields["jobs_polling_seconds"].default


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def bench_catalog():  # type: ignore[no-untyped-def]
    """The shipped catalog with the free plan's limits lifted (limits are not measured here)."""
    catalog = get_catalog()
    free = catalog.plans["free"].model_copy(
        update={"concurrent_jobs": 100_000, "hourly_burst": 100_000, "monthly_minutes": 100_000}
    )
    return catalog.model_copy(update={"plans": {**catalog.plans, "free": free}})


def engine_run(
    server: PostgresServer, workers: int, jobs: int, paced: int
) -> tuple[float, float, float]:
    name = f"bench_engine_{workers}"
    admin = create_engine(server.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    url = server.url_for(name)
    migrate(url)
    engine = build_engine(url)
    catalog = bench_catalog()
    member = create_member(engine, credits_granted=10_000_000).id

    def commit_jobs(count: int, prefix: str) -> list[Generation]:
        made = []
        for n in range(count):
            with session_scope(engine) as session:
                made.append(
                    submit.submit_generation(
                        session=session,
                        user_id=member,
                        catalog=catalog,
                        idempotency_key=f"{prefix}-{n:06}",
                        topic="Bench",
                        platform="tiktok",
                        preset="clean",
                        format="video",
                        variants=1,
                    ).generation
                )
        return made

    client = JobsClient(system_database_url=url, schema="dbos")
    data_dir = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "GENERATOR": "tests.support.generators:NullGenerator",
        "JOBS_POLLING_SECONDS": str(POLLING),
        "JOBS_WORKER_CONCURRENCY": str(CONCURRENCY),
        "PYTHONPATH": str(ROOT),
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "dashboard_app", "worker", "--executor-id", f"bench-{i}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(workers)
    ]

    def enqueue(generation: Generation) -> float:
        client.enqueue_generation(
            workflow_id=submit.workflow_id(generation),
            generation_id=generation.id,
            attempt=1,
            timeout_seconds=600,
        )
        return time.time()

    def wait_all(ids: list[int]) -> None:
        while True:
            with session_scope(engine) as session:
                left = session.exec(
                    select(Generation.id).where(
                        Generation.id.in_(ids),
                        Generation.status != "succeeded",  # type: ignore[union-attr]
                    )
                ).first()
            if left is None:
                return
            time.sleep(0.05)

    try:
        warm = commit_jobs(4 * workers, "warm")
        for generation in warm:
            enqueue(generation)
        wait_all([g.id for g in warm])

        burst = commit_jobs(jobs, "burst")
        started = time.perf_counter()
        for generation in burst:
            enqueue(generation)
        wait_all([g.id for g in burst])
        rate = jobs / (time.perf_counter() - started)

        paced_jobs = commit_jobs(paced, "paced")
        enqueued_at: dict[int, float] = {}
        gap = 2.0 / rate
        for generation in paced_jobs:
            enqueued_at[generation.id] = enqueue(generation)
            time.sleep(gap)
        wait_all(list(enqueued_at))
        with session_scope(engine) as session:
            rows = session.exec(
                select(Generation.id, Generation.started_at).where(
                    Generation.id.in_(list(enqueued_at))  # type: ignore[union-attr]
                )
            ).all()
        latencies = [(started_at.timestamp() - enqueued_at[i]) * 1000 for i, started_at in rows]
        with session_scope(engine) as session:
            assert credits.get_balances(session=session, user_id=member).reserved == 0
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        client.close()
        engine.dispose()
    return rate, percentile(latencies, 0.5), percentile(latencies, 0.99)


# --- The bare queue -----------------------------------------------------------------------------


def bare_worker(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        while True:
            with connection.transaction():
                row = connection.execute(
                    "SELECT id FROM bench_queue WHERE status = 'queued' ORDER BY id "
                    "LIMIT 1 FOR UPDATE SKIP LOCKED"
                ).fetchone()
                if row is not None:
                    connection.execute(
                        "UPDATE bench_queue SET status = 'running', started_at = clock_timestamp() "
                        "WHERE id = %s",
                        (row[0],),
                    )
            if row is None:
                if connection.execute("SELECT 1 FROM bench_queue WHERE status = 'stop'").fetchone():
                    return
                time.sleep(POLLING)  # the same polling interval as the engine's queue
                continue
            with connection.transaction():
                connection.execute(
                    "UPDATE bench_queue SET status = 'done', finished_at = clock_timestamp() "
                    "WHERE id = %s",
                    (row[0],),
                )


def bare_run(
    server: PostgresServer, workers: int, jobs: int, paced: int
) -> tuple[float, float, float]:
    dsn = server.url_for(f"bench_engine_{workers}").replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS bench_queue")
        connection.execute(
            "CREATE TABLE bench_queue (id bigserial PRIMARY KEY, status text NOT NULL, "
            "enqueued_at timestamptz NOT NULL DEFAULT clock_timestamp(), started_at timestamptz, "
            "finished_at timestamptz)"
        )
        connection.execute("CREATE INDEX ON bench_queue (status, id)")
    processes = [multiprocessing.Process(target=bare_worker, args=(dsn,)) for _ in range(workers)]
    for process in processes:
        process.start()
    try:
        with psycopg.connect(dsn, autocommit=True) as connection:
            started = time.perf_counter()
            for _ in range(jobs):
                connection.execute("INSERT INTO bench_queue (status) VALUES ('queued')")
            while connection.execute(
                "SELECT 1 FROM bench_queue WHERE status <> 'done' LIMIT 1"
            ).fetchone():
                time.sleep(0.01)
            rate = jobs / (time.perf_counter() - started)
            connection.execute("DELETE FROM bench_queue")
            gap = 2.0 / rate
            for _ in range(paced):
                connection.execute("INSERT INTO bench_queue (status) VALUES ('queued')")
                time.sleep(gap)
            while connection.execute(
                "SELECT 1 FROM bench_queue WHERE status <> 'done' LIMIT 1"
            ).fetchone():
                time.sleep(0.01)
            latencies = [
                row[0] * 1000
                for row in connection.execute(
                    "SELECT extract(epoch FROM started_at - enqueued_at) FROM bench_queue"
                )
            ]
            connection.execute("INSERT INTO bench_queue (status) VALUES ('stop')")
    finally:
        for process in processes:
            process.join(timeout=30)
    return rate, percentile(latencies, 0.5), percentile(latencies, 0.99)


def main() -> None:
    global POLLING
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--paced", type=int, default=60)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--polling", type=float, default=POLLING, help="JOBS_POLLING_SECONDS")
    args = parser.parse_args()
    POLLING = args.polling
    server = PostgresServer()
    server.start()
    try:
        print(
            f"PostgreSQL, do-nothing generator, {args.jobs} jobs per burst, {args.paced} paced, "
            f"{CONCURRENCY} jobs at a time per worker process, queue polled every {POLLING}s "
            f"({datetime.now(UTC):%Y-%m-%d})"
        )
        print(
            "| worker processes | engine jobs/s | engine p50 ms | engine p99 ms "
            "| bare jobs/s | bare p50 ms | bare p99 ms |"
        )
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for workers in [int(n) for n in args.workers.split(",")]:
            engine = engine_run(server, workers, args.jobs, args.paced)
            bare = bare_run(server, workers, args.jobs, args.paced)
            print(
                f"| {workers} | {engine[0]:.1f} | {engine[1]:.0f} | {engine[2]:.0f} "
                f"| {bare[0]:.0f} | {bare[1]:.1f} | {bare[2]:.1f} |",
                flush=True,
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
