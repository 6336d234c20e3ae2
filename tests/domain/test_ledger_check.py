"""`ledger check` reads one consistent snapshot: writers running beside it cause no false
problems, a real one is still found, and its cost does not grow with a query per member."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

from dashboard_app.db import session_scope
from dashboard_app.domain import credits
from dashboard_app.domain.ledger_check import check_ledger
from tests.factories import create_member
from tests.support.servers import wait_for
from tests.support.sql import statements_sent


def problems(engine) -> list[str]:
    with session_scope(engine) as session:
        return [str(p) for p in check_ledger(session=session)]


def test_the_check_sends_as_many_statements_for_eight_members_as_for_two(engine) -> None:
    def busy_member() -> None:
        member = create_member(engine, credits_granted=50).id
        with session_scope(engine) as session:
            credits.spend_credits(
                session=session, user_id=member, amount=5, idempotency_key=f"s{member}"
            )
            credits.reserve_credits(
                session=session, user_id=member, amount=5, reference=f"j{member}"
            )

    for _ in range(2):
        busy_member()
    with statements_sent(engine) as few:
        assert problems(engine) == []
    for _ in range(6):
        busy_member()
    with statements_sent(engine) as many:
        assert problems(engine) == []
    assert len(many) == len(few), many


def test_the_check_beside_busy_writers_finds_only_the_real_problem(engine) -> None:
    writers = [create_member(engine, credits_granted=100_000).id for _ in range(3)]
    victim = create_member(engine, credits_granted=10).id
    stop = threading.Event()
    writes = [0] * len(writers)

    def write(n: int) -> None:
        member, i = writers[n], 0
        while not stop.is_set():
            i += 1
            with session_scope(engine) as session:
                credits.grant_credits(
                    session=session, user_id=member, amount=3, idempotency_key=f"w{member}:{i}"
                )
            with session_scope(engine) as session:
                credits.spend_credits(
                    session=session, user_id=member, amount=1, idempotency_key=f"s{member}:{i}"
                )
                credits.reserve_credits(
                    session=session, user_id=member, amount=2, reference=f"j{member}:{i}"
                )
            with session_scope(engine) as session:
                credits.capture_reservation(session=session, reference=f"j{member}:{i}", amount=1)
            writes[n] = i

    with ThreadPoolExecutor(max_workers=len(writers)) as pool:
        running = [pool.submit(write, n) for n in range(len(writers))]
        try:
            wait_for(lambda: min(writes) >= 3, timeout=60, what="every writer to be writing")
            for _ in range(25):
                written = sum(writes)
                assert problems(engine) == []
                wait_for(lambda w=written: sum(writes) > w, timeout=30, what="more writes")

            # A real problem: balances are not append-only, so an UPDATE can break one.
            with session_scope(engine) as session:
                session.exec(
                    text(
                        "UPDATE credit_accounts SET available = available + 5 "
                        f"WHERE user_id = {victim}"
                    )
                )
            for _ in range(10):
                written = sum(writes)
                found = problems(engine)
                assert any(
                    f"member {victim} " in p
                    and "available balance is 15 but its entries add up to 10" in p
                    for p in found
                ), found
                assert all(f"member {victim} " in p for p in found), found
                wait_for(lambda w=written: sum(writes) > w, timeout=30, what="more writes")
        finally:
            stop.set()
            for future in running:
                future.result()
