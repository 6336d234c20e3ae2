"""Webhook events per second: verified, stored and applied, beside a bare endpoint.

    .venv/bin/python tests/bench/bench_webhooks.py [--events 300] [--repeats 5] [--warmup 50]
                                                   [--database sqlite|postgresql]

The measured endpoint is the app's own POST /api/stripe/webhook (signature check on the raw
body, the event stored once and applied): here `charge.dispute.created` for paid orders whose
credits are in the ledger, which the endpoint applies from the signed payload in the
transaction that stores it: it locks the member, freezes the order's credits, flags the member
and writes the audit log. The run checks afterwards that every order's credits really are
frozen. The baseline is a bare endpoint that only verifies the signature and inserts one row,
measured in the same run on the same database. Requests go in-process through httpx's ASGI
transport, one at a time, and each returns after its background processing has finished. A
warm-up round is not counted; then each endpoint is measured `--repeats` times and the median
is printed, with the spread and the database's settings. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
SECRET = "whsec_bench_" + "0" * 24
PACK_CREDITS = 500


def configure(database: str) -> tuple[object | None, object]:
    """Environment for the app's settings, before any app module is imported."""
    from tests.support.stripe import SECRET_KEY, StripeStandin

    stripe = StripeStandin()
    stripe.start()
    os.environ.update(
        {
            "APP_ENV": "test",
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-000000",
            "DATA_DIR": tempfile.mkdtemp(prefix="bench-data-"),
            "STRIPE_WEBHOOK_SECRET": SECRET,
            "STRIPE_SECRET_KEY": SECRET_KEY,
            "STRIPE_API_BASE": stripe.url,
        }
    )
    server = None
    if database == "postgresql":
        from tests.support.servers import PostgresServer

        server = PostgresServer()
        server.start()
        from sqlalchemy import create_engine, text

        admin = create_engine(server.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("CREATE DATABASE bench"))
        admin.dispose()
        os.environ["DATABASE_URL"] = server.url_for("bench")
    else:
        path = Path(tempfile.mkdtemp(prefix="bench-sqlite-")) / "bench.db"
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    return server, stripe


def database_settings() -> list[str]:
    from sqlalchemy import text

    from dashboard_app.db import session_scope

    with session_scope() as session:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            names = ("server_version", "fsync", "synchronous_commit", "shared_buffers")
            lines = [f"{n}={session.execute(text(f'SHOW {n}')).scalar()}" for n in names]
            if "fsync=off" in lines:
                lines.append(
                    "NOTE: fsync is off (the tests' PostgreSQL): commits never wait for the "
                    "disk, so a durable server is slower than these figures"
                )
            return lines
        pragmas = ("journal_mode", "synchronous", "busy_timeout")
        return [f"{p}={session.execute(text(f'PRAGMA {p}')).scalar()}" for p in pragmas]


