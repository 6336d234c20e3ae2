"""Library queries as a member's library grows from 1,000 to 1,000,000 assets.

    .venv/bin/python tests/bench/bench_library.py [--sizes 1000,100000,1000000]
                                                  [--databases sqlite,postgresql]

For one member, bulk-seeded (another member holds a few assets too), each query is timed as
the median of 25 runs through dashboard_app.domain.generation.library.list_library, 24 per
page: the first page; a deep page (the cursor of the library's middle); a text search for a
word in 20 assets whatever the size (FTS5 on SQLite, GIN on PostgreSQL); a filter by platform
(a third of the assets) and by tag (a tenth). Each should stay flat (within 25%) as the library
grows 1,000 times. Not a test: it prints figures and does not run in CI.
"""

from __future__ import annotations

import argparse
import json
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
from sqlmodel import select  # noqa: E402

from dashboard_app.db import build_engine, session_scope  # noqa: E402
from dashboard_app.domain.catalog import get_catalog  # noqa: E402
from dashboard_app.domain.generation import library  # noqa: E402
from dashboard_app.models import Asset  # noqa: E402
from tests.support.databases import SqliteDatabases, migrate  # noqa: E402
from tests.support.servers import PostgresServer  # noqa: E402

PLATFORMS = ("tiktok", "instagram_reels", "youtube_shorts")
WORDS = ("calm", "morning", "habits", "gym", "recipe", "travel", "budget", "study", "focus")
RUNS = 25
START = datetime(2025, 1, 1, tzinfo=UTC)
COLUMNS = (
    "owner_id, kind, title, storage_key, content_type, size_bytes, platform, preset, tags, "
    "search_text, created_at, saved_at, updated_at"
)


def make_users(engine: Engine) -> tuple[int, int]:
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        for email in ("bench-member@example.com", "bench-other@example.com"):
            session.execute(
                text(
                    "INSERT INTO users (email, role, status, created_at, updated_at) "
                    "VALUES (:email, 'member', 'active', :now, :now)"
                ),
                {"email": email, "now": now},
            )
        ids = [row[0] for row in session.execute(text("SELECT id FROM users ORDER BY id"))]
    return ids[0], ids[1]


