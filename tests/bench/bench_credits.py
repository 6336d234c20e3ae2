"""Spends per second through the ledger service, beside the bare single-row UPDATE it rests on.

    .venv/bin/python tests/bench/bench_credits.py [--database sqlite|postgresql]
        [--spends 500] [--repeats 5] [--warmup 100]

Each spend is one transaction, committed, on one thread: on one hot account with one lot, spread
round-robin over 1,000 accounts with one lot each, and on one hot account whose credits sit in 20
live lots that expire on different days (the spend draws the soonest first). The baseline is
`UPDATE credit_accounts SET available =
available - 1 WHERE user_id = ?` in its own transaction, measured in the same run on the same
database, in rounds alternating with the ledger so that drift hits both alike. After a warm-up,
each case runs `--repeats` rounds and the median rate is printed, with the database's settings
(the PostgreSQL started here is the test server: fsync is off, so its figures are not those of a
durable commit) and the statements each spend sends (counted with SQLAlchemy's
`before_cursor_execute` event; the commit is one more round trip). Not a test: it prints figures
and does not run in CI.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("SECRET_KEY", "bench-secret-key-that-is-long-enough-000000")
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="bench-data-"))

from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from dashboard_app.db import build_engine, session_scope  # noqa: E402
from dashboard_app.domain import credits  # noqa: E402
from dashboard_app.models import CreditAccount, CreditEntry, CreditLot, User  # noqa: E402
from dashboard_app.models.base import utcnow  # noqa: E402
from tests.support.databases import migrate  # noqa: E402
from tests.support.servers import PostgresServer  # noqa: E402
from tests.support.sql import statements_sent  # noqa: E402

ACCOUNTS = 1000
STARTING_BALANCE = 1_000_000
LIVE_LOTS = 20
POSTGRES_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers")


def make_accounts(engine: Engine) -> list[int]:
    """1,000 members with a large balance, inserted in bulk (the grant path is not measured)."""
    now = utcnow()
    with session_scope(engine) as session:
        session.execute(
            insert(User),
            [
                {
                    "email": f"bench{i}@example.com",
                    "role": "member",
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(ACCOUNTS)
            ],
        )
        ids = [row[0] for row in session.execute(text("SELECT id FROM users ORDER BY id"))]
        session.execute(
            insert(CreditAccount),
            [
                {
                    "user_id": i,
                    "available": STARTING_BALANCE,
                    "reserved": 0,
                    "lifetime": STARTING_BALANCE,
                    "spent": 0,
                    "frozen": 0,
                    "clawback_shortfall": 0,
                    "updated_at": now,
                }
                for i in ids
            ],
        )
        session.execute(
            insert(CreditEntry),
            [
                {
                    "user_id": i,
                    "amount": STARTING_BALANCE,
                    "held_change": 0,
                    "balance_after": STARTING_BALANCE,
                    "kind": "grant",
                    "idempotency_key": f"seed:{i}",
                    "reference": f"seed:{i}",
                    "reason": "bench",
                    "created_at": now,
                }
                for i in ids
            ],
        )
        entry_ids = dict(session.execute(text("SELECT user_id, id FROM credit_entries")).all())
        session.execute(
            insert(CreditLot),
            [
                {
                    "user_id": i,
                    "entry_id": entry_ids[i],
                    "amount": STARTING_BALANCE,
                    "remaining": STARTING_BALANCE,
                    "created_at": now,
                }
                for i in ids
            ],
        )
    return ids


def make_member_with_lots(engine: Engine, lots: int) -> int:
    """One member whose balance sits in `lots` grants expiring a day apart, granted through the
    ledger (the careful path), so every lot is live and the soonest gives first."""
    now = utcnow()
    with session_scope(engine) as session:
        user_id = session.execute(
            insert(User).returning(User.id),
            [
                {
                    "email": "bench-lots@example.com",
                    "role": "member",
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        ).scalar_one()
        for day in range(lots, 0, -1):
            credits.grant_credits(
                session=session,
                user_id=user_id,
                amount=STARTING_BALANCE // lots,
                idempotency_key=f"seed-lot:{day}",
                expires_at=now + timedelta(days=30 + day),
                now=now,
            )
    return user_id


def settings_of(engine: Engine) -> str:
    """The database's version and the settings that decide what a commit costs."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            version = connection.execute(text("SHOW server_version")).scalar()
            shown = {
                name: connection.execute(text(f"SHOW {name}")).scalar()
                for name in POSTGRES_SETTINGS
            }
            note = (
                " (the test server: commits are not flushed to disk)"
                if shown["fsync"] == "off"
                else ""
            )
            return (
                f"PostgreSQL {version}: " + ", ".join(f"{k}={v}" for k, v in shown.items()) + note
            )
        version = connection.execute(text("SELECT sqlite_version()")).scalar()
        journal = connection.execute(text("PRAGMA journal_mode")).scalar()
        synchronous = connection.execute(text("PRAGMA synchronous")).scalar()
        synchronous = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(synchronous, synchronous)
        return (
            f"SQLite {version}: journal_mode={journal}, synchronous={synchronous}, "
            "writers serialised by BEGIN IMMEDIATE, file in a temporary folder"
        )


