"""Drafts ("Save as draft", "Continue draft"), the jobs list, and the review actions refused
when they do not apply or the ids are another member's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dashboard_app.db import session_scope
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import InvalidInput, NotFound
from dashboard_app.domain.generation import drafts, review, submit
from dashboard_app.domain.generation.review import NotAllowedNow
from tests.factories import create_member

CATALOG = get_catalog()
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def test_a_draft_keeps_an_unfinished_form_and_continues_into_a_job(engine) -> None:
    member = create_member(engine, credits_granted=100).id
    with session_scope(engine) as session:
        draft = drafts.save_draft(
            session=session,
            user_id=member,
            catalog=CATALOG,
            topic="Half an idea",
            platform="tiktok",
            preset="neon",
            variants=3,
            now=NOW,
        )
        again = drafts.save_draft(
            session=session,
            user_id=member,
            catalog=CATALOG,
            draft_id=draft.id,
            topic="A whole idea",
            platform="tiktok",
            preset="neon",
            format="video",
            variants=3,
            now=NOW,
        )
    assert again.id == draft.id
    with session_scope(engine) as session:
        assert [d.prompt for d in drafts.open_drafts(session=session, user_id=member)] == [
            "A whole idea"
        ]
        loaded = drafts.get_draft(session=session, user_id=member, draft_id=draft.id)
        assert loaded.options == {"preset": "neon", "format": "video", "variants": 3}
        submitted = submit.submit_generation(
            session=session,
            user_id=member,
            catalog=CATALOG,
            idempotency_key="from-draft-01",
            draft_id=draft.id,
            topic=loaded.prompt,
            platform=loaded.platform,
            preset="neon",
            format="video",
            variants=3,
            now=NOW,
        )
    assert submitted.generation.draft_id == draft.id
    with session_scope(engine) as session:
        assert drafts.open_drafts(session=session, user_id=member) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"topic": "x" * 10_000},
        {"platform": "myspace"},
        {"variants": "3"},
        {"preset": 7},
        {"title": ["a"]},
    ],
)
def test_a_draft_with_wrong_values_is_refused(engine, bad) -> None:
    member = create_member(engine).id
    with session_scope(engine) as session, pytest.raises(InvalidInput):
        drafts.save_draft(session=session, user_id=member, catalog=CATALOG, **bad)


def test_another_members_drafts_and_jobs_are_not_found(engine) -> None:
    member = create_member(engine, credits_granted=100).id
    stranger = create_member(engine).id
    with session_scope(engine) as session:
        draft = drafts.save_draft(session=session, user_id=member, catalog=CATALOG, topic="Mine")
        generation = submit.submit_generation(
            session=session,
            user_id=member,
            catalog=CATALOG,
            idempotency_key="mine-key-01",
            topic="Mine",
            platform="tiktok",
            preset="neon",
            format="video",
            variants=1,
        ).generation
        variant_id = (
            review.review(session=session, user_id=member, generation_id=generation.id)
            .variants[0]
            .variant.id
        )
    actions = [
        lambda s: drafts.get_draft(session=s, user_id=stranger, draft_id=draft.id),
        lambda s: drafts.delete_draft(session=s, user_id=stranger, draft_id=draft.id),
        lambda s: drafts.save_draft(
            session=s, user_id=stranger, catalog=CATALOG, draft_id=draft.id, topic="Theirs"
        ),
        lambda s: review.review(session=s, user_id=stranger, generation_id=generation.id),
        lambda s: review.cancel_generation(
            session=s, user_id=stranger, generation_id=generation.id
        ),
        lambda s: review.retry_generation(
            session=s, user_id=stranger, generation_id=generation.id, catalog=CATALOG
        ),
        lambda s: review.regenerate_variant(
            session=s, user_id=stranger, variant_id=variant_id, catalog=CATALOG
        ),
        lambda s: review.save_variant(session=s, user_id=stranger, variant_id=variant_id),
        lambda s: review.review(session=s, user_id=member, generation_id=10**9),
        lambda s: review.review(session=s, user_id=member, generation_id="1"),
    ]
    for action in actions:
        with session_scope(engine) as session, pytest.raises(NotFound):
            action(session)


def test_actions_that_do_not_apply_now_are_refused(engine) -> None:
    member = create_member(engine, credits_granted=100).id
    with session_scope(engine) as session:
        generation = submit.submit_generation(
            session=session,
            user_id=member,
            catalog=CATALOG,
            idempotency_key="state-key-01",
            topic="Queued",
            platform="tiktok",
            preset="neon",
            format="video",
            variants=1,
        ).generation
        variant_id = (
            review.review(session=session, user_id=member, generation_id=generation.id)
            .variants[0]
            .variant.id
        )
    with session_scope(engine) as session:
        with pytest.raises(NotAllowedNow, match="Only a failed job"):
            review.retry_generation(
                session=session, user_id=member, generation_id=generation.id, catalog=CATALOG
            )
    with session_scope(engine) as session:
        with pytest.raises(NotAllowedNow, match="once its job has finished"):
            review.regenerate_variant(
                session=session, user_id=member, variant_id=variant_id, catalog=CATALOG
            )
    with session_scope(engine) as session:
        with pytest.raises(NotAllowedNow, match="no result"):
            review.save_variant(session=session, user_id=member, variant_id=variant_id)
    with session_scope(engine) as session:
        review.cancel_generation(session=session, user_id=member, generation_id=generation.id)
    with session_scope(engine) as session:
        with pytest.raises(NotAllowedNow, match="already finished"):
            review.cancel_generation(session=session, user_id=member, generation_id=generation.id)


def test_the_jobs_list_pages_newest_first_and_filters_by_status(engine) -> None:
    member = create_member(engine, credits_granted=1000).id
    ids = []
    for n in range(3):
        with session_scope(engine) as session:
            generation = submit.submit_generation(
                session=session,
                user_id=member,
                catalog=CATALOG,
                idempotency_key=f"list-key-{n:02}",
                topic=f"Job {n}",
                platform="tiktok",
                preset="neon",
                format="video",
                variants=1,
            ).generation
            ids.append(generation.id)
            review.cancel_generation(session=session, user_id=member, generation_id=generation.id)
    with session_scope(engine) as session:
        first = review.list_jobs(session=session, user_id=member, limit=2)
        second = review.list_jobs(
            session=session, user_id=member, limit=2, cursor=first.next_cursor
        )
        assert [j.id for j in first.jobs] == [ids[2], ids[1]]
        assert [j.id for j in second.jobs] == [ids[0]] and second.next_cursor is None
        assert review.list_jobs(session=session, user_id=member, status="failed").jobs == []
        assert len(review.list_jobs(session=session, user_id=member, status="cancelled").jobs) == 3
        with pytest.raises(InvalidInput):
            review.list_jobs(session=session, user_id=member, status="exploded")
        with pytest.raises(InvalidInput):
            review.list_jobs(session=session, user_id=member, cursor="garbage!")
