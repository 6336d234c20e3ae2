"""What an admin does to a member, as worked examples: each checks the actor in the database,
needs a reason, happens once per form however often it is sent, and leaves an audit entry with
who, before, after and the reason. Bad input changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, admin, credits, plans
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import (
    InsufficientCredits,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from dashboard_app.models import AuditEntry, Boost, CreditEntry, Subscription, User, UserSession
from dashboard_app.models.base import utcnow
from tests.factories import count_rows, create_member

CATALOG = get_catalog()
FORM = "form-token-0001-abcdef"


@pytest.fixture
def cast(engine):
    actor = create_member(engine, role="admin", display_name="Ada Admin")
    member = create_member(engine, display_name="Mo Member", credits_granted=100)
    return actor.id, member.id


def act(engine, function, **kwargs):
    with session_scope(engine) as session:
        return function(session=session, **kwargs)


def audit_of(engine, member_id: int, action: str) -> list[AuditEntry]:
    with session_scope(engine) as session:
        return list(
            session.exec(
                select(AuditEntry).where(
                    AuditEntry.subject_user_id == member_id, AuditEntry.action == action
                )
            )
        )


def available(engine, member_id: int) -> int:
    with session_scope(engine) as session:
        return credits.get_balances(session=session, user_id=member_id).available


def test_a_grant_adds_credits_once_per_form_and_is_audited_with_before_after_and_reason(
    engine, cast
) -> None:
    actor, member = cast
    for _ in range(3):  # a triple click sends the same form three times
        result = act(
            engine,
            admin.grant_credits,
            actor_user_id=actor,
            member_id=member,
            amount=250,
            reason="Goodwill after an outage",
            form_token=FORM,
        )
    assert available(engine, member) == 350
    assert result.repeated is True
    (entry,) = audit_of(engine, member, "admin.credits_granted")
    assert entry.actor_user_id == actor
    assert entry.before == {"available": 100}
    assert entry.after["available"] == 350
    assert entry.after["amount"] == 250
    assert entry.after["reason"] == "Goodwill after an outage"
    with session_scope(engine) as session:
        ledger = session.exec(
            select(CreditEntry).where(CreditEntry.user_id == member, CreditEntry.kind == "grant")
        ).all()
        assert [(e.amount, e.actor_user_id) for e in ledger][-1] == (250, actor)


def test_a_revoke_takes_available_credits_and_never_below_zero(engine, cast) -> None:
    actor, member = cast
    act(
        engine,
        admin.revoke_credits,
        actor_user_id=actor,
        member_id=member,
        amount=40,
        reason="Granted twice by mistake",
        form_token=FORM,
    )
    assert available(engine, member) == 60
    with pytest.raises(InsufficientCredits):
        act(
            engine,
            admin.revoke_credits,
            actor_user_id=actor,
            member_id=member,
            amount=61,
            reason="Too much",
            form_token="form-token-0002-abcdef",
        )
    assert available(engine, member) == 60
    assert len(audit_of(engine, member, "admin.credits_revoked")) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-5", "positive whole number"),
        ("0", "positive whole number"),
        ("2.5", "whole number"),
        ("1e3", "whole number"),
        ("", "Enter"),
        ("99999999999", "At most"),
        ("twelve", "whole number"),
    ],
)
def test_credit_amounts_are_whole_positive_numbers_within_the_limit(text, message) -> None:
    with pytest.raises(InvalidInput, match=message):
        admin.read_credit_amount(text)


def test_amounts_read_from_a_form(cast) -> None:
    assert admin.read_credit_amount(" 1,500 ") == 1500
    assert admin.read_credit_amount("7") == 7


def test_a_reason_is_required_and_nothing_changes_without_one(engine, cast) -> None:
    actor, member = cast
    for reason in ("", "   ", "x" * 501):
        with pytest.raises(InvalidInput, match="reason"):
            act(
                engine,
                admin.grant_credits,
                actor_user_id=actor,
                member_id=member,
                amount=5,
                reason=reason,
                form_token=FORM,
            )
    assert available(engine, member) == 100
    assert audit_of(engine, member, "admin.credits_granted") == []


def test_only_an_active_admin_in_the_database_can_act(engine, cast) -> None:
    actor, member = cast
    plain = create_member(engine).id
    suspended = create_member(engine, role="admin").id
    demoted = create_member(engine, role="admin").id
    with session_scope(engine) as session:
        accounts.suspend_member(
            session=session,
            user=session.get(User, suspended),
            reason="Left the company",
            actor_user_id=actor,
        )
        accounts.set_role(
            session=session, user=session.get(User, demoted), role="member", actor_user_id=actor
        )
    for who in (None, plain, suspended, demoted, 999_999):
        with pytest.raises(PermissionDenied):
            act(
                engine,
                admin.grant_credits,
                actor_user_id=who,
                member_id=member,
                amount=5,
                reason="Sneaky",
                form_token=FORM,
            )
    assert available(engine, member) == 100


def test_acting_on_a_deleted_or_unknown_member_is_refused(engine, cast) -> None:
    actor, member = cast
    with session_scope(engine) as session:
        session.get(User, member).deleted_at = utcnow()
    with pytest.raises(InvalidInput, match="deleted"):
        act(
            engine,
            admin.grant_credits,
            actor_user_id=actor,
            member_id=member,
            amount=5,
            reason="Too late",
            form_token=FORM,
        )
    with pytest.raises(NotFound):
        act(
            engine,
            admin.suspend_member,
            actor_user_id=actor,
            member_id=123_456,
            reason="Nobody",
            form_token=FORM,
        )
    assert available(engine, member) == 100


def test_a_boost_starts_once_per_form(engine, cast) -> None:
    actor, member = cast
    for _ in range(2):
        act(
            engine,
            admin.grant_boost,
            actor_user_id=actor,
            member_id=member,
            boost_code="pro_boost",
            reason="Launch week",
            form_token=FORM,
            catalog=CATALOG,
        )
    assert count_rows(engine, Boost, Boost.user_id == member) == 1
    with pytest.raises(InvalidInput, match="boost"):
        act(
            engine,
            admin.grant_boost,
            actor_user_id=actor,
            member_id=member,
            boost_code="mega",
            reason="x",
            form_token="form-token-0003-abcdef",
            catalog=CATALOG,
        )
    assert len(audit_of(engine, member, "admin.boost_granted")) == 1


def test_a_comped_plan_applies_until_its_end_and_can_be_ended(engine, cast) -> None:
    actor, member = cast
    act(
        engine,
        admin.comp_plan,
        actor_user_id=actor,
        member_id=member,
        plan_code="pro",
        days=30,
        reason="Partner account",
        form_token=FORM,
        catalog=CATALOG,
    )
    with session_scope(engine) as session:
        assert plans.current_plan_code(session=session, user_id=member, catalog=CATALOG) == "pro"
        comp = session.exec(select(Subscription).where(Subscription.user_id == member)).one()
        assert comp.stripe_subscription_id is None
        assert comp.current_period_end > utcnow() + timedelta(days=29)
    act(
        engine,
        admin.comp_plan,
        actor_user_id=actor,
        member_id=member,
        plan_code="free",
        days=0,
        reason="Partnership over",
        form_token="form-token-0004-abcdef",
        catalog=CATALOG,
    )
    with session_scope(engine) as session:
        assert plans.current_plan_code(session=session, user_id=member, catalog=CATALOG) == "free"
    assert len(audit_of(engine, member, "admin.plan_comped")) == 2
    for plan, days in (("gold", 30), ("pro", 0), ("pro", 400)):
        with pytest.raises(InvalidInput):
            act(
                engine,
                admin.comp_plan,
                actor_user_id=actor,
                member_id=member,
                plan_code=plan,
                days=days,
                reason="x",
                form_token="form-token-0005-abcdef",
                catalog=CATALOG,
            )


def test_a_member_paying_through_stripe_is_not_comped(engine, cast) -> None:
    actor, member = cast
    with session_scope(engine) as session:
        plans.sync_plans(session=session, catalog=CATALOG)
        session.add(
            Subscription(
                user_id=member,
                plan_code="pro",
                stripe_subscription_id="sub_paid_1",
                status="active",
                current_period_end=utcnow() + timedelta(days=20),
            )
        )
    with pytest.raises(InvalidInput, match="Stripe"):
        act(
            engine,
            admin.comp_plan,
            actor_user_id=actor,
            member_id=member,
            plan_code="pro",
            days=30,
            reason="x",
            form_token=FORM,
            catalog=CATALOG,
        )


def test_suspend_ends_sessions_and_reinstate_lifts_it(engine, cast) -> None:
    actor, member = cast
    policy = accounts.SessionPolicy("k" * 40, timedelta(hours=1), timedelta(days=1))
    with session_scope(engine) as session:
        accounts.start_session(session=session, user=session.get(User, member), policy=policy)
    act(
        engine,
        admin.suspend_member,
        actor_user_id=actor,
        member_id=member,
        reason="Chargeback fraud",
        form_token=FORM,
    )
    live = count_rows(
        engine, UserSession, UserSession.user_id == member, UserSession.revoked_at.is_(None)
    )
    assert live == 0
    with session_scope(engine) as session:
        assert session.get(User, member).status == "suspended"
    with pytest.raises(InvalidInput, match="already suspended"):
        act(
            engine,
            admin.suspend_member,
            actor_user_id=actor,
            member_id=member,
            reason="Again",
            form_token="form-token-0006-abcdef",
        )
    act(
        engine,
        admin.reinstate_member,
        actor_user_id=actor,
        member_id=member,
        reason="Bank confirmed",
        form_token="form-token-0007-abcdef",
    )
    with session_scope(engine) as session:
        assert session.get(User, member).status == "active"
    (entry,) = audit_of(engine, member, "admin.member_suspended")
    assert entry.before == {"status": "active"} and entry.after["status"] == "suspended"


def test_an_admin_cannot_suspend_themselves(engine, cast) -> None:
    actor, _member = cast
    with pytest.raises(InvalidInput, match="yourself"):
        act(
            engine,
            admin.suspend_member,
            actor_user_id=actor,
            member_id=actor,
            reason="Oops",
            form_token=FORM,
        )


def test_ending_sessions_and_clearing_a_flag(engine, cast) -> None:
    actor, member = cast
    policy = accounts.SessionPolicy("k" * 40, timedelta(hours=1), timedelta(days=1))
    with session_scope(engine) as session:
        for _ in range(2):
            accounts.start_session(session=session, user=session.get(User, member), policy=policy)
        session.get(User, member).billing_flag = "Payment of order #3 disputed (fraudulent)"
    result = act(
        engine,
        admin.end_member_sessions,
        actor_user_id=actor,
        member_id=member,
        reason="Lost phone",
        form_token=FORM,
    )
    assert "2" in result.message
    act(
        engine,
        admin.clear_billing_flag,
        actor_user_id=actor,
        member_id=member,
        reason="Dispute withdrawn by the bank",
        form_token="form-token-0008-abcdef",
    )
    with session_scope(engine) as session:
        assert session.get(User, member).billing_flag is None
    (entry,) = audit_of(engine, member, "admin.billing_flag_cleared")
    assert entry.before == {"billing_flag": "Payment of order #3 disputed (fraudulent)"}
    with pytest.raises(InvalidInput, match="no billing flag"):
        act(
            engine,
            admin.clear_billing_flag,
            actor_user_id=actor,
            member_id=member,
            reason="Again",
            form_token="form-token-0009-abcdef",
        )


def test_promote_and_demote_but_never_the_last_admin_nor_yourself(engine, cast) -> None:
    actor, member = cast
    act(
        engine,
        admin.set_member_role,
        actor_user_id=actor,
        member_id=member,
        role="admin",
        reason="New support lead",
        form_token=FORM,
    )
    with pytest.raises(InvalidInput, match="yourself"):
        act(
            engine,
            admin.set_member_role,
            actor_user_id=actor,
            member_id=actor,
            role="member",
            reason="Stepping down",
            form_token="form-token-0010-abcdef",
        )
    # The new admin removes the first one: allowed, one active admin is left.
    act(
        engine,
        admin.set_member_role,
        actor_user_id=member,
        member_id=actor,
        role="member",
        reason="Handover",
        form_token="form-token-0011-abcdef",
    )
    with session_scope(engine) as session:
        assert session.get(User, actor).role == "member"
        assert session.get(User, member).role == "admin"
    with pytest.raises(InvalidInput, match="role"):
        act(
            engine,
            admin.set_member_role,
            actor_user_id=member,
            member_id=actor,
            role="owner",
            reason="x",
            form_token="form-token-0012-abcdef",
        )


def test_the_last_active_admin_is_never_demoted(engine) -> None:
    first = create_member(engine, role="admin").id
    second = create_member(engine, role="admin").id
    with session_scope(engine) as session:
        # The second admin is suspended: the first is the last active one.
        accounts.suspend_member(
            session=session, user=session.get(User, second), reason="Away", actor_user_id=first
        )
    helper = create_member(engine).id
    with session_scope(engine) as session:
        accounts.set_role(
            session=session, user=session.get(User, helper), role="admin", actor_user_id=first
        )
        accounts.suspend_member(
            session=session, user=session.get(User, helper), reason="x", actor_user_id=first
        )
    # Nobody but the first can act, and they may not demote themselves: the count check is what
    # stands behind the self check, proven directly.
    with session_scope(engine) as session:
        with pytest.raises(InvalidInput, match="last active admin"):
            admin.account_actions.refuse_last_admin(session=session, member_id=first)
