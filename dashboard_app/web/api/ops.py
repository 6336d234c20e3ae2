"""Routes for operators and their machines: /healthz (the process answers, no I/O), /readyz
(the database, Redis when configured, migrations at Alembic head) and /metrics (Prometheus)."""

from __future__ import annotations

import hmac
from functools import lru_cache

import redis
import structlog
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from dashboard_app.db import get_engine
from dashboard_app.observability.figures import DatabaseFigures
from dashboard_app.observability.metrics import render_metrics
from dashboard_app.settings import PROJECT_ROOT, get_settings

log = structlog.get_logger(__name__)
READY_TIMEOUT_SECONDS = 3


async def healthz(_request: Request) -> Response:
    """Alive: this process answers HTTP. No I/O, so a slow database never restarts it."""
    return JSONResponse({"status": "ok"})


@lru_cache(maxsize=1)
def alembic_heads() -> frozenset[str]:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def _database_and_migrations() -> tuple[str, str]:
    with get_engine().connect() as connection:
        connection.execute(text("SELECT 1"))
        current = frozenset(MigrationContext.configure(connection).get_current_heads())
    if current == alembic_heads():
        return "ok", "ok"
    log.error(
        "readiness: migrations are not at head",
        database=sorted(current),
        code=sorted(alembic_heads()),
    )
    return "ok", "behind"


def _redis(url: str) -> str:
    client = redis.Redis.from_url(
        url, socket_timeout=READY_TIMEOUT_SECONDS, socket_connect_timeout=READY_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


async def readyz(_request: Request) -> Response:
    """Ready for traffic: 200, or 503 naming what failed. Driver errors name hosts, ports and
    users: they go to the log, never to the caller."""
    checks: dict[str, str] = {}
    try:
        checks["database"], checks["migrations"] = await run_in_threadpool(_database_and_migrations)
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        log.error("readiness: database unavailable", error=str(error))
        checks["database"], checks["migrations"] = "unavailable", "unknown"
    redis_url = get_settings().redis_url
    if redis_url:
        try:
            checks["redis"] = await run_in_threadpool(_redis, redis_url)
        except Exception as error:  # noqa: BLE001
            log.error("readiness: redis unavailable", error=str(error))
            checks["redis"] = "unavailable"
    else:
        checks["redis"] = "not configured"
    failed = [name for name, value in checks.items() if value not in ("ok", "not configured")]
    if failed:
        return JSONResponse(
            {"status": "error", "failed": failed, "checks": checks}, status_code=503
        )
    return JSONResponse({"status": "ok", "checks": checks})


def metrics_refusal(request: Request) -> Response | None:
    settings = get_settings()
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if not token:
        return PlainTextResponse("Not Found", status_code=404) if settings.is_production else None
    sent = request.headers.get("authorization", "")
    if hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return None
    return PlainTextResponse(
        "Unauthorized", status_code=401, headers={"WWW-Authenticate": "Bearer"}
    )


async def metrics(request: Request) -> Response:
    """Prometheus's scrape. With METRICS_TOKEN set, only with `Authorization: Bearer <token>`;
    without it, open outside production and absent in production (the figures are for the
    operator: payment failures, queue depth, ledger health)."""
    if (refused := metrics_refusal(request)) is not None:
        return refused
    body, content_type = await run_in_threadpool(render_metrics, DatabaseFigures())
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})