def rate(first: int, count: int, action: Callable[[int], None]) -> float:
    started = time.perf_counter()
    for i in range(first, first + count):
        action(i)
    return count / (time.perf_counter() - started)


def measure(engine: Engine, spends: int, repeats: int, warmup: int) -> list[dict]:
    ids = make_accounts(engine)
    hot = ids[0]
    many_lots = make_member_with_lots(engine, LIVE_LOTS)
    results = []
    for shape, pick in (
        ("one hot account", lambda i: hot),
        ("1,000 accounts", lambda i: ids[i % len(ids)]),
        (f"{LIVE_LOTS} live lots", lambda i: many_lots),
    ):

        def bare_update(i: int, pick=pick) -> None:
            with engine.begin() as connection:
                connection.execute(
                    text("UPDATE credit_accounts SET available = available - 1 WHERE user_id = :u"),
                    {"u": pick(i)},
                )

        def ledger_spend(i: int, pick=pick, shape=shape) -> None:
            with session_scope(engine) as session:
                credits.spend_credits(
                    session=session,
                    user_id=pick(i),
                    amount=1,
                    idempotency_key=f"bench:{shape}:{i}",
                    reason="bench",
                )

        rate(0, warmup, bare_update)
        rate(0, warmup, ledger_spend)
        done = warmup
        bare_rates, ledger_rates = [], []
        for _ in range(repeats):
            bare_rates.append(rate(done, spends, bare_update))
            ledger_rates.append(rate(done, spends, ledger_spend))
            done += spends
        counted = 50
        with statements_sent(engine) as sent:
            rate(done, counted, ledger_spend)
        with statements_sent(engine) as bare_sent:
            rate(done, counted, bare_update)
        results.append(
            {
                "case": shape,
                "ledger": statistics.median(ledger_rates),
                "bare": statistics.median(bare_rates),
                "spread": (min(ledger_rates), max(ledger_rates)),
                "statements": len(sent) / counted,
                "bare_statements": len(bare_sent) / counted,
            }
        )
    return results


def run_on(database: str, spends: int, repeats: int, warmup: int) -> tuple[str, list[dict]]:
    if database == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="bench-sqlite-")) / "bench.db"
        url = f"sqlite:///{path}"
        migrate(url)
        engine = build_engine(url)
        try:
            return settings_of(engine), measure(engine, spends, repeats, warmup)
        finally:
            engine.dispose()
    server = PostgresServer()
    server.start()
    try:
        admin = build_engine(server.admin_url)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("CREATE DATABASE bench"))
        admin.dispose()
        migrate(server.url_for("bench"))
        engine = build_engine(server.url_for("bench"))
        try:
            return settings_of(engine), measure(engine, spends, repeats, warmup)
        finally:
            engine.dispose()
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--spends", type=int, default=500, help="spends per round")
    parser.add_argument("--repeats", type=int, default=5, help="rounds per case (median)")
    parser.add_argument("--warmup", type=int, default=100, help="spends before measuring")
    args = parser.parse_args()
    settings, rows = run_on(args.database, args.spends, args.repeats, args.warmup)
    print(f"\n{settings}")
    print(
        f"{args.repeats} rounds of {args.spends} spends of 1 credit each after {args.warmup} "
        "warm-up spends; one transaction per spend, one thread; medians\n"
    )
    print(
        f"{'case':<18} {'ledger spends/s':>16} {'(min-max)':>15} {'bare UPDATE/s':>14} "
        f"{'ratio':>6} {'statements/spend':>17}"
    )
    for row in rows:
        low, high = row["spread"]
        print(
            f"{row['case']:<18} {row['ledger']:>16,.0f} {f'({low:,.0f}-{high:,.0f})':>15} "
            f"{row['bare']:>14,.0f} {row['ledger'] / row['bare']:>6.2f} "
            f"{row['statements']:>10.1f} (bare {row['bare_statements']:.0f})"
        )
    print(
        "\nratio = median ledger spend rate / median bare UPDATE rate, measured in the same run;"
        "\nstatements/spend counts what the driver was sent (before_cursor_execute), BEGIN "
        "included on SQLite;\neach transaction's COMMIT is one more round trip"
        + (" (and psycopg's BEGIN another)" if args.database == "postgresql" else "")
    )


if __name__ == "__main__":
    main()