def seed(count: int) -> list[tuple[int, str]]:
    """`count` members who each bought a pack: the credits granted through the ledger and a
    paid order with its charge. Returns (member id, charge id)."""
    from sqlalchemy import insert

    from dashboard_app.db import session_scope
    from dashboard_app.domain import credits
    from dashboard_app.models import Order, User
    from dashboard_app.models.base import utcnow

    now = utcnow()
    with session_scope() as session:
        first = session.execute(
            insert(User).returning(User.id),
            [
                {
                    "email": f"bench{i}-{time.time_ns()}@example.com",
                    "role": "member",
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(count)
            ],
        )
        user_ids = sorted(row[0] for row in first)
    bought = []
    with session_scope() as session:
        for user_id in user_ids:
            entry = credits.grant_credits(
                session=session,
                user_id=user_id,
                amount=PACK_CREDITS,
                kind="purchase",
                idempotency_key=f"bench:{user_id}",
            )
            order = Order(
                user_id=user_id,
                kind="pack",
                status="paid",
                product_code="starter",
                stripe_charge_id=f"ch_bench_{user_id}",
                amount_total=900,
                credits=entry.amount,
            )
            session.add(order)
            bought.append((user_id, f"ch_bench_{user_id}"))
    return bought


async def run(events: int, repeats: int, warmup: int) -> dict[str, list[float]]:
    import httpx
    import stripe
    from sqlmodel import col, func, select
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from dashboard_app.db import session_scope
    from dashboard_app.models import CreditAccount, Order, StripeEvent
    from dashboard_app.web.api.app import build_api
    from tests.support.databases import migrate
    from tests.support.stripe import make_event, signed

    migrate(os.environ["DATABASE_URL"])
    gateway_base = os.environ["STRIPE_API_BASE"]

    async def bare(request: Request) -> JSONResponse:
        payload = await request.body()
        stripe.WebhookSignature.verify_header(
            payload.decode(), request.headers["stripe-signature"], SECRET, tolerance=300
        )

        def store() -> None:
            with session_scope() as session:
                session.add(
                    StripeEvent(
                        stripe_event_id=f"bare-{time.perf_counter_ns()}",
                        type="bench",
                        status="ignored",
                    )
                )

        await run_in_threadpool(store)
        return JSONResponse({"received": True})

    def disputes(bought: list[tuple[int, str]]) -> list[tuple[bytes, dict[str, str]]]:
        deliveries = []
        with httpx.Client(base_url=gateway_base) as client:
            for _user_id, charge in bought:
                opened = client.post(
                    "/_standin/disputes",
                    data={"charge": charge, "amount": "900", "currency": "usd"},
                ).json()
                event = make_event("charge.dispute.created", opened)
                deliveries.append(signed(event, secret=SECRET))
        return deliveries

    async def measure(app: Starlette, path: str, deliveries) -> float:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            started = time.perf_counter()
            for body, headers in deliveries:
                response = await client.post(path, content=body, headers=headers)
                assert response.status_code == 200, response.text
            return len(deliveries) / (time.perf_counter() - started)

    bare_app = Starlette(routes=[Route("/bare", bare, methods=["POST"])])
    full_app = build_api()
    rates: dict[str, list[float]] = {"full": [], "bare": []}
    bought_all = seed(warmup + events * repeats)
    warm, measured = bought_all[:warmup], bought_all[warmup:]
    await measure(bare_app, "/bare", disputes(warm))
    await measure(full_app, "/api/stripe/webhook", disputes(warm))
    for round_ in range(repeats):
        batch = measured[round_ * events : (round_ + 1) * events]
        deliveries = disputes(batch)
        rates["bare"].append(await measure(bare_app, "/bare", deliveries))
        rates["full"].append(await measure(full_app, "/api/stripe/webhook", deliveries))

    with session_scope() as session:
        user_ids = [user_id for user_id, _charge in bought_all]
        frozen = session.exec(
            select(func.count())
            .select_from(Order)
            .where(Order.status == "disputed", Order.credits_frozen == PACK_CREDITS)
        ).one()
        accounts = session.exec(
            select(func.count())
            .select_from(CreditAccount)
            .where(col(CreditAccount.user_id).in_(user_ids))
            .where(CreditAccount.frozen == PACK_CREDITS)
        ).one()
    expected = len(bought_all)
    assert frozen == expected, f"only {frozen} of {expected} orders had their credits frozen"
    assert accounts == expected, f"only {accounts} of {expected} accounts show frozen credits"
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300, help="events per measured round")
    parser.add_argument("--repeats", type=int, default=5, help="measured rounds per endpoint")
    parser.add_argument("--warmup", type=int, default=50, help="events in the warm-up round")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    server, stripe_standin = configure(args.database)
    try:
        rates = asyncio.run(run(args.events, args.repeats, args.warmup))
        settings = database_settings()
    finally:
        stripe_standin.stop()  # type: ignore[attr-defined]
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
    full, bare = statistics.median(rates["full"]), statistics.median(rates["bare"])
    print(
        f"database: {args.database}; {args.repeats} rounds of {args.events} events after "
        f"{args.warmup} warm-up events, one at a time; every disputed order's credits frozen"
    )
    print("database settings: " + ", ".join(settings))
    for label, key, median in (
        ("verified, stored and applied", "full", full),
        ("bare: verified, one row", "bare", bare),
    ):
        spread = f"{min(rates[key]):.0f}-{max(rates[key]):.0f}"
        print(f"{label:<32} {median:>8.0f} events/s (median; rounds {spread})")
    print(f"{'ratio of medians':<32} {full / bare:>8.2f}")


if __name__ == "__main__":
    main()
