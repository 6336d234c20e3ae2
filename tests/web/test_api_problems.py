"""The API's error shape and paging, on a small FastAPI app built the way build_v1 builds its
own: every refusal, domain error and crash answers an RFC 9457 problem, and cursors round-trip
or are refused with a 400."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from dashboard_app.domain.errors import InsufficientCredits, InvalidInput, NotFound
from dashboard_app.domain.rate_limits import RateLimited
from dashboard_app.models.base import utcnow
from dashboard_app.web.api.v1 import paging, problems
from dashboard_app.web.api.v1.paging import CursorQuery, LimitQuery
from tests.support.tab import run_async


def build() -> FastAPI:
    app = FastAPI()
    problems.install(app)

    @app.get("/not-found")
    def not_found() -> dict:
        raise NotFound("No such generation")

    @app.get("/invalid")
    def invalid() -> dict:
        raise InvalidInput("Tags are short", field="tags")

    @app.get("/poor")
    def poor() -> dict:
        raise InsufficientCredits("You need 5 more credits")

    @app.get("/limited")
    def limited() -> dict:
        raise RateLimited("Slow down.", retry_at=utcnow() + timedelta(seconds=30))

    @app.get("/teapot")
    def teapot() -> dict:
        raise problems.ApiProblem(418, "I'm a teapot", "Short and stout", {"X-Why": "tea"})

    @app.get("/crash")
    def crash() -> dict:
        raise RuntimeError("password=hunter2 at db.internal:5432")

    @app.get("/items")
    def items(limit: LimitQuery = paging.DEFAULT_LIMIT, cursor: CursorQuery = None) -> dict:
        return {"limit": limit, "before": paging.decode_cursor(cursor)}

    return app


def call(path: str) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=build(), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(path)

    return run_async(send())


@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        ("/not-found", 404, "No such generation"),
        ("/invalid", 400, "Tags are short"),
        ("/poor", 402, "You need 5 more credits"),
        ("/limited", 429, "Slow down."),
        ("/teapot", 418, "Short and stout"),
        ("/crash", 500, "Something went wrong on our side"),
        ("/nowhere", 404, ""),
        ("/items?limit=0", 422, "see `errors`"),
        ("/items?limit=101", 422, "see `errors`"),
        ("/items?cursor=bm9wZQ", 400, "cursor"),
    ],
)
def test_every_error_is_a_problem_document(path, status, detail) -> None:
    response = call(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) <= {"type", "title", "status", "detail", "instance", "errors"}
    assert body["status"] == status and body["type"] and body["title"]
    assert body["instance"] == path.split("?")[0]
    assert detail in body["detail"]


def test_a_crash_shows_nothing_of_its_cause() -> None:
    response = call("/crash")
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    assert response.json()["title"] == "Internal Server Error"


def test_field_errors_name_the_field() -> None:
    assert call("/invalid").json()["errors"] == [{"field": "tags", "message": "Tags are short"}]
    [error] = call("/items?limit=0").json()["errors"]
    assert error["field"] == "query.limit"


def test_headers_of_a_problem_are_kept() -> None:
    assert 29 <= int(call("/limited").headers["retry-after"]) <= 30
    assert call("/teapot").headers["x-why"] == "tea"


@pytest.mark.parametrize("last_id", [1, 42, 2**31 - 1])
def test_a_cursor_round_trips(last_id) -> None:
    cursor = paging.encode_cursor(last_id)
    assert str(last_id) not in cursor  # opaque to clients
    assert paging.decode_cursor(cursor) == last_id
    assert call(f"/items?cursor={cursor}").json() == {"limit": 20, "before": last_id}


@pytest.mark.parametrize(
    "text",
    ["x", "!!!", paging.encode_cursor(1)[:-1] + "%", "djE6", "djE6LTE", "djE6MA", "djI6NQ"],
)
def test_a_cursor_the_api_did_not_make_is_refused(text) -> None:
    with pytest.raises(problems.ApiProblem) as refused:
        paging.decode_cursor(text)
    assert refused.value.status == 400
    assert paging.decode_cursor(None) is None and paging.decode_cursor("") is None


def test_a_page_names_the_last_item_shown_only_when_more_follow() -> None:
    rows = [9, 7, 4]
    full = paging.page_of(rows, limit=2, id_of=lambda row: row)
    assert full.items == [9, 7]
    assert paging.decode_cursor(full.next_cursor) == 7
    last = paging.page_of(rows, limit=3, id_of=lambda row: row)
    assert last.items == rows and last.next_cursor is None
    assert paging.page_of([], limit=3, id_of=lambda row: row).next_cursor is None
