"""K simulated members against the scaled topology (dashboard_app/topology.py) on loopback.

    .venv/bin/python tests/bench/load_members.py [--members 50,200,1000] [--backends 1,2]
                                                 [--seconds 20]

PostgreSQL, Redis and HAProxy are started here; each backend is one process. Each member signs
in over HTTP (POST /auth/sign-in), opens the event websocket with its session cookie and a tab
token of its own, and then does what a tab does (Reflex's socket.io protocol, as
tests/support/tab.py speaks it): loads its first page (`hydrate_and_load`), waits as an open
page does (pages no longer poll: changes are pushed), and every 5 seconds moves to the next
page (`on_load_internal`: overview, credit history, billing, library, jobs), member i starting
on page i mod 5. Members arrive evenly over one navigation period (5 s), as independent members
would, and run for --seconds. (They used to arrive within 2 s, all on the overview, so that
every navigation came in a wave: 200 members made 100 navigations a second of the same page
for 2 s, then none for 3 s.) The backends run as in production (APP_ENV=production: JSON logs
at INFO, no test-only statement counter).

Printed per run:
- round trip: from sending a navigation (`on_load_internal`, which runs the page's `load`
  handler) to the delta that marks the page hydrated (the member sees the page's data), p50
  and p99 in ms; the first load of a tab (`hydrate_and_load`, the whole state tree) apart;
- errors: failed sign-ins or connections, navigations without an answer within 10 s,
  disconnections, and errors the backends logged meanwhile (a handler that raised);
- backend memory: the growth of the backends' resident memory (RSS) while the members were
  connected, divided by the members;
- state per member: the bytes Reflex keeps in Redis for one tab (its serialized substates), on
  each page, for the first few members.

Goals (issue 12): p50 under 25 ms and p99 under 100 ms at 200 members per process; state under
64 KB per member; no errors. Bounded: at most 1,000 members and 120 s a run; loopback only.
Not a test: it prints figures and does not run in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="load-data-"))

import httpx  # noqa: E402
import reflex as rx  # noqa: E402
import socketio  # noqa: E402
from redis.asyncio import Redis  # noqa: E402
from reflex_base import constants  # noqa: E402

from dashboard_app.db import build_engine, session_scope  # noqa: E402
from dashboard_app.domain import accounts, credits  # noqa: E402
from dashboard_app.models import User  # noqa: E402
from dashboard_app.topology import Topology, free_port  # noqa: E402
from dashboard_app.web.pages.billing import BillingState  # noqa: E402
from dashboard_app.web.pages.history import HistoryState  # noqa: E402
from dashboard_app.web.pages.jobs import JobsState  # noqa: E402
from dashboard_app.web.pages.library import LibraryState  # noqa: E402
from dashboard_app.web.pages.overview import OverviewState  # noqa: E402
from tests.factories import DEFAULT_PASSWORD, create_member  # noqa: E402
from tests.support.databases import PostgresDatabases  # noqa: E402
from tests.support.servers import PostgresServer, RedisServer  # noqa: E402
from tests.support.tab import router_data  # noqa: E402

MAX_MEMBERS = 1_000
RUN_LIMIT_SECONDS = 120
ANSWER_SECONDS = 10
NAVIGATE_EVERY = 5  # seconds
STATE_SAMPLES = 5
ROOT_STATE = rx.State.get_full_name()
LOAD = f"{ROOT_STATE}.hydrate_and_load"
NAVIGATE = f"{ROOT_STATE.rsplit('.', 1)[0]}.{constants.CompileVars.ON_LOAD_INTERNAL}"
HYDRATED = "is_hydrated_rx_state_"
PAGES = [
    ("/", OverviewState),
    ("/credits", HistoryState),
    ("/billing", BillingState),
    ("/library", LibraryState),
    ("/jobs", JobsState),
]


@dataclass
class Run:
    round_trips: list[float] = field(default_factory=list)  # navigations
    first_loads: list[float] = field(default_factory=list)
    page_trips: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    state_bytes: dict[str, list[int]] = field(default_factory=dict)
    connected: int = 0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants (Granian forks its worker)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(status.split("VmRSS:")[1].split()[0]) * 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, IndexError, ProcessLookupError):
            continue
    return total


def log_sizes(topology: Topology) -> dict[str, int]:
    return {name: topology.backend(name).log.stat().st_size for name in topology.backend_names()}


def backend_errors(topology: Topology, since: dict[str, int]) -> int:
    """Errors the backends logged since `since` (a handler that raised still marks the page
    hydrated, so the round trips alone would not show it)."""
    found = 0
    for name, offset in since.items():
        with topology.backend(name).log.open("rb") as log:
            log.seek(offset)
            for line in log:
                found += b'"level": "error"' in line or b'"level":"error"' in line
    return found


def backends_rss(topology: Topology) -> int:
    return sum(rss_bytes(topology.backend(name).pid) for name in topology.backend_names())


async def state_size(redis: Redis, token: str) -> int:
    total = 0
    async for key in redis.scan_iter(match=f"{token}_*", count=500):
        total += await redis.strlen(key)
    return total


async def sign_in(http: httpx.AsyncClient, email: str) -> str | None:
    response = await http.post("/auth/sign-in", data={"email": email, "password": DEFAULT_PASSWORD})
    if "dash_session" not in response.cookies:
        print(f"sign-in refused: {response.status_code} {response.headers.get('location')}")
        return None
    return f"dash_session={response.cookies['dash_session']}"


class Tab:
    """One member's tab: a socket that waits for the page to be hydrated after each load."""

    def __init__(self, base_url: str, cookie: str) -> None:
        self.base_url, self.cookie = base_url, cookie
        self.token = str(uuid.uuid4())
        self.client = socketio.AsyncClient(reconnection=False)
        self.hydrated = asyncio.Event()
        self.lost = False
        self.client.on("event", self._on_event, namespace="/_event")
        self.client.on("disconnect", self._on_disconnect, namespace="/_event")

    async def _on_event(self, data) -> None:  # type: ignore[no-untyped-def]
        update = json.loads(data) if isinstance(data, str) else data
        if (update.get("delta") or {}).get(ROOT_STATE, {}).get(HYDRATED) is True:
            self.hydrated.set()

    async def _on_disconnect(self, *_) -> None:  # type: ignore[no-untyped-def]
        self.lost = True

    async def connect(self) -> None:
        await self.client.connect(
            f"{self.base_url}?token={self.token}",
            socketio_path="/_event",
            namespaces=["/_event"],
            transports=["websocket"],
            headers={"Cookie": self.cookie},
            wait_timeout=ANSWER_SECONDS,
        )

    async def send(self, name: str, path: str, payload: dict | None = None) -> None:
        await self.client.emit(
            "event",
            {"name": name, "payload": payload or {}, "router_data": router_data(path)},
            namespace="/_event",
        )

    async def open_page(self, name: str, path: str) -> float:
        """Seconds from sending `name` to the page's data in."""
        self.hydrated.clear()
        started = time.perf_counter()
        await self.send(name, path)
        await asyncio.wait_for(self.hydrated.wait(), timeout=ANSWER_SECONDS)
        return time.perf_counter() - started


