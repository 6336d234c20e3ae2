"""The REST API v1 as one FastAPI app, mounted at /api/v1 by web/api/app.py:build_api. Its
OpenAPI document is /api/v1/openapi.json and the interactive docs /api/v1/docs."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashboard_app.web.api.v1 import (
    account,
    credits,
    generations,
    holdings,
    library,
    orders,
    problems,
)

TITLE = "Dashboard API"
VERSION = "1.0.0"
DESCRIPTION = """\
The member dashboard's REST API: your account, credits, usage, generations, library, orders
and wallet holdings.

**Authentication.** Send `Authorization: Bearer <key>` with a personal API key made on your
profile page (it starts `dk_` and is shown once). A *read* key may only read; a *read-write*
key may also create, change and delete. Where the server trusts an identity service, its JWT
may be sent instead (`Authorization: Bearer <jwt>`): it acts for the member linked to its
subject, and may write when its `scope` claim includes `write`. The API never uses the
browser's sign-in cookie.

**Errors** as listed per operation: `402` not enough credits, `409` not possible now (or an
`Idempotency-Key` used before for another request), `429` too many calls or a plan limit.

**Errors** are RFC 9457 problem details (`application/problem+json`): `type`, `title`,
`status`, `detail`, `instance`, and `errors` (one per field) when fields were wrong.

**Paging.** Lists answer `{items, next_cursor}`, newest first; pass `next_cursor` back as
`cursor` for the next page (null on the last). `limit` is 1 to 100 (default 20).

**Limits.** Calls are counted per key per minute, writes on their own with a lower limit;
past a limit the answer is `429` with `Retry-After` (seconds).
"""

ROUTERS = (
    account.router,
    credits.router,
    generations.router,
    holdings.router,
    library.router,
    orders.router,
)


def _problems_as_problem_json(document: dict[str, Any]) -> None:
    """FastAPI documents a response model as application/json; error answers are
    application/problem+json, so the document says that."""
    for path in document.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if str(status)[0] in "45" and "application/json" in content:
                    content[problems.PROBLEM_MEDIA_TYPE] = content.pop("application/json")


class NoStore:
    """Every answer carries a member's own data (or says who is refused): no cache keeps it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"cache-control"]
                message["headers"] = [*headers, (b"cache-control", b"no-store")]
            await send(message)

        await self.app(scope, receive, with_header if scope["type"] == "http" else send)


def build_v1() -> FastAPI:
    app = FastAPI(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    problems.install(app)
    app.add_middleware(NoStore)
    for router in ROUTERS:
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                servers=app.servers,
            )
            _problems_as_problem_json(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
