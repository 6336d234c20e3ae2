"""The lean spend and freeze: a few plain statements for the ordinary case, with the careful
path's guarantees (expiring-first, expiry first, idempotency, no overspend) whatever the lots."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.domain import credits
from dashboard_app.domain.errors import InsufficientCredits
from dashboard_app.domain.ledger_check import check_ledger
from dashboard_app.models import CreditAccount, CreditEntry, CreditLot
from dashboard_app.models.base import utcnow
from tests.factories import count_rows, create_member
from tests.support.sql import statements_sent


def grant_lots(engine, member: int, count: int, now) -> None:
    """`count` lots of 10 credits expiring a day apart, the latest first, plus 5 that never
    expire."""
    with session_scope(engine) as session:
        credits.grant_credits(
            session=session, user_id=member, amount=5, idempotency_key=f"forever:{member}", now=now
        )
        for day in range(count, 0, -1):
            credits.grant_credits(
                session=session,
                user_id=member,
                amount=10,
                idempotency_key=f"lot:{member}:{day}",
                expires_at=now + timedelta(days=day),
                now=now,
            )


def spend(engine, member: int, amount: int, key: str, now=None) -> CreditEntry:
    with session_scope(engine) as session:
        return credits.spend_credits(
            session=session, user_id=member, amount=amount, idempotency_key=key, now=now
        )


def remaining_by_expiry(engine, member: int) -> list[int]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(CreditLot)
            .where(CreditLot.user_id == member)
            .order_by(CreditLot.expires_at.is_(None), CreditLot.expires_at)  # type: ignore[union-attr]
        )
        return [lot.remaining for lot in rows]


def assert_consistent(engine) -> None:
    with session_scope(engine) as session:
        assert [str(p) for p in check_ledger(session=session)] == []


@pytest.mark.parametrize("lots", [1, 20])
def test_a_spend_sends_three_statements_or_two_with_one_or_twenty_live_lots(engine, lots) -> None:
    now = utcnow()
    member = create_member(engine).id
    grant_lots(engine, member, lots, now)
    with statements_sent(engine) as sent:
        entry = spend(engine, member, 3, "quick:1", now=now)
    work = [s for s in sent if s.split()[0] not in ("BEGIN", "COMMIT", "SELECT")]
    reads = [s for s in sent if s.startswith("SELECT") and s != "SELECT 1"]  # pre-ping
    # PostgreSQL draws from the lots and writes the entry in one statement.
    expected = (
        ["UPDATE", "WITH"] if engine.dialect.name == "postgresql" else ["UPDATE", "WITH", "INSERT"]
    )
    assert [s.split()[0] for s in work] == expected, sent
    assert reads == []
    assert (entry.amount, entry.balance_after, entry.kind) == (-3, 10 * lots + 2, "spend")


def test_twenty_lots_give_their_credits_soonest_expiry_first_across_lots(engine) -> None:
    now = utcnow()
    member = create_member(engine).id
    grant_lots(engine, member, 20, now)
    spend(engine, member, 25, "across", now=now)  # 10 + 10 + 5 of the three soonest lots
    assert remaining_by_expiry(engine, member) == [0, 0, 5] + [10] * 17 + [5]
    spend(engine, member, 175, "all-expiring", now=now)  # every expiring lot, then none left
    assert remaining_by_expiry(engine, member) == [0] * 20 + [5]
    spend(engine, member, 5, "forever", now=now)
    with pytest.raises(InsufficientCredits):
        spend(engine, member, 1, "none-left", now=now)
    assert remaining_by_expiry(engine, member) == [0] * 21
    assert_consistent(engine)


def test_credits_due_to_expire_leave_before_a_spend_and_are_not_spent(engine) -> None:
    now = utcnow()
    member = create_member(engine).id
    grant_lots(engine, member, 3, now)  # 10 expire tomorrow, 10 the day after, 10 after that
    later = now + timedelta(days=1, hours=1)
    entry = spend(engine, member, 4, "after-a-day", now=later)
    with session_scope(engine) as session:
        rows = session.exec(
            select(CreditEntry).where(CreditEntry.user_id == member).order_by(CreditEntry.id)
        ).all()
        assert [(e.kind, e.amount, e.balance_after) for e in rows][-2:] == [
            ("expiry", -10, 25),
            ("spend", -4, 21),
        ]
    assert entry.balance_after == 21
    assert remaining_by_expiry(engine, member) == [0, 6, 10, 5]
    assert_consistent(engine)


def test_a_repeated_key_returns_the_first_entry_and_writes_nothing(engine) -> None:
    member = create_member(engine, credits_granted=10).id
    first = spend(engine, member, 4, "again")
    with statements_sent(engine) as sent:
        second = spend(engine, member, 4, "again")
    assert second.id == first.id and second.balance_after == 6
    assert not [s for s in sent if s.startswith("INSERT")]
    assert count_rows(engine, CreditEntry, CreditEntry.user_id == member) == 2
    with session_scope(engine) as session:
        assert credits.get_balances(session=session, user_id=member).available == 6


def test_a_session_that_read_the_account_sees_the_spend(engine) -> None:
    member = create_member(engine, credits_granted=10).id
    with session_scope(engine) as session:
        account = session.get(CreditAccount, member)
        assert account is not None and account.available == 10
        entry = credits.spend_credits(
            session=session, user_id=member, amount=3, idempotency_key="seen"
        )
        assert session.get(CreditAccount, member).available == 7  # type: ignore[union-attr]
        assert session.get(CreditEntry, entry.id) is entry
    assert_consistent(engine)


def test_twenty_requests_racing_with_one_key_spend_once(engine) -> None:
    member = create_member(engine, credits_granted=100).id
    barrier = threading.Barrier(20)

    def attempt(_: int) -> tuple[int | None, int]:
        barrier.wait()
        entry = spend(engine, member, 7, "one-key")
        return entry.id, entry.balance_after

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(attempt, range(20)))
    assert len(set(results)) == 1 and results[0][1] == 93
    assert count_rows(engine, CreditEntry, CreditEntry.idempotency_key == "one-key") == 1
    with session_scope(engine) as session:
        balances = credits.get_balances(session=session, user_id=member)
        assert (balances.available, balances.spent) == (93, 7)
    assert_consistent(engine)


def freeze(engine, member: int, amount: int, reference: str, now=None) -> int:
    with session_scope(engine) as session:
        return credits.freeze_credits(
            session=session, user_id=member, amount=amount, reference=reference, reason="", now=now
        )


def test_a_freeze_reads_two_rows_writes_each_once_and_thaws_back(engine) -> None:
    now = utcnow()
    member = create_member(engine).id
    grant_lots(engine, member, 20, now)
    with statements_sent(engine) as sent:
        assert freeze(engine, member, 25, "dispute:dp_1", now=now) == 25
    work = [
        s.split()[0] for s in sent if s.split()[0] not in ("BEGIN", "COMMIT") and s != "SELECT 1"
    ]
    assert work == ["SELECT", "SELECT", "UPDATE", "UPDATE", "UPDATE", "UPDATE", "INSERT", "INSERT"]
    assert remaining_by_expiry(engine, member) == [0, 0, 5] + [10] * 17 + [5]
    with session_scope(engine) as session:
        balances = credits.get_balances(session=session, user_id=member)
        assert (balances.available, balances.frozen) == (180, 25)
        assert credits.thaw_credits(session=session, reference="dispute:dp_1", now=now) == 25
    assert remaining_by_expiry(engine, member) == [10] * 20 + [5]
    assert_consistent(engine)


def test_a_freeze_of_more_than_is_available_freezes_what_there_is_once(engine) -> None:
    member = create_member(engine, credits_granted=30).id
    assert freeze(engine, member, 500, "dispute:dp_2") == 30
    assert freeze(engine, member, 500, "dispute:dp_2") == 30
    kinds = CreditEntry.user_id == member
    assert count_rows(engine, CreditEntry, kinds, CreditEntry.kind == "freeze") == 1
    with session_scope(engine) as session:
        balances = credits.get_balances(session=session, user_id=member)
        assert (balances.available, balances.frozen) == (0, 30)
    assert_consistent(engine)


def test_credits_due_to_expire_leave_before_a_freeze(engine) -> None:
    now = utcnow()
    member = create_member(engine).id
    grant_lots(engine, member, 3, now)
    assert freeze(engine, member, 100, "dispute:dp_3", now=now + timedelta(days=1, hours=1)) == 25
    with session_scope(engine) as session:
        rows = session.exec(
            select(CreditEntry).where(CreditEntry.user_id == member).order_by(CreditEntry.id)
        ).all()
        assert [(e.kind, e.amount) for e in rows][-2:] == [("expiry", -10), ("freeze", -25)]
    assert_consistent(engine)


def test_twenty_requests_racing_to_freeze_one_reference_freeze_once(engine) -> None:
    member = create_member(engine, credits_granted=100).id
    barrier = threading.Barrier(20)

    def attempt(_: int) -> int:
        barrier.wait()
        return freeze(engine, member, 60, "dispute:dp_race")

    with ThreadPoolExecutor(max_workers=20) as pool:
        assert list(pool.map(attempt, range(20))) == [60] * 20
    with session_scope(engine) as session:
        balances = credits.get_balances(session=session, user_id=member)
        assert (balances.available, balances.frozen) == (40, 60)
    assert_consistent(engine)
