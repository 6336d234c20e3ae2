"""Calling the REST API (/api/v1) from tests.

The API runs in this process: `ApiClient` sends real HTTP requests over httpx's ASGI transport
to `build_api()` (the same Starlette app the server mounts in front of Reflex), so no server
is started and nothing is mocked. The `api` fixture (tests/conftest.py) points the app at the
test's own database (`DATABASE_URL`) and takes more settings through
`api.configure(NAME=value, ...)`: `api.get("/me", key=make_api_key(engine, member.id))`.
Tests that need the running app (a browser test) use the `app` fixture's URL with httpx
instead, with the same `bearer(key)` header.

Keys are made through the domain service, as the profile page makes them: `make_api_key`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.engine import Engine

from dashboard_app.db import session_scope
from dashboard_app.domain import api_keys
from dashboard_app.settings import get_settings
from dashboard_app.web.api.app import build_api
from tests.support.tab import run_async

API = "/api/v1"


def make_api_key(
    engine: Engine, user_id: int, scope: str = "read-write", name: str = "Test key"
) -> str:
    """A new personal API key of the member; returns the plaintext (`dk_...`)."""
    with session_scope(engine) as session:
        return api_keys.create_api_key(
            session=session, user_id=user_id, name=name, scope=scope
        ).secret


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class ApiClient:
    """Requests to the in-process API. `path` is relative to /api/v1 unless it starts with
    /api/ or another absolute path of the server (pass `raw=True`)."""

    monkeypatch: pytest.MonkeyPatch

    def configure(self, **values: str) -> ApiClient:
        for name, value in values.items():
            self.monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        return self

    def request(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        client: str = "127.0.0.1",
        raw: bool = False,
        **kwargs,
    ) -> httpx.Response:
        url = path if raw else API + path
        headers = dict(kwargs.pop("headers", None) or {})
        if key is not None:
            headers.update(bearer(key))

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=build_api(), client=(client, 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.request(method, url, headers=headers, **kwargs)

        # On a thread of its own: Playwright's sync API may own this thread's event loop.
        return run_async(send())

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


def serve_api(monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[ApiClient]:
    """The `api` fixture's body (tests/conftest.py): the API in this process, on this test's
    database; settings changed through `configure` are undone afterwards."""
    client = ApiClient(monkeypatch).configure(DATABASE_URL=db_url)
    yield client
    monkeypatch.undo()
    get_settings.cache_clear()
