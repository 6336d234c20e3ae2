"""A page's first load for a member with a long history, beside one for a member with none.

    .venv/bin/python tests/bench/bench_first_load.py [--database postgresql|sqlite]
        [--entries 1000000] [--results 100000] [--orders 10000] [--runs 15] [--warmup 3]

One database holds three members: "long" with `--entries` ledger entries, `--results` finished
jobs with saved results (and 5,000 exports) and `--orders` paid orders (tests/support/
big_member.py writes them in SQL); "short", with a full first page of everything (100 of
each) but a history 10,000 times shorter; and "new", with one grant and nothing else. The app runs
in production mode as `make run` starts it (on PostgreSQL with Redis as Reflex's state
manager), and Chromium signs each member in, then opens each page afresh `--runs` times,
the two members alternating so that drift hits both alike. A load is timed in the browser's
own clock, from the start of navigation to the first frame in which the page shows the member's
balance (the overview's "Available credits"; the shell's header balance on the other pages),
and the median is printed with the ratios long/new and long/short (the second tells what the
history's size costs apart from drawing a full page). Goal (issue 12): the overview within 1.3×.
Not a test: it prints figures and does not run in CI.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("SECRET_KEY", "bench-secret-key-that-is-long-enough-000000")
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="bench-data-"))

from sqlalchemy import text  # noqa: E402

from dashboard_app.db import build_engine  # noqa: E402
from tests.conftest import CHROMIUM_ARGS  # noqa: E402
from tests.factories import DEFAULT_PASSWORD, create_member  # noqa: E402
from tests.support.big_member import History, seed_history  # noqa: E402
from tests.support.databases import SqliteDatabases, migrate  # noqa: E402
from tests.support.servers import AppServer, PostgresServer, RedisServer  # noqa: E402

LONG_BALANCE = "5000"  # what seed_history sets
# A full first page on every page (rows, cards, orders) over a history 10,000 times shorter:
# beside "long", it tells the cost of the history's size from that of drawing a full page.
SHORT = History(entries=100, live_lots=20, generations=100, assets=100, exports=20, orders=100)
NEW_BALANCE = "7"
# Each page, and where it shows the balance.
PAGES = {
    "/": "balance-available",
    "/credits": "header-credits",
    "/jobs": "header-credits",
    "/library": "header-credits",
    "/billing/orders": "header-credits",
}
SHOWN = """([testid, expected]) => {
    const shown = document.querySelector(`[data-testid="${testid}"]`);
    return shown && shown.textContent.trim() === expected ? performance.now() : false;
}"""


def _open(page, path: str, testid: str, balance: str) -> float:  # type: ignore[no-untyped-def]
    """Milliseconds from navigation start to the first frame showing the balance."""
    page.goto(path, wait_until="commit")
    try:
        shown = page.wait_for_function(SHOWN, arg=[testid, balance], polling="raf", timeout=60_000)
    except Exception:
        found = page.locator(f'[data-testid="{testid}"]')
        seen = found.text_content() if found.count() else "(not on the page)"
        raise RuntimeError(f"{page.url}: {testid} shows {seen!r}, not {balance!r}") from None
    return float(shown.json_value())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    stopping = []
    root = Path(tempfile.mkdtemp(prefix="bench-first-load-"))
    env = {
        "APP_ENV": "test",
        "DATA_DIR": str(root / "data"),
        "SECRET_KEY": secrets.token_urlsafe(48),
    }
    try:
        if args.database == "postgresql":
            postgres, redis = PostgresServer(), RedisServer()
            postgres.start()
            stopping.append(postgres.stop)
            redis.start()
            stopping.append(redis.stop)
            database_url = postgres.url_for("postgres")
            env["REDIS_URL"] = redis.url
        else:
            database_url = SqliteDatabases(root).empty()
        migrate(database_url)
        env["DATABASE_URL"] = database_url
        engine = build_engine(database_url)
        long_member = create_member(engine, email="long@example.com", credits_granted=10)
        short_member = create_member(engine, email="short@example.com", credits_granted=10)
        create_member(engine, email="new@example.com", credits_granted=7)
        assert long_member.id is not None and short_member.id is not None
        started = time.perf_counter()
        history = History(
            entries=args.entries,
            generations=args.results,
            assets=args.results,
            orders=args.orders,
        )
        seed_history(engine, long_member.id, history)
        seed_history(engine, short_member.id, SHORT)
        print(
            f"seeded {args.entries:,} entries, {args.results:,} results, {args.orders:,} "
            f"orders in {time.perf_counter() - started:.0f} s"
        )
        _print_settings(engine)

        server = AppServer(env=env, log_path=root / "app.log")
        server.start()
        stopping.append(server.stop)
        members = {
            "long": ("long@example.com", LONG_BALANCE),
            "short": ("short@example.com", LONG_BALANCE),
            "new": ("new@example.com", NEW_BALANCE),
        }
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                args=CHROMIUM_ARGS,
            )
            tabs = {}
            for name, (email, _) in members.items():
                context = browser.new_context(base_url=server.base_url)
                page = context.new_page()
                page.goto("/sign-in")
                page.fill("#email", email)
                page.fill("#password", DEFAULT_PASSWORD)
                page.get_by_role("button", name="Sign in", exact=True).click()
                page.wait_for_url(lambda url: "/sign-in" not in url, timeout=60_000)
                tabs[name] = page
            times: dict[tuple[str, str], list[float]] = {}
            for run in range(args.warmup + args.runs):
                for path, testid in PAGES.items():
                    for name, (_, balance) in members.items():
                        elapsed = _open(tabs[name], path, testid, balance)
                        if run >= args.warmup:
                            times.setdefault((path, name), []).append(elapsed)
            browser.close()
        _report(times, args.runs)
    finally:
        for stop in reversed(stopping):
            stop()


def _print_settings(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            names = ("server_version", "shared_buffers", "work_mem", "fsync", "synchronous_commit")
            shown = {n: conn.execute(text(f"SHOW {n}")).scalar() for n in names}
        else:
            shown = {
                "sqlite_version": conn.execute(text("SELECT sqlite_version()")).scalar(),
                "journal_mode": conn.execute(text("PRAGMA journal_mode")).scalar(),
            }
    print("database: " + ", ".join(f"{k}={v}" for k, v in shown.items()))


def _report(times: dict[tuple[str, str], list[float]], runs: int) -> None:
    print(f"\nnavigation start -> balance shown, median of {runs} loads (ms)")
    print(f"{'page':<18}{'new':>8}{'short':>8}{'long':>8}{'long/new':>10}{'long/short':>12}")
    for path in PAGES:
        new, short, long = (statistics.median(times[(path, m)]) for m in ("new", "short", "long"))
        print(
            f"{path:<18}{new:>8.0f}{short:>8.0f}{long:>8.0f}{long / new:>10.2f}"
            f"{long / short:>12.2f}"
        )
    print(
        "new: no history; short: a full first page of everything, 100 entries; long: the "
        "history above.\ngoal: the overview (/) of long within 1.30x of new"
    )


if __name__ == "__main__":
    main()
