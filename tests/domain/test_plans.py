"""Plans, boosts and usage meters, as worked examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.domain import plans
from dashboard_app.domain.catalog import CatalogError, Limits, get_catalog, load_catalog
from dashboard_app.domain.errors import InvalidInput
from dashboard_app.domain.plans import LimitReached
from dashboard_app.models import Generation, Plan, Subscription
from tests.factories import create_member

CATALOG = get_catalog()


def test_the_shipped_catalog_has_free_and_pro() -> None:
    assert {"free", "pro"} <= set(CATALOG.plans)
    assert CATALOG.plan("unknown").name == CATALOG.plans[CATALOG.default_plan].name


def test_a_broken_catalog_file_is_reported_with_its_path(tmp_path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text('default_plan = "gold"\n[plans.free]\nname = "Free"\n')
    with pytest.raises(CatalogError, match="default_plan 'gold'"):
        load_catalog(path)
    path.write_text("[plans.free\n")
    with pytest.raises(CatalogError, match="not valid TOML"):
        load_catalog(path)
    path.write_text('default_plan = "free"\n[plans.free]\nname = "Free"\nhourly_burst = -1\n')
    with pytest.raises(CatalogError, match="hourly_burst"):
        load_catalog(path)


def test_a_boost_adds_to_the_plan_while_it_lasts(engine) -> None:
    member = create_member(engine).id
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    with session_scope(engine) as session:
        plans.grant_boost(
            session=session,
            user_id=member,
            boost_code="pro_boost",
            reference="order:1",
            catalog=CATALOG,
            now=now,
        )
    free, boost = CATALOG.plans["free"], CATALOG.boosts["pro_boost"]
    with session_scope(engine) as session:
        codes = [
            b.boost_code
            for b in plans.active_boosts(
                session=session, user_id=member, now=now + timedelta(days=6)
            )
        ]
        assert plans.effective_limits(CATALOG, "free", codes) == Limits(
            monthly_exports=free.monthly_exports + boost.monthly_exports,
            monthly_minutes=free.monthly_minutes + boost.monthly_minutes,
            hourly_burst=free.hourly_burst + boost.hourly_burst,
            concurrent_jobs=free.concurrent_jobs + boost.concurrent_jobs,
        )
        assert (
            plans.active_boosts(
                session=session, user_id=member, now=now + timedelta(days=boost.days)
            )
            == []
        )


def test_a_second_boost_extends_the_first_and_a_repeat_does_nothing(engine) -> None:
    member = create_member(engine).id
    now = datetime(2026, 3, 10, tzinfo=UTC)
    with session_scope(engine) as session:
        first = plans.grant_boost(
            session=session,
            user_id=member,
            boost_code="pro_boost",
            reference="a",
            catalog=CATALOG,
            now=now,
        )
        again = plans.grant_boost(
            session=session,
            user_id=member,
            boost_code="pro_boost",
            reference="a",
            catalog=CATALOG,
            now=now,
        )
        second = plans.grant_boost(
            session=session,
            user_id=member,
            boost_code="pro_boost",
            reference="b",
            catalog=CATALOG,
            now=now,
        )
        assert again.id == first.id
        assert second.starts_at == first.ends_at
        with pytest.raises(InvalidInput):
            plans.grant_boost(
                session=session,
                user_id=member,
                boost_code="mega",
                reference="c",
                catalog=CATALOG,
                now=now,
            )


def test_the_plan_comes_from_a_live_subscription(engine) -> None:
    member = create_member(engine).id
    now = datetime(2026, 3, 10, tzinfo=UTC)
    with session_scope(engine) as session:
        plans.sync_plans(session=session, catalog=CATALOG)
        assert (
            plans.current_plan_code(session=session, user_id=member, catalog=CATALOG, now=now)
            == "free"
        )
        session.add(
            Subscription(
                user_id=member,
                plan_code="pro",
                status="active",
                current_period_end=now + timedelta(days=20),
            )
        )
    with session_scope(engine) as session:
        assert session.get(Plan, "pro").monthly_credits == CATALOG.plans["pro"].monthly_credits
        assert (
            plans.current_plan_code(session=session, user_id=member, catalog=CATALOG, now=now)
            == "pro"
        )
        later = now + timedelta(days=21)
        assert (
            plans.current_plan_code(session=session, user_id=member, catalog=CATALOG, now=later)
            == "free"
        )


def test_usage_meters_count_per_month_and_reset(engine) -> None:
    member = create_member(engine).id
    march = datetime(2026, 3, 31, 23, 59, tzinfo=UTC)
    with session_scope(engine) as session:
        plans.record_usage(
            session=session,
            user_id=member,
            metric="exports",
            quantity=3,
            reference="export:1",
            now=march,
        )
        plans.record_usage(
            session=session,
            user_id=member,
            metric="exports",
            quantity=3,
            reference="export:1",
            now=march,
        )
        plans.record_usage(
            session=session,
            user_id=member,
            metric="processing_seconds",
            quantity=61,
            reference="job:1",
            now=march,
        )
        with pytest.raises(InvalidInput):
            plans.record_usage(
                session=session,
                user_id=member,
                metric="exports",
                quantity=0,
                reference="export:2",
                now=march,
            )
    with session_scope(engine) as session:
        usage = plans.usage_this_month(session=session, user_id=member, now=march)
        assert (usage.exports, usage.processing_minutes) == (3, 2)
        assert usage.resets_at == datetime(2026, 4, 1, tzinfo=UTC)
        april = plans.usage_this_month(
            session=session, user_id=member, now=march + timedelta(minutes=2)
        )
        assert (april.exports, april.processing_minutes) == (0, 0)


def test_exports_stop_at_the_monthly_limit(engine) -> None:
    member = create_member(engine).id
    now = datetime(2026, 3, 5, tzinfo=UTC)
    limits = Limits(monthly_exports=2, monthly_minutes=10, hourly_burst=5, concurrent_jobs=1)
    with session_scope(engine) as session:
        plans.record_usage(
            session=session, user_id=member, metric="exports", quantity=2, reference="e", now=now
        )
        with pytest.raises(LimitReached, match="all 2 exports .* resets on 01 April 2026"):
            plans.check_can_export(session=session, user_id=member, limits=limits, now=now)


def add_job(engine, member: int, status: str, created_at: datetime, n: int) -> None:
    with session_scope(engine) as session:
        session.add(
            Generation(
                user_id=member,
                idempotency_key=f"job-{member}-{n}",
                status=status,
                created_at=created_at,
            )
        )


def test_concurrent_and_hourly_limits_say_which_and_when(engine) -> None:
    member = create_member(engine).id
    now = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
    limits = Limits(monthly_exports=0, monthly_minutes=0, hourly_burst=2, concurrent_jobs=1)
    with session_scope(engine) as session:
        plans.take_job_slot(
            session=session, user_id=member, limits=limits, now=now - timedelta(minutes=50)
        )
    add_job(engine, member, "running", now - timedelta(minutes=50), 1)
    with session_scope(engine) as session:
        with pytest.raises(LimitReached, match="1 job at a time") as refused:
            plans.take_job_slot(session=session, user_id=member, limits=limits, now=now)
        assert refused.value.limit == "concurrent_jobs"
    with session_scope(engine) as session:
        for generation in session.exec(select(Generation).where(Generation.user_id == member)):
            generation.status = "succeeded"
            session.add(generation)
        plans.take_job_slot(
            session=session, user_id=member, limits=limits, now=now - timedelta(minutes=20)
        )
    with session_scope(engine) as session:
        with pytest.raises(
            LimitReached, match="at most 2 jobs an hour; the next one can start at 12:10 UTC"
        ) as refused:
            plans.take_job_slot(session=session, user_id=member, limits=limits, now=now)
        assert refused.value.frees_at == now + timedelta(minutes=10)
        plans.take_job_slot(
            session=session, user_id=member, limits=limits, now=now + timedelta(minutes=11)
        )
