"""Test runs only (APP_ENV=test): how many SQL statements the events of one tab have caused, so
a browser test can show that an idle tab costs the database nothing."""

from __future__ import annotations

from collections import Counter

from reflex_base.event.context import EventContext
from sqlalchemy import event
from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

_by_tab: Counter[str] = Counter()


def _count(_conn, _cursor, _statement, _parameters, _context, _executemany) -> None:  # type: ignore[no-untyped-def]
    try:
        token = EventContext.get().token
    except LookupError:
        return  # not an event's work: a background task, a route, the job worker
    _by_tab[token] += 1


def install() -> None:
    if not event.contains(Engine, "before_cursor_execute", _count):
        event.listen(Engine, "before_cursor_execute", _count)


async def tab_statements(request: Request) -> Response:
    return JSONResponse({"statements": _by_tab[request.path_params["token"]]})
