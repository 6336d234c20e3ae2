"""The money rule under concurrency: racing requests never overdraw and never grant twice."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from dashboard_app.db import session_scope
from dashboard_app.domain import credits
from dashboard_app.domain.errors import InsufficientCredits
from dashboard_app.domain.ledger_check import check_ledger
from dashboard_app.models import CreditEntry
from tests.factories import count_rows, create_member


def race(count: int, action) -> list[object]:
    """Start `count` calls of `action(i)` at the same moment on their own threads."""
    barrier = threading.Barrier(count)

    def attempt(i: int) -> object:
        barrier.wait()
        try:
            return action(i)
        except InsufficientCredits as refused:
            return refused

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(attempt, range(count)))


def test_fifty_simultaneous_spends_of_one_against_ten_give_exactly_ten(engine) -> None:
    member = create_member(engine, credits_granted=10).id

    def spend(i: int) -> object:
        with session_scope(engine) as session:
            return credits.spend_credits(
                session=session, user_id=member, amount=1, idempotency_key=f"race:{i}"
            ).id

    results = race(50, spend)
    refused = [r for r in results if isinstance(r, InsufficientCredits)]
    assert len(results) - len(refused) == 10
    assert len(refused) == 40
    with session_scope(engine) as session:
        assert credits.get_balances(session=session, user_id=member).available == 0
    with session_scope(engine) as session:
        assert check_ledger(session=session) == []


def test_simultaneous_holds_never_overdraw(engine) -> None:
    member = create_member(engine, credits_granted=10).id

    def hold(i: int) -> object:
        with session_scope(engine) as session:
            return credits.reserve_credits(
                session=session, user_id=member, amount=3, reference=f"job:{i}"
            ).id

    results = race(20, hold)
    assert sum(not isinstance(r, InsufficientCredits) for r in results) == 3
    with session_scope(engine) as session:
        balances = credits.get_balances(session=session, user_id=member)
        assert (balances.available, balances.reserved) == (1, 9)
    with session_scope(engine) as session:
        assert check_ledger(session=session) == []


def test_the_same_grant_racing_with_itself_lands_once(engine) -> None:
    member = create_member(engine).id

    def grant(_: int) -> object:
        with session_scope(engine) as session:
            return credits.grant_credits(
                session=session, user_id=member, amount=500, idempotency_key="cs_test_same"
            ).id

    ids = race(20, grant)
    assert len(set(ids)) == 1
    assert count_rows(engine, CreditEntry, CreditEntry.user_id == member) == 1
    with session_scope(engine) as session:
        assert credits.get_balances(session=session, user_id=member).available == 500
