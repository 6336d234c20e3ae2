"""Ids read from page addresses and button arguments name a number the database's ids hold."""

from __future__ import annotations

import pytest

from dashboard_app.domain.ids import MAX_RECORD_ID
from dashboard_app.web.state.payloads import id_from_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("0042", 42),
        (str(MAX_RECORD_ID), MAX_RECORD_ID),
        (str(MAX_RECORD_ID + 1), None),  # PostgreSQL would refuse the query
        ("999999999999", None),
        ("0", None),
        ("²", None),
        ("-1", None),
        ("1e3", None),
        ("", None),
        (7, None),
        (None, None),
    ],
)
def test_id_from_text(text: object, expected: int | None) -> None:
    assert id_from_text(text) == expected