async def member(
    index: int, members: int, base_url: str, cookie: str, run: Run, redis: Redis, stop_at: float
) -> None:
    await asyncio.sleep(NAVIGATE_EVERY * index / members)  # arrivals spread over a period
    tab = Tab(base_url, cookie)
    try:
        await tab.connect()
    except Exception:
        run.error("connect")
        await tab.client.disconnect()
        return
    run.connected += 1
    try:
        page = index % len(PAGES)  # members are spread over the pages, as they would be
        run.first_loads.append(await tab.open_page(LOAD, PAGES[page][0]))
        second = 0
        while time.monotonic() < stop_at and not tab.lost:
            if index < STATE_SAMPLES:
                size = await state_size(redis, tab.token)
                run.state_bytes.setdefault(PAGES[page][0], []).append(size)
            await asyncio.sleep(1)
            second += 1
            if second % NAVIGATE_EVERY == 0:
                page = (page + 1) % len(PAGES)
                trip = await tab.open_page(NAVIGATE, PAGES[page][0])
                run.round_trips.append(trip)
                run.page_trips.setdefault(PAGES[page][0], []).append(trip)
        if tab.lost:
            run.error("disconnected")
    except TimeoutError:
        run.error("no answer in 10 s")
    except Exception as error:  # counted, and the run goes on
        run.error(type(error).__name__)
    finally:
        if tab.client.connected:
            await tab.client.disconnect()


async def sign_in_all(base_url: str, emails: list[str]) -> list[str | None]:
    """Session cookies, signed in over HTTP through the proxy (once: sessions live in the
    database, so every run reuses them)."""
    limits = httpx.Limits(max_connections=4)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as http:
        gate = asyncio.Semaphore(4)

        async def one(email: str) -> str | None:
            async with gate:
                return await sign_in(http, email)

        return list(await asyncio.gather(*(one(email) for email in emails)))


async def run_members(
    topology: Topology, cookies: list[str | None], redis_url: str, seconds: float
) -> tuple[Run, int]:
    run = Run()
    for _ in range(cookies.count(None)):
        run.error("sign-in")
    before = backends_rss(topology)
    logged = log_sizes(topology)
    redis = Redis.from_url(redis_url)
    stop_at = time.monotonic() + NAVIGATE_EVERY + seconds
    peak = 0

    async def sample_memory() -> None:
        nonlocal peak
        while time.monotonic() < stop_at:
            peak = max(peak, backends_rss(topology))
            await asyncio.sleep(1)

    try:
        await asyncio.wait_for(
            asyncio.gather(
                sample_memory(),
                *(
                    member(i, len(cookies), topology.base_url, cookie, run, redis, stop_at)
                    for i, cookie in enumerate(cookies)
                    if cookie is not None
                ),
            ),
            timeout=RUN_LIMIT_SECONDS,
        )
    except TimeoutError:
        run.error("run over the time limit")
    finally:
        await redis.aclose()
    for _ in range(backend_errors(topology, logged)):
        run.error("backend error logged")
    return run, max(peak - before, 0)


