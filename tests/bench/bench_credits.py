"""Spends per second through the ledger service, beside the bare single-row UPDATE it rests on.

    .venv/bin/python tests/bench/bench_credits.py [--spends 2000] [--databases sqlite,postgresql]

Each figure is one transaction per spend, committed, on one thread: on one hot account, and
spread round-robin over 1,000 accounts. The baseline is `UPDATE credit_accounts SET available =
available - 1 WHERE user_id = ?` in its own transaction, measured in the same run on the same
database. Not a test: it prints figures and does not run in CI.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
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

ACCOUNTS = 1000
STARTING_BALANCE = 1_000_000


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


def rate(count: int, action: Callable[[int], None]) -> float:
    started = time.perf_counter()
    for i in range(count):
        action(i)
    return count / (time.perf_counter() - started)


def measure(engine: Engine, spends: int, label: str) -> list[tuple[str, float, float]]:
    ids = make_accounts(engine)
    hot = ids[0]
    results = []
    for shape, pick in (
        ("one hot account", lambda i: hot),
        ("1,000 accounts", lambda i: ids[i % len(ids)]),
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

        bare = rate(spends, bare_update)
        ledger = rate(spends, ledger_spend)
        results.append((f"{label}, {shape}", ledger, bare))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spends", type=int, default=2000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    rows = []
    for database in args.databases.split(","):
        if database == "sqlite":
            path = Path(tempfile.mkdtemp(prefix="bench-sqlite-")) / "bench.db"
            url = f"sqlite:///{path}"
            migrate(url)
            engine = build_engine(url)
            rows += measure(engine, args.spends, "SQLite")
            engine.dispose()
        elif database == "postgresql":
            server = PostgresServer()
            server.start()
            try:
                admin = build_engine(server.admin_url)
                with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                    c.execute(text("CREATE DATABASE bench"))
                admin.dispose()
                migrate(server.url_for("bench"))
                engine = build_engine(server.url_for("bench"))
                rows += measure(engine, args.spends, "PostgreSQL")
                engine.dispose()
            finally:
                server.stop()
        else:
            parser.error(f"unknown database {database!r}")
    print(f"\n{args.spends} spends of 1 credit each, one transaction per spend, one thread\n")
    print(f"{'case':<34} {'ledger spends/s':>16} {'bare UPDATE/s':>15} {'ratio':>7}")
    for case, ledger, bare in rows:
        print(f"{case:<34} {ledger:>16,.0f} {bare:>15,.0f} {ledger / bare:>7.2f}")
    print("\nratio = ledger spend rate / bare UPDATE rate, measured in the same run")


if __name__ == "__main__":
    main()