def rows(owner: int, start: int, stop: int, total: int, dialect: str):  # type: ignore[no-untyped-def]
    """Assets start..stop of a library that will hold `total`; 20 of every size mention
    'harbour', a third are on each platform, a quarter are images, a tenth are tagged."""
    rare_every = max(1, total // 20)
    for i in range(start, stop):
        words = [WORDS[i % len(WORDS)], WORDS[(i // 7) % len(WORDS)]]
        if i % rare_every == 0:
            words.append("harbour")
        tags = ["launch"] if i % 10 == 0 else []
        title = " ".join(words).capitalize() + f" {i}"
        moment = START + timedelta(seconds=i)
        stamp = moment if dialect == "postgresql" else moment.strftime("%Y-%m-%d %H:%M:%S.%f")
        yield (
            owner,
            "image" if i % 4 == 0 else "video",
            title,
            f"generations/bench/{owner}/{i}/media.mp4",
            "video/mp4",
            1000,
            PLATFORMS[i % 3],
            "neon",
            json.dumps(tags),
            " ".join([title, *tags]).lower(),
            stamp,
            stamp,
            stamp,
        )


def seed(engine: Engine, owner: int, start: int, stop: int, total: int) -> None:
    """Bulk-insert assets (and their tag rows) outside the domain: only queries are measured."""
    dialect = engine.dialect.name
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        batch = 20_000
        for first in range(start, stop, batch):
            chunk = list(rows(owner, first, min(stop, first + batch), total, dialect))
            if dialect == "postgresql":
                with cursor.copy(f"COPY assets ({COLUMNS}) FROM STDIN") as copy:
                    for row in chunk:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(chunk[0]))
                cursor.execute("BEGIN")
                cursor.executemany(f"INSERT INTO assets ({COLUMNS}) VALUES ({marks})", chunk)
                cursor.execute("COMMIT")
        # Tag rows for the assets just added (the tagged ones' search text ends in 'launch').
        tag_sql = (
            "INSERT INTO asset_tags (asset_id, tag, owner_id, saved_at) "
            "SELECT id, 'launch', owner_id, saved_at FROM assets "
            f"WHERE owner_id = {owner} AND search_text LIKE '%launch' AND id > "
            f"(SELECT coalesce(max(asset_id), 0) FROM asset_tags WHERE owner_id = {owner})"
        )
        if dialect == "sqlite":
            cursor.execute("BEGIN")
        cursor.execute(tag_sql)
        if dialect == "sqlite":
            cursor.execute("ANALYZE")
            cursor.execute("COMMIT")
        raw.commit()
        if dialect == "postgresql":  # what autovacuum does after a bulk load
            connection = raw.driver_connection
            connection.autocommit = True
            connection.execute("VACUUM ANALYZE assets")
            connection.execute("VACUUM ANALYZE asset_tags")
            connection.autocommit = False
    finally:
        raw.close()


def timed(engine: Engine, owner: int, **query) -> float:  # type: ignore[no-untyped-def]
    catalog = get_catalog()
    samples = []
    for run in range(RUNS + 3):  # the first three warm the caches and are not counted
        started = time.perf_counter()
        with session_scope(engine) as session:
            page = library.list_library(
                session=session, user_id=owner, catalog=catalog, limit=24, **query
            )
            assert page.items
        if run >= 3:
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def middle_cursor(engine: Engine, owner: int, size: int) -> str:
    with session_scope(engine) as session:
        asset = session.exec(
            select(Asset)
            .where(Asset.owner_id == owner)
            .order_by(Asset.saved_at.desc(), Asset.id.desc())  # type: ignore[union-attr]
            .offset(size // 2)
            .limit(1)
        ).one()
        return library._cursor(asset)


def run(name: str, url: str, sizes: list[int]) -> list[tuple]:
    migrate(url)
    engine = build_engine(url)
    owner, other = make_users(engine)
    seed(engine, other, 0, 500, 500)
    results, seeded = [], 0
    for size in sizes:
        started = time.perf_counter()
        seed(engine, owner, seeded, size, sizes[-1])
        seeded = size
        seconds = time.perf_counter() - started
        figures = (
            timed(engine, owner),
            timed(engine, owner, cursor=middle_cursor(engine, owner, size)),
            timed(engine, owner, search="harbour"),
            timed(engine, owner, platform="youtube_shorts"),
            timed(engine, owner, tag="launch"),
        )
        print(
            f"| {name} | {size:,} | "
            + " | ".join(f"{f:.2f}" for f in figures)
            + f" | {seconds:.0f} s |",
            flush=True,
        )
        results.append((size, figures))
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    load = os.getloadavg()[0]
    print(
        f"Median of {RUNS} runs, milliseconds, 24 per page ({datetime.now(UTC):%Y-%m-%d}, "
        f"{os.cpu_count()} cores, load average {load:.1f} at the start)"
    )
    print("| database | assets | first page | deep page | search | platform | tag | seeding |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    outcome = {}
    for name in args.databases.split(","):
        if name == "sqlite":
            folder = Path(tempfile.mkdtemp(prefix="bench-library-"))
            outcome[name] = run(name, SqliteDatabases.url_of(folder / "library.db"), sizes)
        else:
            server = PostgresServer()
            server.start()
            try:
                outcome[name] = run(name, server.url_for("postgres"), sizes)
            finally:
                server.stop()
    labels = ("first page", "deep page", "search", "platform", "tag")
    for name, results in outcome.items():
        smallest, largest = results[0][1], results[-1][1]
        drift = [f"{label} {largest[i] / smallest[i]:.2f}x" for i, label in enumerate(labels)]
        print(f"{name}, largest vs smallest: " + ", ".join(drift))


if __name__ == "__main__":
    main()