def create_members(engine, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    """`count` members with 100 credits and the same password, hashed once (hashing a
    thousand passwords would take minutes)."""
    first = create_member(engine, credits_granted=100)
    emails = [first.email]
    with session_scope(engine) as session:
        password_hash = session.get(User, first.id).password_hash
    for _ in range(count - 1):
        with session_scope(engine) as session:
            user = accounts.create_user(
                session=session,
                email=f"load-{uuid.uuid4().hex[:12]}@example.com",
                password=None,
                display_name="Load Member",
                role="member",
                email_verified=True,
            )
            user.password_hash = password_hash
            credits.grant_credits(
                session=session,
                user_id=user.id,
                amount=100,
                idempotency_key=f"load-grant:{user.id}",
                reason="Load test grant",
            )
            emails.append(user.email)
    return emails


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", default="50,200,1000")
    parser.add_argument("--backends", default="1,2")
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    sizes = [int(size) for size in args.members.split(",")]
    backend_counts = [int(count) for count in args.backends.split(",")]
    if max(sizes) > MAX_MEMBERS or args.seconds > RUN_LIMIT_SECONDS - 20:
        sys.exit(f"at most {MAX_MEMBERS} members and {RUN_LIMIT_SECONDS - 20} s a run")

    postgres, redis = PostgresServer(), RedisServer()
    postgres.start()
    redis.start()
    root = Path(tempfile.mkdtemp(prefix="load-members-"))
    try:
        database_url = PostgresDatabases(postgres).migrated()
        engine = build_engine(database_url)
        started = time.monotonic()
        emails = create_members(engine, max(sizes))
        print(f"{len(emails)} members created in {time.monotonic() - started:.0f} s")
        env = {
            # As deployed: no test-only statement counter, JSON logs at INFO. No mail is
            # sent; production refuses to start without a mail server named.
            "APP_ENV": "production",
            "SMTP_HOST": "127.0.0.1",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            "DATA_DIR": str(root / "data"),
            "SECRET_KEY": secrets.token_urlsafe(48),
        }
        port = free_port()  # one address, so one frontend build serves every run
        print(
            f"cpus {os.cpu_count()} (shared with other work), PostgreSQL {postgres.port}, "
            f"{args.seconds:.0f} s a run, a navigation every 5 s"
        )
        header = (
            f"{'backends':>8} {'members':>7} {'connected':>9} {'round trips':>11} "
            f"{'p50 ms':>7} {'p99 ms':>7} {'load p50':>8} {'load p99':>8} "
            f"{'RSS/member':>10}  errors"
        )
        rows = []
        states: dict[str, list[int]] = {}
        cookies: list[str | None] = []
        for count in backend_counts:
            topology = Topology(
                env=env,
                run_dir=root / f"run-{count}",
                frontend_dir=root / "web",
                public_port=port,
                backends=count,
                workers=0,
            )
            topology.start(build=count == backend_counts[0])
            try:
                for size in sizes:
                    if not cookies:
                        started = time.monotonic()
                        cookies = asyncio.run(sign_in_all(topology.base_url, emails))
                        print(f"signed in over HTTP in {time.monotonic() - started:.0f} s")
                    run, grown = asyncio.run(
                        run_members(topology, cookies[:size], redis.url, args.seconds)
                    )
                    trips = [seconds * 1000 for seconds in run.round_trips]
                    loads = [seconds * 1000 for seconds in run.first_loads]
                    rows.append(
                        f"{count:>8} {size:>7} {run.connected:>9} {len(trips):>11} "
                        f"{percentile(trips, 0.5):>7.1f} {percentile(trips, 0.99):>7.1f} "
                        f"{percentile(loads, 0.5):>8.0f} {percentile(loads, 0.99):>8.0f} "
                        f"{grown / max(run.connected, 1) / 1024:>8.0f}KB  "
                        f"{run.errors or 'none'}"
                    )
                    print(rows[-1], flush=True)
                    print(
                        "    navigation p50 by page: "
                        + ", ".join(
                            f"{page} {statistics.median(seen) * 1000:.0f} ms"
                            for page, seen in run.page_trips.items()
                        )
                    )
                    for page, sizes_seen in run.state_bytes.items():
                        states.setdefault(page, []).extend(sizes_seen)
            finally:
                topology.stop()
        print("\n" + header)
        print("\n".join(rows))
        print("\nstate kept in Redis per member (one tab), by page:")
        for page, seen in states.items():
            print(
                f"  {page:<10} median {statistics.median(seen) / 1024:6.1f} KB, max "
                f"{max(seen) / 1024:6.1f} KB"
            )
        engine.dispose()
    finally:
        redis.stop()
        postgres.stop()


if __name__ == "__main__":
    main()
