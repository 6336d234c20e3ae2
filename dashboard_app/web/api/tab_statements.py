"""Test runs only (APP_ENV=test): how many SQL statements the events of one tab have caused, so
a browser test can show that an idle tab costs the database nothing. Counted in files under
DATA_DIR (one byte per statement), so every backend worker process adds to the same count."""

from __future__ import annotations

import re
from pathlib import Path

from reflex_base.event.context import EventContext
from sqlalchemy import event
from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dashboard_app.settings import get_settings

TOKEN = re.compile(r"^[0-9a-f-]{1,64}$")


def _folder() -> Path:
    return get_settings().data_dir / "tab-statements"


def _count(_conn, _cursor, _statement, _parameters, _context, _executemany) -> None:  # type: ignore[no-untyped-def]
    try:
        token = EventContext.get().token
    except LookupError:
        return  # not an event's work: a background task, a route, the job worker
    if TOKEN.match(token):
        with (_folder() / token).open("ab") as counted:
            counted.write(b".")


def install() -> None:
    _folder().mkdir(parents=True, exist_ok=True)
    if not event.contains(Engine, "before_cursor_execute", _count):
        event.listen(Engine, "before_cursor_execute", _count)


async def tab_statements(request: Request) -> Response:
    token = request.path_params["token"]
    if not TOKEN.match(token):
        return JSONResponse({"error": "not a tab token"}, status_code=400)
    counted = _folder() / token
    return JSONResponse({"statements": counted.stat().st_size if counted.exists() else 0})
