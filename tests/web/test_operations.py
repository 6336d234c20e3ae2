"""/healthz, /readyz and /metrics's access rule, and request ids, on the server routes run in
this process (the real scrape after a webhook and a job is in test_metrics_scrape.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import structlog
from structlog.testing import capture_logs

from alembic import command
from dashboard_app.settings import get_settings
from tests.support.databases import alembic_config
from tests.support.servers import free_port
from tests.web.test_auth_routes import InProcessRoutes


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    def apply(**values: str) -> InProcessRoutes:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        return InProcessRoutes()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()


def nowhere() -> str:
    return f"postgresql://dash:hunter2@127.0.0.1:{free_port()}/nowhere"


def test_healthz_answers_without_touching_the_database(configure) -> None:
    client = configure(DATABASE_URL=nowhere())
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ok_at_head_without_redis(configure, db_url) -> None:
    response = configure(DATABASE_URL=db_url).get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "redis": "not configured"},
    }


def test_readyz_names_the_database_when_it_is_down_and_hides_the_driver_error(configure) -> None:
    url = nowhere()
    port = url.split(":")[3].split("/")[0]
    with capture_logs() as logs:
        response = configure(DATABASE_URL=url).get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["database", "migrations"]
    assert port not in response.text and "hunter2" not in response.text
    failures = [e for e in logs if e["event"] == "readiness: database unavailable"]
    assert len(failures) == 1 and port in failures[0]["error"]


def test_readyz_names_the_migrations_when_the_database_is_behind(configure, db_url) -> None:
    command.downgrade(alembic_config(db_url), "-1")
    response = configure(DATABASE_URL=db_url).get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["migrations"]
    assert response.json()["checks"]["database"] == "ok"


def test_readyz_checks_redis_when_it_is_configured(configure, db_url, redis_server) -> None:
    up = configure(DATABASE_URL=db_url, REDIS_URL=redis_server.url).get("/readyz")
    assert up.status_code == 200 and up.json()["checks"]["redis"] == "ok"
    down = configure(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0").get("/readyz")
    assert down.status_code == 503
    assert down.json()["failed"] == ["redis"]


def test_metrics_need_the_token_when_one_is_set(configure, db_url) -> None:
    client = configure(DATABASE_URL=db_url, METRICS_TOKEN="a-long-random-metrics-token")
    assert client.get("/metrics").status_code == 401
    wrong = {"Authorization": "Bearer another-token"}
    assert client.get("/metrics", headers=wrong).status_code == 401
    right = {"Authorization": "Bearer a-long-random-metrics-token"}
    answer = client.get("/metrics", headers=right)
    assert answer.status_code == 200
    assert "dashboard_database_up 1.0" in answer.text


def test_metrics_are_closed_in_production_without_a_token(configure, db_url) -> None:
    client = configure(DATABASE_URL=db_url, APP_ENV="production")
    assert client.get("/metrics").status_code == 404
    assert configure(APP_ENV="development").get("/metrics").status_code == 200


def test_each_request_gets_an_id_on_its_log_lines_and_in_its_answer(configure) -> None:
    client = configure(DATABASE_URL=nowhere())
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        response = client.get("/readyz")
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32
    assert {e["request_id"] for e in logs} == {request_id}
    # An id a proxy passed on is kept; a malformed one is replaced.
    kept = client.get("/healthz", headers={"X-Request-ID": "edge-1234abcd"})
    assert kept.headers["x-request-id"] == "edge-1234abcd"
    replaced = client.get("/healthz", headers={"X-Request-ID": "bad id\\n" + "x" * 100})
    assert replaced.headers["x-request-id"] != json.dumps("bad id")
    assert len(replaced.headers["x-request-id"]) == 32
