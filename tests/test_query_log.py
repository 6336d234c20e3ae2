"""The slow-query log: a statement over SLOW_QUERY_MS is logged with its duration and its
shape, never its values; the shape folds literals and lists of placeholders."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from sqlmodel import Session, col, select
from structlog.testing import capture_logs

from dashboard_app.db import build_engine
from dashboard_app.models import User
from dashboard_app.observability.queries import statement_shape
from dashboard_app.settings import get_settings
from tests.factories import create_member


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()


def test_a_query_over_the_threshold_is_logged_with_its_shape_and_without_its_values(
    settings_env, db_url, engine
) -> None:
    member = create_member(engine, email="private.person@example.com")
    settings_env(SLOW_QUERY_MS="0")
    watched = build_engine(db_url)
    try:
        with capture_logs() as logs, Session(watched) as session:
            found = session.exec(
                select(User).where(
                    User.email == "private.person@example.com",
                    col(User.id).in_([member.id, 987654, 123123]),
                )
            ).one()
    finally:
        watched.dispose()
    assert found.id == member.id
    slow = [e for e in logs if e["event"] == "slow query" and "FROM users" in e["statement"]]
    assert len(slow) == 1, logs
    entry = slow[0]
    assert entry["log_level"] == "warning"
    assert isinstance(entry["duration_ms"], float) and entry["duration_ms"] >= 0
    text = repr(entry)
    assert "private.person" not in text and "987654" not in text and "123123" not in text
    assert "(?...)" in entry["statement"]  # the IN list, folded


def test_queries_under_the_threshold_are_not_logged_outside_development(
    settings_env, db_url
) -> None:
    settings_env(SLOW_QUERY_MS="60000", APP_ENV="test")
    watched = build_engine(db_url)
    try:
        with capture_logs() as logs, Session(watched) as session:
            session.exec(select(User).where(User.email == "x@example.com")).all()
    finally:
        watched.dispose()
    assert [e for e in logs if e["event"] in ("slow query", "query")] == []


def test_in_development_every_query_is_logged_at_debug_level(settings_env, db_url, caplog) -> None:
    settings_env(SLOW_QUERY_MS="60000", APP_ENV="development")
    caplog.set_level(logging.DEBUG, logger="dashboard_app.queries")  # what LOG_LEVEL=DEBUG sets
    watched = build_engine(db_url)
    try:
        with capture_logs() as logs, Session(watched) as session:
            session.exec(select(User).where(User.email == "dev@example.com")).all()
    finally:
        watched.dispose()
    debug = [e for e in logs if e["event"] == "query" and "FROM users" in e["statement"]]
    assert len(debug) == 1 and debug[0]["log_level"] == "debug"
    assert "dev@example.com" not in repr(debug[0])


@pytest.mark.parametrize(
    ("statement", "shape"),
    [
        ("SELECT * FROM users WHERE email = 'a@b.c'", "SELECT * FROM users WHERE email = ?"),
        ("SELECT 1 FROM t WHERE n = 42 AND x = -3.5", "SELECT ? FROM t WHERE n = ? AND x = ?"),
        ("SELECT a FROM t1 WHERE id IN (?, ?, ?)", "SELECT a FROM t1 WHERE id IN (?...)"),
        (
            "UPDATE t SET v = %(v)s WHERE id IN (%(id_1_1)s, %(id_1_2)s)",
            "UPDATE t SET v = %(v)s WHERE id IN (?...)",
        ),
        (
            "SELECT a FROM t WHERE id IN (%(id_1_1)s::INTEGER, %(id_1_2)s::INTEGER) "
            "AND at > %(at_1)s::TIMESTAMP WITH TIME ZONE",
            "SELECT a FROM t WHERE id IN (?...) AND at > %(at_1)s::TIMESTAMP WITH TIME ZONE",
        ),
        ("SELECT 'it''s'  ,\n  $1", "SELECT ? , $1"),
    ],
)
def test_statement_shapes_keep_no_values(statement: str, shape: str) -> None:
    assert statement_shape(statement) == shape
