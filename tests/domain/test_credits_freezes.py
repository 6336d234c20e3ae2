"""Frozen credits (a disputed payment), as worked examples: a freeze moves credits out of reach
through a ledger entry, a thaw gives them back to the lots they came from, and a lost dispute
takes them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.domain import credits
from dashboard_app.domain.credits import Balances, IdempotencyConflict
from dashboard_app.domain.errors import InsufficientCredits, InvalidInput, NotFound
from dashboard_app.domain.ledger_check import check_ledger
from dashboard_app.models import CreditAccount, CreditEntry
from dashboard_app.models.base import utcnow
from tests.factories import create_member

DISPUTE = "dispute:dp_1"


@pytest.fixture
def member(engine) -> int:
    return create_member(engine).id


def run(engine, operation, **kwargs):
    with session_scope(engine) as session:
        return operation(session=session, **kwargs)


def balances(engine, user_id: int) -> Balances:
    with session_scope(engine) as session:
        return credits.get_balances(session=session, user_id=user_id)


def entries(engine, user_id: int) -> list[tuple[str, int, int, int]]:
    """(kind, change to available, change to frozen, balance after) for each entry."""
    with session_scope(engine) as session:
        rows = session.exec(
            select(CreditEntry).where(CreditEntry.user_id == user_id).order_by(CreditEntry.id)
        )
        return [(e.kind, e.amount, e.frozen_change, e.balance_after) for e in rows]


def assert_consistent(engine) -> None:
    with session_scope(engine) as session:
        assert [str(p) for p in check_ledger(session=session)] == []


def grant(engine, user_id: int, amount: int, key: str, **kwargs) -> None:
    run(
        engine,
        credits.grant_credits,
        user_id=user_id,
        amount=amount,
        idempotency_key=key,
        **kwargs,
    )


def freeze(engine, user_id: int, amount: int, reference: str = DISPUTE, **kwargs) -> int:
    return run(
        engine,
        credits.freeze_credits,
        user_id=user_id,
        amount=amount,
        reference=reference,
        reason="Payment disputed",
        **kwargs,
    )


def test_grant_100_freeze_30_leaves_70_to_spend(engine, member) -> None:
    grant(engine, member, 100, "g")
    assert freeze(engine, member, 30) == 30
    assert balances(engine, member) == Balances(
        available=70, reserved=0, lifetime=100, spent=0, frozen=30
    )
    with pytest.raises(
        InsufficientCredits, match=r"needs 71 credits but only 70 are available \(30 more are"
    ):
        run(engine, credits.spend_credits, user_id=member, amount=71, idempotency_key="s")
    assert entries(engine, member) == [("grant", 100, 0, 100), ("freeze", -30, 30, 70)]
    assert_consistent(engine)


def test_a_freeze_takes_at_most_what_is_available_and_blocks_nothing_else(engine, member) -> None:
    grant(engine, member, 100, "cs_1", kind="purchase")
    run(engine, credits.spend_credits, user_id=member, amount=80, idempotency_key="s1")
    run(engine, credits.reserve_credits, user_id=member, amount=15, reference="job:1")
    # The disputed purchase gave 100, but only 5 are still available: 5 are frozen.
    assert freeze(engine, member, 100) == 5
    assert balances(engine, member) == Balances(
        available=0, reserved=15, lifetime=100, spent=80, frozen=5
    )
    # Credits that arrive later are the member's to spend.
    grant(engine, member, 50, "bonus")
    run(engine, credits.spend_credits, user_id=member, amount=50, idempotency_key="s2")
    assert balances(engine, member).available == 0
    assert_consistent(engine)


def test_a_freeze_happens_once_per_reference(engine, member) -> None:
    grant(engine, member, 100, "g")
    assert freeze(engine, member, 30) == 30
    assert freeze(engine, member, 50) == 30  # a repeat: what the first froze, nothing written
    assert balances(engine, member).frozen == 30
    assert len(entries(engine, member)) == 2
    other = create_member(engine).id
    with pytest.raises(IdempotencyConflict):
        freeze(engine, other, 10)
    # Nothing to freeze is remembered too: a later repeat does not freeze newer credits.
    assert freeze(engine, other, 10, reference="dispute:dp_2") == 0
    grant(engine, other, 20, "g2")
    assert freeze(engine, other, 10, reference="dispute:dp_2") == 0
    assert balances(engine, other).available == 20
    assert_consistent(engine)


def test_thawed_credits_go_back_to_their_lots_and_expire_with_them(engine, member) -> None:
    now = utcnow()
    grant(engine, member, 10, "forever", now=now)
    grant(engine, member, 10, "promo", expires_at=now + timedelta(hours=1), now=now)
    # The freeze draws the soonest-expiring credits first: 10 of the promo, 5 of the rest.
    assert freeze(engine, member, 15, now=now) == 15
    later = now + timedelta(hours=2)
    assert run(engine, credits.thaw_credits, reference=DISPUTE, now=later) == 15
    # The promo's 10 came back after their expiry, so they leave through an expiry entry.
    assert entries(engine, member)[-2:] == [("thaw", 15, -15, 20), ("expiry", -10, 0, 10)]
    assert balances(engine, member) == Balances(
        available=10, reserved=0, lifetime=20, spent=0, frozen=0
    )
    assert_consistent(engine)


def test_a_partial_thaw_repeated_with_its_key_thaws_once(engine, member) -> None:
    grant(engine, member, 100, "g")
    freeze(engine, member, 40)
    for _ in range(2):
        thawed = run(
            engine,
            credits.thaw_credits,
            reference=DISPUTE,
            amount=10,
            idempotency_key="thaw:part:1",
        )
        assert thawed == 10
    assert (balances(engine, member).available, balances(engine, member).frozen) == (70, 30)
    assert run(engine, credits.thaw_credits, reference=DISPUTE) == 30
    assert run(engine, credits.thaw_credits, reference=DISPUTE) == 0  # a retry writes nothing
    assert [kind for kind, *_ in entries(engine, member)] == ["grant", "freeze", "thaw", "thaw"]
    with pytest.raises(NotFound):
        run(engine, credits.thaw_credits, reference="dispute:unknown")
    with pytest.raises(InvalidInput):
        run(engine, credits.thaw_credits, reference=DISPUTE, amount=0)
    assert balances(engine, member) == Balances(
        available=100, reserved=0, lifetime=100, spent=0, frozen=0
    )
    assert_consistent(engine)


def test_a_lost_dispute_takes_the_frozen_credits_first(engine, member) -> None:
    grant(engine, member, 100, "cs_1", kind="purchase")
    run(engine, credits.spend_credits, user_id=member, amount=30, idempotency_key="s1")
    assert freeze(engine, member, 100) == 70
    grant(engine, member, 20, "bonus")
    taken = run(
        engine,
        credits.claw_back_credits,
        user_id=member,
        amount=100,
        idempotency_key="dispute:dp_1:lost",
        reason="Dispute lost",
        frozen_reference=DISPUTE,
    )
    # 70 frozen, then the 20 available; the 30 already spent are the shortfall.
    assert (taken.entry.amount, taken.entry.frozen_change, taken.shortfall) == (-20, -70, 10)
    assert balances(engine, member) == Balances(
        available=0, reserved=0, lifetime=120, spent=30, frozen=0
    )
    assert run(engine, credits.thaw_credits, reference=DISPUTE) == 0
    with session_scope(engine) as session:
        assert session.get(CreditAccount, member).clawback_shortfall == 10
    assert_consistent(engine)


def test_a_refund_during_a_dispute_takes_from_the_frozen_credits(engine, member) -> None:
    grant(engine, member, 100, "cs_1", kind="purchase")
    grant(engine, member, 10, "bonus")
    freeze(engine, member, 100)
    run(
        engine,
        credits.claw_back_credits,
        user_id=member,
        amount=50,
        idempotency_key="refund:re_1",
        reason="Refund",
        frozen_reference=DISPUTE,
    )
    assert (balances(engine, member).available, balances(engine, member).frozen) == (10, 50)
    assert run(engine, credits.thaw_credits, reference=DISPUTE) == 50  # the dispute is won
    assert balances(engine, member).available == 60
    assert_consistent(engine)
