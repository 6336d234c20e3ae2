"""An id from outside that no row can have (too large for the database's ids, or not a whole
number) is "not found" in every lookup that takes one, never a database error."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import Session

from dashboard_app.domain import billing
from dashboard_app.domain.admin import guard, jobs, members
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import NotFound
from dashboard_app.domain.generation import downloads, drafts, library, review
from dashboard_app.domain.ids import MAX_RECORD_ID, record_id
from tests.factories import create_member

# Past PostgreSQL's INTEGER ids; past SQLite's 64-bit integers; not ids at all.
BAD_IDS = [MAX_RECORD_ID + 1, 10**12, 2**64, 0, -3, True, 2.0, "7", None]

LOOKUPS: dict[str, Callable[[Session, int, object], object]] = {
    "generation": lambda s, uid, i: review.owned_generation(
        session=s, user_id=uid, generation_id=i
    ),
    "asset": lambda s, uid, i: library.owned_asset(session=s, user_id=uid, asset_id=i),
    "file": lambda s, uid, i: downloads.file_for(
        session=s, viewer_id=uid, viewer_is_admin=True, asset_id=i, part="media"
    ),
    "draft": lambda s, uid, i: drafts.get_draft(session=s, user_id=uid, draft_id=i),
    "order": lambda s, uid, i: billing.get_order(session=s, user_id=uid, order_id=i),
    "admin: member": lambda s, uid, i: guard.target_member(s, i),
    "admin: member page": lambda s, uid, i: members.member_detail(
        session=s, member_id=i, catalog=get_catalog()
    ),
    "admin: job": lambda s, uid, i: jobs._job(s, i),
}


def test_record_id_takes_whole_numbers_in_the_database_range_only() -> None:
    assert record_id(1) == 1 and record_id(MAX_RECORD_ID) == MAX_RECORD_ID
    assert [record_id(value) for value in BAD_IDS] == [None] * len(BAD_IDS)


@pytest.mark.parametrize("lookup", LOOKUPS)
def test_an_id_no_row_can_have_is_not_found(engine, lookup: str) -> None:
    member = create_member(engine)
    for bad in BAD_IDS:
        with Session(engine) as session:
            with pytest.raises(NotFound):
                LOOKUPS[lookup](session, member.id, bad)
