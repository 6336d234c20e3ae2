"""The one logging setup: structlog for our loggers and the standard library's alike, JSON lines
in production and readable console lines in development, with the request id of an HTTP route
or the event id of a Reflex event bound to every line logged while it runs."""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog

from dashboard_app.settings import Settings

_configured = False

# A request id a proxy or load balancer passed on is kept when it is short and plain.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]


def configure_logging(settings: Settings, *, force: bool = False) -> None:
    """Route every log line of this process through one handler on stderr. Runs once per
    process; a second call changes nothing unless `force`."""
    global _configured
    if _configured and not force:
        return
    shared = _shared_processors()
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: structlog.testing.capture_logs must still see loggers made before it.
        cache_logger_on_first_use=False,
    )
    if settings.json_logs:
        renderer: Any = structlog.processors.JSONRenderer()
        final = [structlog.processors.dict_tracebacks, renderer]
    else:
        final = [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name("dashboard")
    root = logging.getLogger()
    for existing in [h for h in root.handlers if h.get_name() == "dashboard"]:
        root.removeHandler(existing)
    root.addHandler(handler)
    level = settings.log_level or "INFO"
    # Libraries (DBOS, httpx, Reflex) stay at INFO and above; our own loggers follow LOG_LEVEL
    # (DEBUG in development: every query's duration).
    root.setLevel("INFO" if level == "DEBUG" else level)
    logging.getLogger("dashboard_app").setLevel(level)
    _configured = True


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == b"x-request-id":
            candidate = value.decode("latin-1")
            if _REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]


class RequestIdMiddleware:
    """Binds a request id to every log line of one HTTP request and returns it to the client in
    X-Request-ID (a valid one sent by a proxy is kept, so lines join up across hops)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope.get("headers", []))

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_id)
