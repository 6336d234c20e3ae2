"""The admin overview's figures as the ledger grows to 1,000,000 entries.

    .venv/bin/python tests/bench/bench_admin.py [--sizes 100000,1000000]
                                                [--databases sqlite,postgresql]

The ledger is bulk-seeded: a busy last 30 days (50,000 entries across every kind, with orders,
sign-ups, sessions and jobs beside them) and older history making up the rest, over 1,000
members. Timed, as the median of 15 runs after 3 warm-up runs, in milliseconds:

- all figures: `domain.admin.overview_figures`, everything the overview shows (today, 7 and 30
  days, a point per day, webhook events, the last checks);
- ledger figures: its ledger query alone (`credits_per_day`, credits in and out per kind and
  day over 30 days);
- the baselines, in the same run: both again with the covering index
  `ix_credit_entries_created_kind` dropped (the ledger read by scanning the table), and a bare
  `SELECT count(*)` of the whole ledger.

The figures should stay flat as the ledger grows tenfold: they read the period's rows from the
index, never the history. Not a test: it prints figures and does not run in CI.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("SECRET_KEY", "bench-secret-key-that-is-long-enough-000000")
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="bench-data-"))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from dashboard_app.db import build_engine, session_scope  # noqa: E402
from dashboard_app.domain import admin  # noqa: E402
from dashboard_app.domain.admin.figures import credits_per_day  # noqa: E402
from tests.support.databases import SqliteDatabases, migrate  # noqa: E402
from tests.support.servers import PostgresServer  # noqa: E402

RUNS = 15
MEMBERS = 1_000
RECENT = 50_000  # entries in the last 30 days, whatever the ledger's size
KINDS = ("grant", "purchase", "spend", "allowance", "expiry", "adjustment", "capture")
NOW = datetime.now(UTC)
ENTRY_COLUMNS = (
    "user_id, amount, held_change, frozen_change, shortfall_change, balance_after, kind, "
    "idempotency_key, reference, reason, created_at"
)
INDEX = "ix_credit_entries_created_kind"


def stamp(moment: datetime, dialect: str):  # type: ignore[no-untyped-def]
    return moment if dialect == "postgresql" else moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def entries(start: int, stop: int, total: int, dialect: str):  # type: ignore[no-untyped-def]
    """Entry i: the first RECENT spread over the last 30 days, the others over the year
    before; kinds in turn, amounts by kind's sign."""
    history = max(1, total - RECENT)
    for i in range(start, stop):
        if i < RECENT:
            moment = NOW - timedelta(seconds=(i * 30 * 86_400) // RECENT)
        else:
            moment = (
                NOW - timedelta(days=31) - timedelta(seconds=((i - RECENT) * 31_536_000) // history)
            )
        kind = KINDS[i % len(KINDS)]
        amount = -5 if kind in ("spend", "expiry") else (0 if kind == "capture" else 25)
        held = -5 if kind == "capture" else 0
        yield (
            1 + i % MEMBERS,
            amount,
            held,
            0,
            0,
            1000,
            kind,
            f"bench:{i}",
            "",
            "",
            stamp(moment, dialect),
        )


def bulk(engine: Engine, table: str, columns: str, rows: list[tuple]) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(rows[0]))
            cursor.execute("BEGIN")
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
            cursor.execute("COMMIT")
        raw.commit()
    finally:
        raw.close()


def seed_world(engine: Engine) -> None:
    """Members (joined over the last 60 days), their sessions, orders and jobs."""
    dialect = engine.dialect.name
    bulk(
        engine,
        "users",
        "email, role, status, created_at, updated_at",
        [
            (
                f"bench-{i}@example.com",
                "member",
                "active",
                stamp(NOW - timedelta(hours=i * 1.44), dialect),
                stamp(NOW, dialect),
            )
            for i in range(MEMBERS)
        ],
    )
    bulk(
        engine,
        "user_sessions",
        "token_hash, user_id, created_at, last_seen_at, expires_at, user_agent, ip_address",
        [
            (
                f"bench-token-{i}",
                1 + i % MEMBERS,
                stamp(NOW - timedelta(days=i % 40), dialect),
                stamp(NOW - timedelta(hours=i % 900), dialect),
                stamp(NOW + timedelta(days=30), dialect),
                "bench",
                "127.0.0.1",
            )
            for i in range(5_000)
        ],
    )
    bulk(
        engine,
        "orders",
        "user_id, kind, status, product_code, amount_total, amount_refunded, currency, credits, "
        "credits_clawed_back, credits_frozen, items, created_at, updated_at",
        [
            (
                1 + i % MEMBERS,
                "pack",
                "paid" if i % 20 else "partially_refunded",
                "starter",
                900,
                0 if i % 20 else 450,
                "usd",
                500,
                0,
                0,
                "[]",
                stamp(NOW - timedelta(hours=i % 2_000), dialect),
                stamp(NOW - timedelta(hours=i % 1_500), dialect),
            )
            for i in range(20_000)
        ],
    )
    statuses = ("succeeded", "succeeded", "succeeded", "failed", "cancelled", "queued")
    bulk(
        engine,
        "generations",
        "user_id, idempotency_key, status, progress, title, prompt, platform, preset, format, "
        "variant_count, options, credits_cost, attempt, processing_seconds, created_at, "
        "updated_at",
        [
            (
                1 + i % MEMBERS,
                f"bench-job-{i}",
                statuses[i % len(statuses)],
                0,
                "",
                "",
                "tiktok",
                "neon",
                "video",
                1,
                "{}",
                5,
                1,
                0,
                stamp(NOW - timedelta(minutes=i % 60_000), dialect),
                stamp(NOW, dialect),
            )
            for i in range(50_000)
        ],
    )


def grow_ledger(engine: Engine, start: int, stop: int, total: int) -> None:
    dialect = engine.dialect.name
    for first in range(start, stop, 50_000):
        bulk(
            engine,
            "credit_entries",
            ENTRY_COLUMNS,
            list(entries(first, min(stop, first + 50_000), total, dialect)),
        )
    analyse(engine)


def analyse(engine: Engine) -> None:
    """What autovacuum and ANALYZE would have done by the time an admin looks."""
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "postgresql":
            connection = raw.driver_connection
            connection.autocommit = True
            connection.execute("VACUUM ANALYZE")
            connection.autocommit = False
        else:
            raw.cursor().execute("ANALYZE")
            raw.commit()
    finally:
        raw.close()


def median_ms(work) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for run in range(RUNS + 3):
        started = time.perf_counter()
        work()
        if run >= 3:
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def figures(engine: Engine):  # type: ignore[no-untyped-def]
    def work() -> None:
        with session_scope(engine) as session:
            found = admin.overview_figures(session=session, now=NOW)
            assert found.periods[-1].granted > 0

    return work


def ledger_figures(engine: Engine):  # type: ignore[no-untyped-def]
    def work() -> None:
        with session_scope(engine) as session:
            found = credits_per_day(session=session, since=NOW - timedelta(days=30))
            assert found

    return work


def count_all(engine: Engine):  # type: ignore[no-untyped-def]
    def work() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT count(*) FROM credit_entries")).scalar_one()

    return work


def run(name: str, url: str, sizes: list[int]) -> None:
    migrate(url)
    engine = build_engine(url)
    seed_world(engine)
    seeded = 0
    for size in sizes:
        started = time.perf_counter()
        grow_ledger(engine, seeded, size, sizes[-1])
        seeded, seeding = size, time.perf_counter() - started
        with_index = median_ms(figures(engine))
        ledger_with = median_ms(ledger_figures(engine))
        with engine.begin() as connection:
            connection.execute(text(f"DROP INDEX {INDEX}"))
        analyse(engine)
        without_index = median_ms(figures(engine))
        ledger_without = median_ms(ledger_figures(engine))
        with engine.begin() as connection:
            connection.execute(
                text(
                    f"CREATE INDEX {INDEX} ON credit_entries "
                    "(created_at, kind, amount, held_change)"
                )
            )
        analyse(engine)
        bare = median_ms(count_all(engine))
        print(
            f"| {name} | {size:,} | {with_index:.1f} | {without_index:.1f} | {ledger_with:.1f} "
            f"| {ledger_without:.1f} | {bare:.1f} | {seeding:.0f} s |",
            flush=True,
        )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    print(
        f"Median of {RUNS} runs, milliseconds ({datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} "
        f"cores, load average {os.getloadavg()[0]:.1f} at the start); {RECENT:,} entries in the "
        "last 30 days whatever the ledger's size"
    )
    print(
        "| database | ledger entries | all figures | all, without the covering index "
        "| ledger figures | ledger, without the index | count(*) of the ledger | seeding |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in args.databases.split(","):
        if name == "sqlite":
            folder = Path(tempfile.mkdtemp(prefix="bench-admin-"))
            run(name, SqliteDatabases.url_of(folder / "admin.db"), sizes)
        else:
            server = PostgresServer()
            server.start()
            try:
                run(name, server.url_for("postgres"), sizes)
            finally:
                server.stop()


if __name__ == "__main__":
    main()
