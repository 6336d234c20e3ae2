"""The credit ledger, as worked examples: each test reads as 'grant 100, spend 30, 70 left'."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.domain import credits
from dashboard_app.domain.credits import IdempotencyConflict, ReservationSettled
from dashboard_app.domain.errors import InsufficientCredits, InvalidInput, NotFound
from dashboard_app.domain.ledger_check import check_ledger
from dashboard_app.models import CreditAccount, CreditEntry
from dashboard_app.models.base import utcnow
from tests.factories import count_rows, create_member
from tests.support.sql import statements_sent


@pytest.fixture
def member(engine) -> int:
    return create_member(engine).id


def balances(engine, user_id: int) -> tuple[int, int, int, int]:
    with session_scope(engine) as session:
        b = credits.get_balances(session=session, user_id=user_id)
        return b.available, b.reserved, b.lifetime, b.spent


def kinds(engine, user_id: int) -> list[tuple[str, int, int]]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(CreditEntry).where(CreditEntry.user_id == user_id).order_by(CreditEntry.id)
        )
        return [(e.kind, e.amount, e.balance_after) for e in rows]


def run(engine, operation, **kwargs):
    with session_scope(engine) as session:
        return operation(session=session, **kwargs)


def assert_consistent(engine) -> None:
    with session_scope(engine) as session:
        assert [str(p) for p in check_ledger(session=session)] == []


def test_grant_100_then_spend_30_leaves_70(engine, member) -> None:
    run(engine, credits.grant_credits, user_id=member, amount=100, idempotency_key="promo:1")
    run(engine, credits.spend_credits, user_id=member, amount=30, idempotency_key="spend:1")
    assert balances(engine, member) == (70, 0, 100, 30)
    assert kinds(engine, member) == [("grant", 100, 100), ("spend", -30, 70)]
    assert_consistent(engine)


def test_the_same_idempotency_key_twice_gives_one_entry_and_the_first_result(
    engine, member
) -> None:
    first = run(engine, credits.grant_credits, user_id=member, amount=100, idempotency_key="cs_1")
    again = run(engine, credits.grant_credits, user_id=member, amount=999, idempotency_key="cs_1")
    assert again.id == first.id and again.amount == 100
    spend = run(engine, credits.spend_credits, user_id=member, amount=10, idempotency_key="job:1")
    spend_again = run(
        engine, credits.spend_credits, user_id=member, amount=10, idempotency_key="job:1"
    )
    assert spend_again.id == spend.id
    assert balances(engine, member) == (90, 0, 100, 10)
    assert count_rows(engine, CreditEntry, CreditEntry.user_id == member) == 2


def test_a_key_reused_for_another_operation_or_member_is_refused(engine, member) -> None:
    other = create_member(engine).id
    run(engine, credits.grant_credits, user_id=member, amount=5, idempotency_key="k")
    with pytest.raises(IdempotencyConflict):
        run(engine, credits.spend_credits, user_id=member, amount=1, idempotency_key="k")
    with pytest.raises(IdempotencyConflict):
        run(engine, credits.grant_credits, user_id=other, amount=5, idempotency_key="k")
    assert balances(engine, other) == (0, 0, 0, 0)


def test_spending_more_than_available_is_refused_and_changes_nothing(engine, member) -> None:
    run(engine, credits.grant_credits, user_id=member, amount=10, idempotency_key="g")
    with pytest.raises(InsufficientCredits, match="needs 11 credits but only 10 are available"):
        run(engine, credits.spend_credits, user_id=member, amount=11, idempotency_key="s")
    assert balances(engine, member) == (10, 0, 10, 0)
    assert count_rows(engine, CreditEntry, CreditEntry.user_id == member) == 1


@pytest.mark.parametrize("amount", [0, -5, True, 10_000_001, 2.5])
def test_amounts_must_be_positive_whole_numbers(engine, member, amount) -> None:
    with pytest.raises(InvalidInput):
        run(engine, credits.grant_credits, user_id=member, amount=amount, idempotency_key="x")
    assert balances(engine, member) == (0, 0, 0, 0)


def test_keys_and_members_must_exist(engine, member) -> None:
    with pytest.raises(InvalidInput):
        run(engine, credits.grant_credits, user_id=member, amount=1, idempotency_key="")
    with pytest.raises(NotFound):
        run(engine, credits.grant_credits, user_id=987654, amount=1, idempotency_key="y")


def test_spending_uses_the_credits_that_expire_first(engine, member) -> None:
    now = utcnow()
    run(
        engine, credits.grant_credits, user_id=member, amount=50, idempotency_key="forever", now=now
    )
    run(
        engine,
        credits.grant_credits,
        user_id=member,
        amount=20,
        idempotency_key="week",
        expires_at=now + timedelta(days=7),
        now=now,
    )
    run(
        engine,
        credits.grant_credits,
        user_id=member,
        amount=10,
        idempotency_key="day",
        expires_at=now + timedelta(days=1),
        now=now,
    )
    run(engine, credits.spend_credits, user_id=member, amount=15, idempotency_key="s", now=now)
    # 10 came from the one-day lot, 5 from the one-week lot: 15 of the week lot are left.
    with session_scope(engine) as session:
        soonest = credits.next_expiry(session=session, user_id=member, now=now)
    assert soonest is not None and soonest[1] == 15
    # Eight days later the 15 expire through an entry; the never-expiring 50 remain.
    later = now + timedelta(days=8)
    expired = run(engine, credits.expire_credits, user_id=member, now=later)
    assert [e.amount for e in expired] == [-15]
    assert balances(engine, member) == (50, 0, 80, 15)
    assert kinds(engine, member)[-1] == ("expiry", -15, 50)
    assert_consistent(engine)


def test_expired_credits_cannot_be_spent(engine, member) -> None:
    now = utcnow()
    run(
        engine,
        credits.grant_credits,
        user_id=member,
        amount=10,
        idempotency_key="promo",
        expires_at=now + timedelta(hours=1),
        now=now,
    )
    with pytest.raises(InsufficientCredits):
        run(
            engine,
            credits.spend_credits,
            user_id=member,
            amount=1,
            idempotency_key="late",
            now=now + timedelta(hours=2),
        )
    # The refused spend rolled back, expiry included; the next operation records it.
    assert balances(engine, member) == (10, 0, 10, 0)
    run(engine, credits.expire_credits, user_id=member, now=now + timedelta(hours=2))
    assert balances(engine, member) == (0, 0, 10, 0)
    assert_consistent(engine)


def test_grants_cannot_arrive_already_expired(engine, member) -> None:
    with pytest.raises(InvalidInput):
        run(
            engine,
            credits.grant_credits,
            user_id=member,
            amount=5,
            idempotency_key="old",
            expires_at=utcnow() - timedelta(seconds=1),
        )


def test_hold_40_capture_30_returns_10(engine, member) -> None:
    run(engine, credits.grant_credits, user_id=member, amount=100, idempotency_key="g")
    run(engine, credits.reserve_credits, user_id=member, amount=40, reference="job:7")
    assert balances(engine, member) == (60, 40, 100, 0)
    run(engine, credits.capture_reservation, reference="job:7", amount=30)
    assert balances(engine, member) == (70, 0, 100, 30)
    assert [k for k, _, _ in kinds(engine, member)] == ["grant", "reserve", "capture", "release"]
    # Capturing again is a no-op; releasing a captured hold is refused.
    run(engine, credits.capture_reservation, reference="job:7")
    with pytest.raises(ReservationSettled):
        run(engine, credits.release_reservation, reference="job:7")
    assert balances(engine, member) == (70, 0, 100, 30)
    assert_consistent(engine)


def test_a_released_hold_gives_every_credit_back_once(engine, member) -> None:
    run(engine, credits.grant_credits, user_id=member, amount=20, idempotency_key="g")
    run(engine, credits.reserve_credits, user_id=member, amount=20, reference="job:1")
    with pytest.raises(InsufficientCredits):
        run(engine, credits.reserve_credits, user_id=member, amount=1, reference="job:2")
    run(engine, credits.release_reservation, reference="job:1")
    run(engine, credits.release_reservation, reference="job:1")
    assert balances(engine, member) == (20, 0, 20, 0)
    with pytest.raises(ReservationSettled):
        run(engine, credits.capture_reservation, reference="job:1")
    with pytest.raises(NotFound):
        run(engine, credits.release_reservation, reference="job:unknown")
    run(engine, credits.reserve_credits, user_id=member, amount=5, reference="job:3")
    with pytest.raises(InvalidInput, match="Only 5 credits are held for 'job:3'"):
        run(engine, credits.capture_reservation, reference="job:3", amount=6)
    assert balances(engine, member) == (15, 5, 20, 0)
    assert_consistent(engine)


def test_credits_returned_after_their_expiry_leave_through_an_expiry_entry(engine, member) -> None:
    now = utcnow()
    run(
        engine,
        credits.grant_credits,
        user_id=member,
        amount=10,
        idempotency_key="promo",
        expires_at=now + timedelta(hours=1),
        now=now,
    )
    run(engine, credits.reserve_credits, user_id=member, amount=10, reference="job:1", now=now)
    run(engine, credits.release_reservation, reference="job:1", now=now + timedelta(hours=2))
    assert balances(engine, member) == (0, 0, 10, 0)
    assert [k for k, _, _ in kinds(engine, member)] == ["grant", "reserve", "release", "expiry"]
    assert_consistent(engine)


def test_a_refund_claws_back_what_is_left_and_records_the_shortfall(engine, member) -> None:
    run(
        engine,
        credits.grant_credits,
        user_id=member,
        amount=100,
        idempotency_key="cs_1",
        kind="purchase",
    )
    run(engine, credits.spend_credits, user_id=member, amount=70, idempotency_key="s")
    result = run(
        engine,
        credits.claw_back_credits,
        user_id=member,
        amount=100,
        idempotency_key="refund:re_1",
        reason="Refund of order 1",
    )
    assert (result.entry.amount, result.shortfall) == (-30, 70)
    again = run(
        engine,
        credits.claw_back_credits,
        user_id=member,
        amount=100,
        idempotency_key="refund:re_1",
        reason="Refund of order 1",
    )
    assert (again.entry.id, again.shortfall) == (result.entry.id, 70)
    assert balances(engine, member) == (0, 0, 100, 70)
    with session_scope(engine) as session:
        assert session.get(CreditAccount, member).clawback_shortfall == 70
    assert_consistent(engine)


def test_admin_adjustments_add_or_revoke_with_a_reason(engine, member) -> None:
    admin = create_member(engine, role="admin").id
    run(
        engine,
        credits.adjust_credits,
        user_id=member,
        amount=25,
        idempotency_key="adm:1",
        reason="Goodwill",
        actor_user_id=admin,
    )
    run(
        engine,
        credits.adjust_credits,
        user_id=member,
        amount=-5,
        idempotency_key="adm:2",
        reason="Correction",
        actor_user_id=admin,
    )
    with pytest.raises(InsufficientCredits):
        run(
            engine,
            credits.adjust_credits,
            user_id=member,
            amount=-21,
            idempotency_key="adm:3",
            reason="Too much",
            actor_user_id=admin,
        )
    with pytest.raises(InvalidInput):
        run(
            engine,
            credits.adjust_credits,
            user_id=member,
            amount=5,
            idempotency_key="adm:4",
            reason="  ",
            actor_user_id=admin,
        )
    assert balances(engine, member) == (20, 0, 25, 0)
    assert_consistent(engine)


def test_history_pages_stay_correct_while_entries_arrive(engine, member) -> None:
    for i in range(7):
        run(engine, credits.grant_credits, user_id=member, amount=i + 1, idempotency_key=f"g{i}")
    with session_scope(engine) as session:
        first = credits.history(session=session, user_id=member, limit=3)
    assert [e.amount for e in first.entries] == [7, 6, 5]
    run(engine, credits.spend_credits, user_id=member, amount=1, idempotency_key="new")
    with session_scope(engine) as session:
        second = credits.history(
            session=session, user_id=member, limit=3, before_id=first.next_cursor
        )
        third = credits.history(
            session=session, user_id=member, limit=3, before_id=second.next_cursor
        )
        spends = credits.history(session=session, user_id=member, kind="spend")
        with pytest.raises(InvalidInput):
            credits.history(session=session, user_id=member, kind="bogus")
    assert [e.amount for e in second.entries] == [4, 3, 2]
    assert [e.amount for e in third.entries] == [1] and third.next_cursor is None
    assert [e.amount for e in spends.entries] == [-1]


def test_spent_per_day_counts_spends_and_captures(engine, member) -> None:
    now = utcnow()
    run(
        engine,
        credits.grant_credits,
        user_id=member,
        amount=100,
        idempotency_key="g",
        now=now - timedelta(days=3),
    )
    run(
        engine,
        credits.spend_credits,
        user_id=member,
        amount=5,
        idempotency_key="s1",
        now=now - timedelta(days=2),
    )
    run(engine, credits.reserve_credits, user_id=member, amount=8, reference="j", now=now)
    run(engine, credits.capture_reservation, reference="j", amount=6, now=now)
    with session_scope(engine) as session:
        days = credits.spent_per_day(session=session, user_id=member, days=30, now=now)
    assert len(days) == 30 and days[-1] == (now.date(), 6)
    assert dict(days)[(now - timedelta(days=2)).date()] == 5
    assert sum(v for _, v in days) == 11


def test_ledger_check_finds_tampered_balances(engine, member) -> None:
    run(engine, credits.grant_credits, user_id=member, amount=10, idempotency_key="g")
    assert_consistent(engine)
    with session_scope(engine) as session:
        session.exec(text(f"UPDATE credit_accounts SET available = 15 WHERE user_id = {member}"))
    with session_scope(engine) as session:
        problems = [str(p) for p in check_ledger(session=session)]
    assert any("available balance is 15 but its entries add up to 10" in p for p in problems)
    assert any("credit lots hold 10 credits but 15 are available" in p for p in problems)


def shortfall(engine, user_id: int) -> int:
    with session_scope(engine) as session:
        return session.get(CreditAccount, user_id).clawback_shortfall


def test_hold_60_refund_100_release_leaves_nothing_and_no_shortfall(engine, member) -> None:
    run(
        engine,
        credits.grant_credits,
        user_id=member,
        amount=100,
        idempotency_key="cs_1",
        kind="purchase",
    )
    run(engine, credits.reserve_credits, user_id=member, amount=60, reference="job:1")
    result = run(
        engine,
        credits.claw_back_credits,
        user_id=member,
        amount=100,
        idempotency_key="refund:re_1",
        reason="Refund of order 1",
    )
    # 40 are taken now; the 60 held for the job are owed by the hold.
    assert (result.entry.amount, result.shortfall, result.from_holds) == (-40, 0, 60)
    assert balances(engine, member) == (0, 60, 100, 0)
    # The job fails: its 60 credits go to the refund, not back to the member.
    run(engine, credits.release_reservation, reference="job:1")
    assert balances(engine, member) == (0, 0, 100, 0)
    assert shortfall(engine, member) == 0
    assert [k for k, _, _ in kinds(engine, member)] == [
        "purchase",
        "reserve",
        "refund_clawback",
        "release",
        "refund_clawback",
    ]
    assert_consistent(engine)


def test_hold_60_refund_100_capture_45_records_a_shortfall_of_45(engine, member) -> None:
    run(
        engine,
        credits.grant_credits,
        user_id=member,
        amount=100,
        idempotency_key="cs_1",
        kind="purchase",
    )
    run(engine, credits.reserve_credits, user_id=member, amount=60, reference="job:1")
    run(
        engine,
        credits.claw_back_credits,
        user_id=member,
        amount=100,
        idempotency_key="refund:re_1",
        reason="Refund of order 1",
    )
    assert shortfall(engine, member) == 0  # nothing is known to be spent yet
    # The job spends 45 of its 60: the 15 it returns go to the refund, the 45 are the shortfall.
    run(engine, credits.capture_reservation, reference="job:1", amount=45)
    assert balances(engine, member) == (0, 0, 100, 45)
    assert shortfall(engine, member) == 45
    assert_consistent(engine)


def test_a_refund_smaller_than_the_balance_leaves_holds_alone(engine, member) -> None:
    run(engine, credits.grant_credits, user_id=member, amount=100, idempotency_key="g")
    run(engine, credits.reserve_credits, user_id=member, amount=30, reference="job:1")
    result = run(
        engine,
        credits.claw_back_credits,
        user_id=member,
        amount=50,
        idempotency_key="refund:re_1",
        reason="Refund",
    )
    assert (result.entry.amount, result.shortfall, result.from_holds) == (-50, 0, 0)
    run(engine, credits.release_reservation, reference="job:1")
    assert balances(engine, member) == (50, 0, 100, 0)
    assert_consistent(engine)


def test_a_lot_that_expires_twice_gets_two_expiry_entries(engine, member) -> None:
    now = utcnow()
    run(
        engine,
        credits.grant_credits,
        user_id=member,
        amount=10,
        idempotency_key="promo",
        expires_at=now + timedelta(hours=1),
        now=now,
    )
    run(engine, credits.reserve_credits, user_id=member, amount=4, reference="job:1", now=now)
    later = now + timedelta(hours=2)
    run(engine, credits.expire_credits, user_id=member, now=later)  # the 6 not held
    run(engine, credits.release_reservation, reference="job:1", now=later)  # the 4 returned
    assert [(k, a) for k, a, _ in kinds(engine, member) if k == "expiry"] == [
        ("expiry", -6),
        ("expiry", -4),
    ]
    assert balances(engine, member) == (0, 0, 10, 0)
    assert_consistent(engine)


def test_expiring_a_member_s_credits_reads_no_ledger_entries(engine, member) -> None:
    """Expiry runs under the member's account lock: it must not scan the ledger (it used to
    count every expiry entry in the table, of every member, to name the new one)."""
    now = utcnow()
    for i in range(3):
        run(
            engine,
            credits.grant_credits,
            user_id=member,
            amount=5,
            idempotency_key=f"promo:{i}",
            expires_at=now + timedelta(hours=1),
            now=now,
        )
    with statements_sent(engine) as sent:
        expired = run(engine, credits.expire_credits, user_id=member, now=now + timedelta(hours=2))
    assert [e.amount for e in expired] == [-5, -5, -5]
    reads_of_entries = [s for s in sent if s.startswith("SELECT") and "credit_entries" in s]
    assert reads_of_entries == []
    assert_consistent(engine)


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("frozen", "frozen balance is 4 but its entries add up to 0"),
        ("clawback_shortfall", "clawback shortfall is 4 but its entries add up to 0"),
    ],
)
def test_ledger_check_proves_frozen_credits_and_shortfalls_from_the_entries(
    engine, member, column, message
) -> None:
    run(engine, credits.grant_credits, user_id=member, amount=10, idempotency_key="g")
    assert_consistent(engine)
    with session_scope(engine) as session:
        session.exec(text(f"UPDATE credit_accounts SET {column} = 4 WHERE user_id = {member}"))
    with session_scope(engine) as session:
        problems = [str(p) for p in check_ledger(session=session)]
    assert any(message in p for p in problems), problems
