"""Cursor paging for every list of the API.

Lists run newest first by id. A cursor means "rows older than id N": it stays right while new
rows arrive (they are newer than any cursor already handed out). Cursors are opaque to clients
(base64 of a versioned text) and a cursor that does not decode is a 400 problem.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from dashboard_app.domain.ids import record_id
from dashboard_app.web.api.v1.problems import ApiProblem, FieldError

T = TypeVar("T")
_VERSION = "v1:"
DEFAULT_LIMIT, MAX_LIMIT = 20, 100

# Route parameters: `limit: LimitQuery = DEFAULT_LIMIT`, `cursor: CursorQuery = None`.
LimitQuery = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page, 1 to {MAX_LIMIT}.")
]
CursorQuery = Annotated[
    str | None,
    Query(max_length=64, description="`next_cursor` of the previous page; none for the first."),
]


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first; `next_cursor` is null on the last page."""

    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null on the last page."
    )


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_VERSION}{last_id}".encode()).decode().rstrip("=")


def _bad_cursor() -> ApiProblem:
    return ApiProblem(
        400,
        "Bad Request",
        "The cursor is not one this API handed out: start again without it.",
        errors=[FieldError(field="query.cursor", message="Not a cursor")],
    )


def decode_cursor(text: str | None) -> int | None:
    """The id a cursor names (list rows older than it), None for no cursor; ApiProblem 400 for
    anything else."""
    if text is None or text == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _bad_cursor() from None
    number = raw.removeprefix(_VERSION)
    if not raw.startswith(_VERSION) or not number.isdigit() or len(number) > 10:
        raise _bad_cursor()
    found = record_id(int(number))
    if found is None:
        raise _bad_cursor()
    return found


def page_of(rows: Sequence[T], *, limit: int, id_of: Callable[[T], int | None]) -> Page[T]:
    """A page from up to `limit + 1` rows read newest first: the extra row, when there is one,
    only says that another page follows."""
    shown = list(rows[:limit])
    more = len(rows) > limit and shown
    last_id = id_of(shown[-1]) if more else None
    return Page[T](items=shown, next_cursor=encode_cursor(last_id) if last_id else None)
