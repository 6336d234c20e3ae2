"""Submitting a generation: one transaction that validates, checks the idempotency key and the
plan's limits, takes a concurrency slot atomically, holds the credits and creates the job."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.domain import credits, plans
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import InsufficientCredits, InvalidInput
from dashboard_app.domain.generation import submit
from dashboard_app.domain.plans import LimitReached
from dashboard_app.models import CreditReservation, Draft, Generation, Subscription, Variant
from tests.factories import count_rows, create_member

CATALOG = get_catalog()
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def form(**overrides) -> dict:
    values = {
        "title": "Calm mornings",
        "topic": "Five habits that make mornings calmer",
        "platform": "tiktok",
        "preset": "neon",
        "format": "video",
        "variants": 2,
    }
    return {**values, **overrides}


def send(engine, member: int, key: str = "form-key-0001", now=NOW, **overrides):
    with session_scope(engine) as session:
        return submit.submit_generation(
            session=session,
            user_id=member,
            catalog=CATALOG,
            idempotency_key=key,
            now=now,
            **form(**overrides),
        )


def nothing_created(engine, member: int) -> None:
    assert count_rows(engine, Generation, Generation.user_id == member) == 0
    assert count_rows(engine, Draft, Draft.user_id == member) == 0
    assert count_rows(engine, CreditReservation, CreditReservation.user_id == member) == 0
    with session_scope(engine) as session:
        assert credits.get_balances(session=session, user_id=member).reserved == 0


def test_a_submit_holds_the_cost_and_creates_draft_generation_and_variants(engine) -> None:
    member = create_member(engine, credits_granted=100).id
    submitted = send(engine, member)

    generation = submitted.generation
    assert submitted.created
    assert (generation.status, generation.platform, generation.preset) == (
        "queued",
        "tiktok",
        "neon",
    )
    assert generation.credits_cost == 2 * CATALOG.presets["neon"].credits_per_variant == 20
    assert submit.workflow_id(generation) == f"generation-{generation.id}"
    with session_scope(engine) as session:
        reservation = session.exec(
            select(CreditReservation).where(
                CreditReservation.reference == f"generation:{generation.id}"
            )
        ).one()
        assert (reservation.amount, reservation.status) == (20, "held")
        assert credits.get_balances(session=session, user_id=member).available == 80
        draft = session.get(Draft, generation.draft_id)
        assert draft.submitted_at is not None and draft.prompt == generation.prompt
    assert count_rows(engine, Variant, Variant.generation_id == generation.id) == 2


def test_the_same_key_twice_gives_the_same_job_and_holds_once(engine) -> None:
    member = create_member(engine, credits_granted=100).id
    first = send(engine, member)
    second = send(engine, member)
    assert not second.created
    assert second.generation.id == first.generation.id
    assert count_rows(engine, Generation, Generation.user_id == member) == 1
    with session_scope(engine) as session:
        assert credits.get_balances(session=session, user_id=member).reserved == 20


@pytest.mark.parametrize(
    "changed",
    [
        {"topic": "Something else entirely"},
        {"title": "Another title"},
        {"platform": "youtube_shorts"},
        {"preset": "sunset"},
        {"variants": 1},
    ],
)
def test_the_same_key_with_another_request_is_refused_and_changes_nothing(engine, changed) -> None:
    member = create_member(engine, credits_granted=100).id
    first = send(engine, member)
    with pytest.raises(submit.KeyReused, match="already used for another request"):
        send(engine, member, **changed)
    assert count_rows(engine, Generation, Generation.user_id == member) == 1
    with session_scope(engine) as session:
        assert credits.get_balances(session=session, user_id=member).reserved == 20
        assert session.get(Generation, first.generation.id).prompt == form()["topic"]


def test_the_same_request_again_with_other_spacing_is_the_same_request(engine) -> None:
    member = create_member(engine, credits_granted=100).id
    first = send(engine, member)
    again = send(engine, member, topic="  Five habits that make   mornings calmer ")
    assert not again.created and again.generation.id == first.generation.id


def test_another_members_key_is_their_own(engine) -> None:
    one = create_member(engine, credits_granted=100).id
    two = create_member(engine, credits_granted=100).id
    assert send(engine, one).generation.id != send(engine, two).generation.id


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"topic": ""}, "topic"),
        ({"topic": "   "}, "topic"),
        ({"topic": "x" * 10_000}, "topic"),
        ({"title": "t" * 500}, "title"),
        ({"platform": "myspace"}, "platform"),
        ({"platform": 3}, "platform"),
        ({"preset": "nope"}, "preset"),
        ({"format": "gif"}, "format"),
        ({"preset": "sunset", "format": "image"}, "format"),
        ({"variants": 0}, "variants"),
        ({"variants": 50}, "variants"),
        ({"variants": "2"}, "variants"),
        ({"variants": 2.0}, "variants"),
        ({"variants": True}, "variants"),
        ({"variants": None}, "variants"),
    ],
)
def test_bad_input_is_refused_with_its_field_and_creates_nothing(engine, overrides, field) -> None:
    member = create_member(engine, credits_granted=100).id
    with pytest.raises(InvalidInput) as refused:
        send(engine, member, **overrides)
    assert refused.value.field == field
    assert refused.value.message
    nothing_created(engine, member)


@pytest.mark.parametrize("key", ["", "short", "has spaces in it", "k" * 200, None])
def test_a_missing_or_malformed_idempotency_key_is_refused(engine, key) -> None:
    member = create_member(engine, credits_granted=100).id
    with pytest.raises(InvalidInput):
        send(engine, member, key=key)
    nothing_created(engine, member)


def test_not_enough_credits_is_refused_and_holds_nothing(engine) -> None:
    member = create_member(engine, credits_granted=15).id
    with pytest.raises(InsufficientCredits, match="needs 20 credits but only 15"):
        send(engine, member)
    nothing_created(engine, member)


def test_the_concurrent_jobs_limit_says_so_and_reserves_nothing(engine) -> None:
    member = create_member(engine, credits_granted=100).id  # free plan: one job at a time
    send(engine, member, key="first-job-01")
    with pytest.raises(LimitReached, match="1 job at a time") as refused:
        send(engine, member, key="second-job-1")
    assert refused.value.limit == "concurrent_jobs"
    assert count_rows(engine, Generation, Generation.user_id == member) == 1
    with session_scope(engine) as session:
        assert credits.get_balances(session=session, user_id=member).reserved == 20


def finish(engine, generation_id: int, status: str = "succeeded") -> None:
    with session_scope(engine) as session:
        generation = session.get(Generation, generation_id)
        generation.status = status
        session.add(generation)
        reference = submit.reservation_reference(generation.id, generation.attempt)
        credits.release_reservation(session=session, reference=reference)


def test_the_hourly_burst_says_when_the_next_job_can_start(engine) -> None:
    member = create_member(engine, credits_granted=1000).id
    burst = CATALOG.plans["free"].hourly_burst
    for n in range(burst):
        job = send(engine, member, key=f"burst-key-{n:03}", now=NOW + timedelta(minutes=n))
        finish(engine, job.generation.id)
    with pytest.raises(
        LimitReached, match="at most 5 jobs an hour; the next one can start at 13:00 UTC"
    ) as refused:
        send(engine, member, key="burst-key-999", now=NOW + timedelta(minutes=30))
    assert refused.value.limit == "hourly_burst"
    assert refused.value.frees_at == NOW + timedelta(hours=1)
    with session_scope(engine) as session:
        assert credits.get_balances(session=session, user_id=member).reserved == 0
    send(engine, member, key="burst-key-998", now=NOW + timedelta(hours=1, seconds=1))


def test_the_monthly_pool_of_processing_minutes_stops_new_jobs_until_it_resets(engine) -> None:
    member = create_member(engine, credits_granted=100).id
    with session_scope(engine) as session:
        plans.record_usage(
            session=session,
            user_id=member,
            metric="processing_seconds",
            quantity=CATALOG.plans["free"].monthly_minutes * 60,
            reference="earlier-jobs",
            now=NOW,
        )
    with pytest.raises(LimitReached, match="30 minutes of processing.*01 April 2026") as refused:
        send(engine, member)
    assert refused.value.limit == "monthly_minutes"
    nothing_created(engine, member)
    send(engine, member, now=datetime(2026, 4, 1, 0, 1, tzinfo=UTC))


def test_a_plan_without_jobs_is_refused(engine, tmp_path) -> None:
    member = create_member(engine, credits_granted=100).id
    catalog = CATALOG.model_copy(
        update={
            "plans": {
                **CATALOG.plans,
                "free": CATALOG.plans["free"].model_copy(update={"concurrent_jobs": 0}),
            }
        }
    )
    with session_scope(engine) as session:
        with pytest.raises(LimitReached, match="does not include"):
            submit.submit_generation(
                session=session,
                user_id=member,
                catalog=catalog,
                idempotency_key="no-jobs-01",
                **form(),
            )


def test_a_boost_adds_slots(engine) -> None:
    member = create_member(engine, credits_granted=100).id
    with session_scope(engine) as session:
        plans.sync_plans(session=session, catalog=CATALOG)
        session.add(Subscription(user_id=member, plan_code="pro", status="active"))
    for n in range(CATALOG.plans["pro"].concurrent_jobs):
        send(engine, member, key=f"pro-slot-{n:03}", variants=1)
    with pytest.raises(LimitReached):
        send(engine, member, key="pro-slot-999", variants=1)


def test_twenty_simultaneous_submits_for_one_slot_create_exactly_one_job(engine) -> None:
    member = create_member(engine, credits_granted=1000).id
    barrier = threading.Barrier(20)

    def attempt(i: int) -> object:
        barrier.wait()
        try:
            return send(engine, member, key=f"race-key-{i:04}", now=None).generation.id
        except LimitReached as refused:
            return refused

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(attempt, range(20)))
    created = [r for r in results if isinstance(r, int)]
    assert len(created) == 1
    assert all(isinstance(r, LimitReached) for r in results if not isinstance(r, int))
    assert count_rows(engine, Generation, Generation.user_id == member) == 1
    with session_scope(engine) as session:
        assert credits.get_balances(session=session, user_id=member).reserved == 20


def test_the_quote_shows_cost_balance_and_the_pool_left(engine) -> None:
    member = create_member(engine, credits_granted=100).id
    with session_scope(engine) as session:
        plans.record_usage(
            session=session,
            user_id=member,
            metric="processing_seconds",
            quantity=600,
            reference="earlier",
            now=NOW,
        )
        quote = submit.quote(
            session=session, user_id=member, catalog=CATALOG, preset="neon", variants=3, now=NOW
        )
    assert (quote.cost, quote.available_credits) == (30, 100)
    assert quote.pool_minutes_left == CATALOG.plans["free"].monthly_minutes - 10
    assert quote.pool_resets_at == datetime(2026, 4, 1, tzinfo=UTC)
