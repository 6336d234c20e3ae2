"""Webhook events per second: verified, stored and applied, beside a bare endpoint.

    .venv/bin/python tests/bench/bench_webhooks.py [--events 1000] [--database sqlite|postgresql]

The measured endpoint is the app's own POST /api/stripe/webhook (signature check on the raw
body, the event stored once, then processed: here `charge.dispute.created` for 1,000 paid orders,
which locks the member, freezes the order's credits, flags the member and writes the audit log;
these handlers need no call to Stripe, so the figure is the app's own cost). The baseline is a
bare endpoint that only verifies the signature and inserts one row, measured in the same run on
the same database. Requests go in-process through httpx's ASGI transport, one at a time, and
each returns after its background processing has finished. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
SECRET = "whsec_bench_" + "0" * 24


def configure(database: str) -> object | None:
    """Environment for the app's settings, before any app module is imported."""
    os.environ.update(
        {
            "APP_ENV": "test",
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-000000",
            "DATA_DIR": tempfile.mkdtemp(prefix="bench-data-"),
            "STRIPE_WEBHOOK_SECRET": SECRET,
            "STRIPE_SECRET_KEY": "sk_test_bench",
            "STRIPE_API_BASE": "http://127.0.0.1:9",  # never called by these handlers
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
    return server


async def run(events: int) -> tuple[float, float]:
    import httpx
    import stripe
    from sqlalchemy import func, insert
    from sqlmodel import select
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from dashboard_app.db import session_scope
    from dashboard_app.models import Order, StripeEvent, User
    from dashboard_app.models.base import utcnow
    from dashboard_app.web.api.app import build_api
    from tests.support.databases import migrate
    from tests.support.stripe import make_event, signed

    migrate(os.environ["DATABASE_URL"])
    now = utcnow()
    with session_scope() as session:
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
                for i in range(events)
            ],
        )
        session.execute(
            insert(Order),
            [
                {
                    "user_id": i + 1,
                    "kind": "pack",
                    "status": "paid",
                    "product_code": "starter",
                    "stripe_charge_id": f"ch_bench_{i}",
                    "amount_total": 900,
                    "amount_refunded": 0,
                    "currency": "usd",
                    "credits": 0,
                    "credits_clawed_back": 0,
                    "credits_frozen": 0,
                    "items": [],
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(events)
            ],
        )

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

    def dispute(i: int, prefix: str) -> tuple[bytes, dict[str, str]]:
        obj = {
            "id": f"dp_{prefix}_{i}",
            "object": "dispute",
            "charge": f"ch_bench_{i}",
            "status": "needs_response",
            "reason": "fraudulent",
        }
        return signed(make_event("charge.dispute.created", obj), secret=SECRET)

    async def measure(app: Starlette, path: str, prefix: str) -> float:
        deliveries = [dispute(i, prefix) for i in range(events)]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            started = time.perf_counter()
            for body, headers in deliveries:
                response = await client.post(path, content=body, headers=headers)
                assert response.status_code == 200, response.text
            return events / (time.perf_counter() - started)

    baseline = await measure(
        Starlette(routes=[Route("/bare", bare, methods=["POST"])]), "/bare", "b"
    )
    full = await measure(build_api(), "/api/stripe/webhook", "f")
    with session_scope() as session:
        applied = session.exec(
            select(func.count()).select_from(Order).where(Order.status == "disputed")
        ).one()
    assert applied == events, f"only {applied} of {events} events were applied"
    return full, baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    server = configure(args.database)
    try:
        full, baseline = asyncio.run(run(args.events))
    finally:
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
    print(f"database: {args.database}, {args.events} events, one at a time")
    print(f"{'verified, stored and applied':<32} {full:>8.0f} events/s")
    print(f"{'bare: verified, one row':<32} {baseline:>8.0f} events/s")
    print(f"{'ratio':<32} {full / baseline:>8.2f}")


if __name__ == "__main__":
    main()
