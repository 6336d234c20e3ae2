"""The rest of the panel's rules as worked examples: refunds through the Stripe stand-in (the
clawback follows from the refund event), event replays, jobs, figures, member search, the audit
log and the recorded check runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, admin, billing, credits
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import InvalidInput, PermissionDenied
from dashboard_app.domain.generation import progress, submit
from dashboard_app.models import (
    AuditEntry,
    CreditAccount,
    Generation,
    OperatorCheck,
    Order,
    StripeEvent,
    User,
)
from dashboard_app.models.base import utcnow
from tests.factories import count_rows, create_member
from tests.support.stripe import deliver, make_event, paid_checkout

CATALOG = get_catalog()
STARTER = CATALOG.packs["starter"]


@pytest.fixture
def gateway(stripe_standin):
    return stripe_standin.gateway()


def bought_pack(engine, gateway) -> tuple[int, Order]:
    member = create_member(engine)
    session_id = paid_checkout(engine, gateway, member.id)
    billing.fulfil_checkout(
        engine=engine, gateway=gateway, catalog=CATALOG, checkout_session_id=session_id
    )
    with Session(engine) as session:
        return member.id, session.exec(select(Order).where(Order.user_id == member.id)).one()


def available(engine, user_id: int) -> int:
    with Session(engine) as session:
        return credits.get_balances(session=session, user_id=user_id).available


def test_a_partial_refund_goes_to_stripe_and_the_clawback_follows_its_event(
    engine, gateway
) -> None:
    actor = create_member(engine, role="admin").id
    member, order = bought_pack(engine, gateway)
    half = STARTER.price_cents // 2
    for _ in range(2):  # a double click: one refund at Stripe
        admin.refund_order(
            engine=engine,
            gateway=gateway,
            actor_user_id=actor,
            order_id=order.id,
            amount_cents=half,
            reason="Customer asked within 14 days",
            form_token="refund-form-000001",
        )
    charge = gateway.charge(order.stripe_charge_id)
    assert charge["amount_refunded"] == half
    assert available(engine, member) == STARTER.credits  # nothing taken before Stripe says so
    assert deliver(engine, gateway, make_event("charge.refunded", charge)) == "processed"
    assert available(engine, member) == STARTER.credits - STARTER.credits // 2
    with Session(engine) as session:
        entry = session.exec(
            select(AuditEntry).where(AuditEntry.action == "admin.order_refunded")
        ).one()
        assert entry.actor_user_id == actor and entry.after["amount"] == half


def test_a_refund_over_what_is_left_is_refused_before_stripe_is_asked(engine, gateway) -> None:
    actor = create_member(engine, role="admin").id
    _member, order = bought_pack(engine, gateway)
    with pytest.raises(InvalidInput, match="can still be refunded"):
        admin.refund_order(
            engine=engine,
            gateway=gateway,
            actor_user_id=actor,
            order_id=order.id,
            amount_cents=STARTER.price_cents + 1,
            reason="Too much",
            form_token="refund-form-000002",
        )
    assert gateway.charge(order.stripe_charge_id)["amount_refunded"] == 0
    assert admin.read_money("4.50", "usd") == 450
    for text in ("4.505", "-1", "0", "abc", ""):
        with pytest.raises(InvalidInput):
            admin.read_money(text, "usd")


def test_syncing_a_member_repairs_a_purchase_whose_webhook_never_arrived_once(
    engine, gateway
) -> None:
    actor = create_member(engine, role="admin").id
    member = create_member(engine).id
    paid_checkout(engine, gateway, member)  # paid at Stripe; no webhook reached us
    assert available(engine, member) == 0
    for token in ("sync-form-00000001", "sync-form-00000002"):
        done = admin.sync_member(
            engine=engine,
            gateway=gateway,
            catalog=CATALOG,
            actor_user_id=actor,
            member_id=member,
            reason="Member says the pack never arrived",
            form_token=token,
        )
        assert done.problems == []
    assert available(engine, member) == STARTER.credits
    with pytest.raises(PermissionDenied):
        admin.sync_member(
            engine=engine,
            gateway=gateway,
            catalog=CATALOG,
            actor_user_id=member,
            member_id=member,
            reason="x",
            form_token="sync-form-00000003",
        )


def test_a_failed_event_is_replayed_and_a_processed_one_forced_without_granting_twice(
    engine, gateway
) -> None:
    actor = create_member(engine, role="admin").id
    member, order = bought_pack(engine, gateway)
    checkout = gateway.checkout_session(order.stripe_checkout_session_id)
    event = make_event("checkout.session.completed", checkout)
    assert deliver(engine, gateway, event) == "processed"
    with session_scope(engine) as session:
        row = session.exec(select(StripeEvent)).one()
        row_id = row.id
    with pytest.raises(InvalidInput, match="Force"):
        admin.replay_event(
            engine=engine,
            gateway=gateway,
            catalog=CATALOG,
            actor_user_id=actor,
            event_id=row_id,
            force=False,
            reason="Check",
            form_token="replay-form-000001",
        )
    done = admin.replay_event(
        engine=engine,
        gateway=gateway,
        catalog=CATALOG,
        actor_user_id=actor,
        event_id=row_id,
        force=True,
        reason="Support asked",
        form_token="replay-form-000002",
    )
    assert done.status == "processed"
    assert available(engine, member) == STARTER.credits
    with session_scope(engine) as session:
        page = admin.list_events(session=session, status="processed", kind="checkout.")
        assert [e.id for e in page.events] == [row_id]
        assert admin.list_events(session=session, status="failed").events == []


def job(engine, member: int, key: str) -> int:
    with session_scope(engine) as session:
        return submit.submit_generation(
            session=session,
            user_id=member,
            catalog=CATALOG,
            idempotency_key=key,
            topic="Calm mornings",
            platform="tiktok",
            preset="neon",
            format="video",
            variants=1,
        ).generation.id


def test_jobs_are_cancelled_with_credits_back_and_failed_ones_retried(engine) -> None:
    actor = create_member(engine, role="admin").id
    member = create_member(engine, credits_granted=500).id
    running = job(engine, member, "admin-job-0001")
    with session_scope(engine) as session:
        done = admin.cancel_job(
            session=session,
            actor_user_id=actor,
            generation_id=running,
            reason="Stuck",
            form_token="job-form-00000001",
        )
    assert done.workflow_ids
    assert available(engine, member) == 500
    failed = job(engine, member, "admin-job-0002")
    with session_scope(engine) as session:
        gen = session.get(Generation, failed)
        progress.fail_generation(
            session=session, generation_id=failed, attempt=gen.attempt, error="Renderer crashed"
        )
    with session_scope(engine) as session:
        figures = admin.queue_figures(session=session)
        assert figures.failed_24h == 1 and figures.queued == 0
        done = admin.retry_job(
            session=session,
            actor_user_id=actor,
            generation_id=failed,
            catalog=CATALOG,
            reason="Renderer fixed",
            form_token="job-form-00000002",
        )
        assert done.generation.status == "queued" and done.generation.attempt == 2
    with session_scope(engine) as session:
        assert admin.queue_figures(session=session).queued == 1
        with pytest.raises(PermissionDenied):
            admin.retry_job(
                session=session,
                actor_user_id=member,
                generation_id=failed,
                catalog=CATALOG,
                reason="x",
                form_token="job-form-00000003",
            )


def test_the_figures_count_each_period_from_the_days(engine) -> None:
    now = utcnow()
    member = create_member(engine).id
    old = create_member(engine).id
    with session_scope(engine) as session:
        session.get(User, old).created_at = now - timedelta(days=10)
        for key, amount, when in (
            ("today", 100, now),
            ("week", 30, now - timedelta(days=3)),
            ("month", 7, now - timedelta(days=20)),
            ("older", 1000, now - timedelta(days=45)),
        ):
            credits.grant_credits(
                session=session,
                user_id=member,
                amount=amount,
                idempotency_key=f"figures:{key}",
                now=when,
            )
        credits.spend_credits(
            session=session, user_id=member, amount=12, idempotency_key="figures:spend", now=now
        )
        session.add(
            Order(
                user_id=member,
                kind="pack",
                status="paid",
                amount_total=900,
                created_at=now - timedelta(days=2),
            )
        )
    with session_scope(engine) as session:
        figures = admin.overview_figures(session=session, now=now)
    today, week, month = figures.periods
    assert (today.granted, week.granted, month.granted) == (100, 130, 137)
    assert (today.spent, month.spent) == (12, 12)
    assert (today.signups, week.signups, month.signups) == (1, 1, 2)
    assert (today.revenue, week.revenue, week.paying_members) == (0, 900, 1)
    assert len(figures.days) == 30 and figures.days[-1].granted == 100


def test_members_are_found_by_email_or_name_and_filtered(engine) -> None:
    ada = create_member(engine, display_name="Ada Lovelace").id
    bob = create_member(engine, display_name="Bob Builder", role="admin").id
    with session_scope(engine) as session:
        session.get(User, ada).billing_flag = "Payment of order #1 disputed (fraudulent)"
    with session_scope(engine) as session:
        accounts.suspend_member(
            session=session, user=session.get(User, bob), reason="x", actor_user_id=None
        )

    def find(**filters) -> list[int]:
        with session_scope(engine) as session:
            page = admin.search_members(
                session=session, filters=admin.MemberFilters(**filters), catalog=CATALOG
            )
            return [row.id for row in page.rows]

    assert find(text="lovelace") == [ada]
    assert find(text="ADA LOVE") == [ada]
    assert find(text=f"#{bob}") == [bob]
    assert find(role="admin") == [bob]
    assert find(status="suspended") == [bob]
    assert find(flag="dispute") == [ada]
    assert set(find(plan="free")) == {ada, bob}
    assert find(plan="pro") == []
    with pytest.raises(InvalidInput):
        find(status="gone")
    with session_scope(engine) as session:
        first = admin.search_members(
            session=session, filters=admin.MemberFilters(), catalog=CATALOG, limit=1
        )
        second = admin.search_members(
            session=session,
            filters=admin.MemberFilters(),
            catalog=CATALOG,
            limit=1,
            before_id=first.next_cursor,
        )
    assert [r.id for r in first.rows] == [bob] and [r.id for r in second.rows] == [ada]


def test_the_audit_log_filters_and_exports_with_personal_values_opened(engine) -> None:
    actor = create_member(engine, role="admin")
    member = create_member(engine, display_name="Carla Member", credits_granted=10)
    with session_scope(engine) as session:
        admin.grant_credits(
            session=session,
            actor_user_id=actor.id,
            member_id=member.id,
            amount=5,
            reason="Thanks",
            form_token="audit-form-000001",
        )
    with session_scope(engine) as session:
        page = admin.search_audit(
            session=session, filters=admin.AuditFilters(actor=actor.email, action="admin.")
        )
        assert [r.action for r in page.records] == ["admin.credits_granted"]
        assert page.emails[member.id] == member.email
        everything = admin.search_audit(
            session=session, filters=admin.AuditFilters(member=f"#{member.id}")
        )
        assert {r.action for r in everything.records} >= {"user.created", "admin.credits_granted"}
        assert (
            admin.search_audit(
                session=session, filters=admin.AuditFilters(actor="nobody@example.com")
            ).records
            == []
        )
        filters = admin.read_audit_filters(member=member.email, since="2020-01-01")
        rows, more = admin.csv_batch(session=session, filters=filters)
    assert more is None and len(rows) >= 2
    assert any(member.email in row[6] for row in rows)  # the creation entry, opened
    with pytest.raises(InvalidInput, match="YYYY-MM-DD"):
        admin.read_audit_filters(since="yesterday")


def test_check_runs_are_recorded_with_their_result(engine) -> None:
    actor = create_member(engine, role="admin").id
    member = create_member(engine, credits_granted=10).id
    row, problems = admin.run_ledger_check(engine=engine, source="admin", actor_user_id=actor)
    assert row.ok and problems == []
    with session_scope(engine) as session:
        session.get(CreditAccount, member).available = 11  # out of step with its entries
    row, problems = admin.run_ledger_check(engine=engine, source="cli")
    assert not row.ok and problems
    with session_scope(engine) as session:
        latest = admin.latest_checks(session=session)["ledger_check"]
        assert latest.id == row.id and latest.source == "cli" and not latest.ok
    assert count_rows(engine, OperatorCheck) == 2
    with pytest.raises(PermissionDenied):
        admin.run_ledger_check(engine=engine, source="admin", actor_user_id=member)
    assert count_rows(engine, OperatorCheck) == 2
