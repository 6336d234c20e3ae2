"""Pushed live updates: commit to screen, p50 and p99, in headless Chromium.

    .venv/bin/python tests/bench/bench_live.py [--database postgresql|sqlite] [--changes 60]
    .venv/bin/python tests/bench/bench_live.py --database-url URL --url http://host:port \
        [--url http://host:other-port]

Without --url it starts its own database (PostgreSQL with Redis, or SQLite) and one backend
process (the app in production mode, as the browser tests run it). With --url (one or more: the
backend processes of a running deployment, e.g. `make run-scaled`, with --database-url its
database) it uses those: tab i opens on URL i mod n, so with two URLs the member's two tabs sit
on two backend processes.

One member, `--tabs` open tabs (each on the overview, signed in). Each change is a ledger grant
committed in this process through the domain services; the time is taken from the end of the
commit until every tab's header shows the new balance (a MutationObserver in each page stamps the
moment with the same clock). Changes are `--pause` seconds apart (the app nudges a member's tabs
at most every 0.25 s: faster bursts are coalesced, which is the point, and would measure the
coalescing). The first `--warmup` changes are not counted. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SECRET_KEY", "bench-secret-key-that-is-long-enough-000000")
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="bench-data-"))

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from dashboard_app.db import build_engine, session_scope  # noqa: E402
from dashboard_app.domain import credits  # noqa: E402
from tests.conftest import CHROMIUM_ARGS  # noqa: E402
from tests.e2e.helpers import sign_in  # noqa: E402
from tests.factories import DEFAULT_PASSWORD, create_member  # noqa: E402
from tests.support.databases import PostgresDatabases, SqliteDatabases  # noqa: E402
from tests.support.servers import AppServer, PostgresServer, RedisServer  # noqa: E402

# Stamps (Date.now(), the bench's clock too) the moment the header shows window.liveTarget.
WATCH_HEADER = """() => {
    const figure = () => document.querySelector('[data-testid="header-credits"]');
    window.liveSeenAt = null;
    new MutationObserver(() => {
        const shown = figure();
        if (window.liveSeenAt === null && shown && shown.textContent === window.liveTarget) {
            window.liveSeenAt = Date.now();
        }
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


class OwnStack:
    """A database and one backend process of our own, stopped at the end."""

    def __init__(self, database: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="bench-live-"))
        self.postgres = self.redis = None
        env = {
            "APP_ENV": "test",
            "DATA_DIR": str(self.root / "data"),
            "SECRET_KEY": secrets.token_urlsafe(48),
            "SIGN_IN_DELAY_BASE_SECONDS": "0.05",
            "GENERATOR": "tests.support.generators:TopicGatedGenerator",
            "TEST_GATE_DIR": str(self.root),
        }
        if database == "postgresql":
            self.postgres, self.redis = PostgresServer(), RedisServer()
            self.postgres.start()
            self.redis.start()
            self.database_url = PostgresDatabases(self.postgres).migrated()
            env["REDIS_URL"] = self.redis.url
        else:
            self.database_url = SqliteDatabases(self.root).migrated()
        env["DATABASE_URL"] = self.database_url
        self.app = AppServer(env=env, log_path=self.root / "app.log")

    def start(self) -> list[str]:
        self.app.start()
        return [self.app.base_url]

    def stop(self) -> None:
        self.app.stop()
        for server in (self.redis, self.postgres):
            if server is not None:
                server.stop()


def open_tabs(  # type: ignore[no-untyped-def]
    browser, urls: list[str], tabs: int, email: str, pins: list[str] | None = None
) -> list[Page]:
    """The member's tabs, tab i on URL i mod n; with `pins` (backend names behind the scaled
    topology's proxy), each tab in a browser context of its own whose `dash_backend` cookie
    keeps it on backend i mod n."""
    context = browser.new_context()
    pages = []
    for index in range(tabs):
        base = urls[index % len(urls)]
        if pins:
            context = browser.new_context()
            context.add_cookies(
                [{"name": "dash_backend", "value": pins[index % len(pins)], "url": base}]
            )
        page = context.new_page()
        sign_in(page, email, DEFAULT_PASSWORD, start=f"{base}/sign-in")
        expect(page.get_by_test_id("balance-available")).to_be_visible(timeout=30_000)
        page.evaluate(WATCH_HEADER)
        pages.append(page)
    return pages


def measure(
    engine, member_id: int, pages: list[Page], *, changes: int, warmup: int, pause: float
) -> list[float]:  # type: ignore[no-untyped-def]
    """Commit-to-screen milliseconds, one per change and tab (the slowest tab is the change's)."""
    balance = int(pages[0].get_by_test_id("header-credits").inner_text())
    figures: list[float] = []
    for number in range(warmup + changes):
        balance += 1
        for page in pages:
            page.evaluate(f"() => {{ window.liveTarget = '{balance}'; window.liveSeenAt = null; }}")
        with session_scope(engine) as session:
            credits.grant_credits(
                session=session,
                user_id=member_id,
                amount=1,
                idempotency_key=f"bench-live:{uuid.uuid4().hex}",
                reason="Bench",
            )
        committed_ms = time.time() * 1000
        for page in pages:
            page.wait_for_function("() => window.liveSeenAt !== null", timeout=30_000)
        if number >= warmup:
            figures.extend(page.evaluate("window.liveSeenAt") - committed_ms for page in pages)
        time.sleep(pause)  # pacing between changes, not a wait for a condition
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--url", action="append", default=[], help="a backend process's URL")
    parser.add_argument("--database-url", help="the database of the app at --url")
    parser.add_argument(
        "--pin", action="append", default=[], help="a backend's name behind make run-scaled's proxy"
    )
    parser.add_argument("--tabs", type=int, default=2)
    parser.add_argument("--changes", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--pause", type=float, default=0.4)
    args = parser.parse_args()
    if args.url and not args.database_url:
        parser.error("--url needs --database-url (the grants are committed there)")

    stack = None if args.url else OwnStack(args.database)
    try:
        urls = args.url or stack.start()  # type: ignore[union-attr]
        database_url = args.database_url or stack.database_url  # type: ignore[union-attr]
        engine = build_engine(database_url)
        member = create_member(engine, credits_granted=1)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                args=CHROMIUM_ARGS,
            )
            pages = open_tabs(browser, urls, args.tabs, member.email, args.pin)
            figures = measure(
                engine,
                member.id,
                pages,
                changes=args.changes,
                warmup=args.warmup,
                pause=args.pause,
            )
            browser.close()
        engine.dispose()
    finally:
        if stack is not None:
            stack.stop()

    print(f"database: {engine.dialect.name}; backend processes: {len(urls)} ({', '.join(urls)})")
    print(f"tabs: {args.tabs} of one member; changes: {args.changes} (+{args.warmup} warm-up)")
    print(f"{'commit to screen, ms':<24}{'p50':>8}{'p99':>8}{'max':>8}")
    print(
        f"{'ledger grant':<24}{percentile(figures, 0.5):>8.0f}"
        f"{percentile(figures, 0.99):>8.0f}{max(figures):>8.0f}"
    )


if __name__ == "__main__":
    main()
