"""Random sequences of ledger operations, with repeated idempotency keys and passing time: after
every step the ledger's invariants hold and repeats and refusals change nothing."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from dashboard_app.db import session_scope
from dashboard_app.domain import credits
from dashboard_app.domain.credits import IdempotencyConflict, ReservationSettled
from dashboard_app.domain.errors import DomainError, InsufficientCredits
from dashboard_app.domain.ledger_check import check_ledger
from dashboard_app.models.base import utcnow
from tests.factories import create_member

KEYS = st.sampled_from([f"k{i}" for i in range(6)])
REFS = st.sampled_from([f"job:{i}" for i in range(4)])
AMOUNTS = st.integers(min_value=1, max_value=40)


def ledger_machine(engine):
    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.user_id = create_member(engine).id
            self.now = utcnow()
            self.lifetime = 0
            self.granted_keys: set[str] = set()

        def balances(self) -> credits.Balances:
            with session_scope(engine) as session:
                return credits.get_balances(session=session, user_id=self.user_id)

        def attempt(self, operation, **kwargs):
            """Run one operation; a refusal must leave every balance as it was."""
            before = self.balances()
            try:
                with session_scope(engine) as session:
                    return operation(session=session, now=self.now, **kwargs)
            except (InsufficientCredits, ReservationSettled, IdempotencyConflict, DomainError):
                assert self.balances() == before
                return None

        @rule(key=KEYS, amount=AMOUNTS, expires=st.booleans())
        def grant(self, key: str, amount: int, expires: bool) -> None:
            before = self.balances()
            key = f"{self.user_id}:grant:{key}"
            repeat = key in self.granted_keys
            entry = self.attempt(
                credits.grant_credits,
                user_id=self.user_id,
                amount=amount,
                idempotency_key=key,
                expires_at=self.now + timedelta(hours=5) if expires else None,
            )
            if repeat:
                assert entry is not None
                assert self.balances().lifetime == before.lifetime
            else:
                self.granted_keys.add(key)
                self.lifetime += amount
            assert self.balances().lifetime == self.lifetime

        @rule(key=KEYS, amount=AMOUNTS)
        def spend(self, key: str, amount: int) -> None:
            self.attempt(
                credits.spend_credits,
                user_id=self.user_id,
                amount=amount,
                idempotency_key=f"{self.user_id}:spend:{key}",
            )

        @rule(ref=REFS, amount=AMOUNTS)
        def reserve(self, ref: str, amount: int) -> None:
            self.attempt(
                credits.reserve_credits,
                user_id=self.user_id,
                amount=amount,
                reference=f"{self.user_id}:{ref}",
            )

        @rule(ref=REFS, part=st.integers(min_value=0, max_value=40))
        def capture(self, ref: str, part: int) -> None:
            self.attempt(
                credits.capture_reservation, reference=f"{self.user_id}:{ref}", amount=part or None
            )

        @rule(ref=REFS)
        def release(self, ref: str) -> None:
            self.attempt(credits.release_reservation, reference=f"{self.user_id}:{ref}")

        @rule(key=KEYS, amount=AMOUNTS)
        def claw_back(self, key: str, amount: int) -> None:
            self.attempt(
                credits.claw_back_credits,
                user_id=self.user_id,
                amount=amount,
                idempotency_key=f"{self.user_id}:refund:{key}",
                reason="Refund",
            )

        @rule(hours=st.integers(min_value=1, max_value=4))
        def time_passes(self, hours: int) -> None:
            self.now += timedelta(hours=hours)

        @invariant()
        def ledger_is_consistent(self) -> None:
            with session_scope(engine) as session:
                problems = [str(p) for p in check_ledger(session=session, user_id=self.user_id)]
            assert problems == []
            balances = self.balances()
            assert balances.available >= 0 and balances.reserved >= 0

    return LedgerMachine


def test_random_operation_sequences_keep_the_ledger_consistent(engine) -> None:
    run_state_machine_as_test(
        ledger_machine(engine),
        settings=settings(
            max_examples=20,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
