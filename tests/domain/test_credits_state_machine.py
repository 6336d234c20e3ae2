"""Random sequences of ledger operations, with repeated idempotency keys and passing time.

A small model of the member's holds, freezes and refund claims says what each operation must
do: which requests are refused, and with which error (e.g. InsufficientCredits only when the
request exceeds the credits usable at that moment), and what a repeat returns. After every step
the ledger's invariants hold, and a refusal changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func
from sqlmodel import col, select

from dashboard_app.db import session_scope
from dashboard_app.domain import credits
from dashboard_app.domain.credits import ReservationSettled
from dashboard_app.domain.errors import InsufficientCredits, InvalidInput, NotFound
from dashboard_app.domain.ledger_check import check_ledger
from dashboard_app.models import CreditAccount, CreditLot
from dashboard_app.models.base import utcnow
from tests.factories import create_member

KEYS = st.sampled_from([f"k{i}" for i in range(6)])
REFS = st.sampled_from([f"job:{i}" for i in range(4)])
DISPUTES = st.sampled_from([f"dispute:dp_{i}" for i in range(3)])
AMOUNTS = st.integers(min_value=1, max_value=40)


@dataclass
class Hold:
    amount: int
    status: str = "held"
    owed: int = 0  # claimed by refunds


def ledger_machine(engine):
    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.user_id = create_member(engine).id
            self.now = utcnow()
            self.lifetime = 0
            self.shortfall = 0
            self.granted: set[str] = set()
            self.spends: dict[str, int] = {}
            self.clawbacks: dict[str, tuple[int, credits.Clawback]] = {}
            self.holds: dict[str, Hold] = {}
            self.freezes: dict[str, list[int]] = {}  # reference: [frozen at first, still frozen]

        # --- helpers ---------------------------------------------------------------------------

        def ref(self, name: str) -> str:
            return f"{self.user_id}:{name}"

        def balances(self) -> credits.Balances:
            with session_scope(engine) as session:
                return credits.get_balances(session=session, user_id=self.user_id)

        def usable(self) -> int:
            """Credits that can be used now: those in lots that have not expired by `now`."""
            with session_scope(engine) as session:
                return int(  # PostgreSQL sums BIGINT to NUMERIC
                    session.exec(
                        select(func.coalesce(func.sum(CreditLot.remaining), 0))
                        .where(CreditLot.user_id == self.user_id)
                        .where(
                            col(CreditLot.expires_at).is_(None) | (CreditLot.expires_at > self.now)
                        )
                    ).one()
                )

        def run(self, operation, **kwargs):
            with session_scope(engine) as session:
                return operation(session=session, now=self.now, **kwargs)

        def refused(self, error: type[Exception], operation, **kwargs) -> None:
            """The operation must be refused with exactly `error`, changing nothing."""
            before = self.balances()
            with pytest.raises(error) as refusal:
                self.run(operation, **kwargs)
            assert type(refusal.value) is error
            assert self.balances() == before

        # --- rules -----------------------------------------------------------------------------

        @rule(key=KEYS, amount=AMOUNTS, expires=st.booleans())
        def grant(self, key: str, amount: int, expires: bool) -> None:
            key = self.ref(f"grant:{key}")
            entry = self.run(
                credits.grant_credits,
                user_id=self.user_id,
                amount=amount,
                idempotency_key=key,
                expires_at=self.now + timedelta(hours=5) if expires else None,
            )
            if key not in self.granted:
                self.granted.add(key)
                self.lifetime += amount
                assert entry.amount == amount
            assert self.balances().lifetime == self.lifetime

        @rule(key=KEYS, amount=AMOUNTS)
        def spend(self, key: str, amount: int) -> None:
            self.spend_exactly(key, amount)

        @rule(key=KEYS, beyond=st.sampled_from([-1, 0, 1]))
        def spend_about_everything(self, key: str, beyond: int) -> None:
            """The edges: one less than, exactly, or one more than the usable credits."""
            self.spend_exactly(key, max(1, self.usable() + beyond))

        def spend_exactly(self, key: str, amount: int) -> None:
            key = self.ref(f"spend:{key}")
            if key in self.spends:
                before = self.balances()
                entry = self.run(
                    credits.spend_credits, user_id=self.user_id, amount=amount, idempotency_key=key
                )
                assert entry.amount == -self.spends[key]
                assert self.balances() == before
                return
            usable = self.usable()
            if amount > usable:
                self.refused(
                    InsufficientCredits,
                    credits.spend_credits,
                    user_id=self.user_id,
                    amount=amount,
                    idempotency_key=key,
                )
                return
            self.run(
                credits.spend_credits, user_id=self.user_id, amount=amount, idempotency_key=key
            )
            self.spends[key] = amount
            assert self.balances().available == usable - amount

        @rule(ref=REFS, amount=AMOUNTS)
        def reserve(self, ref: str, amount: int) -> None:
            self.reserve_exactly(ref, amount)

        @rule(ref=REFS, beyond=st.sampled_from([-1, 0, 1]))
        def reserve_about_everything(self, ref: str, beyond: int) -> None:
            self.reserve_exactly(ref, max(1, self.usable() + beyond))

        def reserve_exactly(self, ref: str, amount: int) -> None:
            ref = self.ref(ref)
            if ref in self.holds:
                held = self.run(
                    credits.reserve_credits, user_id=self.user_id, amount=amount, reference=ref
                )
                assert held.amount == self.holds[ref].amount
                return
            usable = self.usable()
            if amount > usable:
                self.refused(
                    InsufficientCredits,
                    credits.reserve_credits,
                    user_id=self.user_id,
                    amount=amount,
                    reference=ref,
                )
                return
            self.run(credits.reserve_credits, user_id=self.user_id, amount=amount, reference=ref)
            self.holds[ref] = Hold(amount=amount)
            assert self.balances().available == usable - amount

        def settle_claim(self, hold: Hold, returned: int) -> None:
            self.shortfall += hold.owed - min(hold.owed, returned)

        @rule(ref=REFS, part=st.integers(min_value=0, max_value=40))
        def capture(self, ref: str, part: int) -> None:
            ref, amount = self.ref(ref), part or None
            hold = self.holds.get(ref)
            if hold is None:
                self.refused(NotFound, credits.capture_reservation, reference=ref, amount=amount)
            elif hold.status == "released":
                self.refused(
                    ReservationSettled, credits.capture_reservation, reference=ref, amount=amount
                )
            elif hold.status == "held" and part > hold.amount:
                self.refused(InvalidInput, credits.capture_reservation, reference=ref, amount=part)
            else:
                self.run(credits.capture_reservation, reference=ref, amount=amount)
                if hold.status == "held":
                    hold.status = "captured"
                    self.settle_claim(hold, hold.amount - (part or hold.amount))

        @rule(ref=REFS)
        def release(self, ref: str) -> None:
            ref = self.ref(ref)
            hold = self.holds.get(ref)
            if hold is None:
                self.refused(NotFound, credits.release_reservation, reference=ref)
            elif hold.status == "captured":
                self.refused(ReservationSettled, credits.release_reservation, reference=ref)
            else:
                self.run(credits.release_reservation, reference=ref)
                if hold.status == "held":
                    hold.status = "released"
                    self.settle_claim(hold, hold.amount)

        @rule(key=KEYS, amount=AMOUNTS, dispute=st.none() | DISPUTES)
        def claw_back(self, key: str, amount: int, dispute: str | None) -> None:
            key = self.ref(f"refund:{key}")
            frozen_reference = self.ref(dispute) if dispute else None
            if frozen_reference not in self.freezes:
                frozen_reference = None
            if key in self.clawbacks:
                first_amount, first = self.clawbacks[key]
                before = self.balances()
                again = self.run(
                    credits.claw_back_credits,
                    user_id=self.user_id,
                    amount=first_amount,
                    idempotency_key=key,
                    reason="Refund",
                )
                assert again.entry.id == first.entry.id
                assert (again.shortfall, again.from_holds) == (first.shortfall, first.from_holds)
                assert self.balances() == before
                return
            usable = self.usable()
            frozen = self.freezes[frozen_reference][1] if frozen_reference else 0
            result = self.run(
                credits.claw_back_credits,
                user_id=self.user_id,
                amount=amount,
                idempotency_key=key,
                reason="Refund",
                frozen_reference=frozen_reference,
            )
            # Frozen credits first, then available ones, then live holds; the rest is short.
            from_frozen = min(amount, frozen)
            taken = min(amount - from_frozen, usable)
            claimable = sum(h.amount - h.owed for h in self.holds.values() if h.status == "held")
            from_holds = min(amount - from_frozen - taken, claimable)
            shortfall = amount - from_frozen - taken - from_holds
            assert (result.from_frozen, -result.entry.amount) == (from_frozen, taken)
            assert (result.from_holds, result.shortfall) == (from_holds, shortfall)
            if frozen_reference:
                self.freezes[frozen_reference][1] -= from_frozen
            for hold in self.holds.values():  # claimed oldest first, as the ledger does
                if hold.status == "held" and from_holds:
                    claim = min(hold.amount - hold.owed, from_holds)
                    hold.owed += claim
                    from_holds -= claim
            self.shortfall += shortfall
            self.clawbacks[key] = (amount, result)

        @rule(dispute=DISPUTES, amount=AMOUNTS)
        def freeze(self, dispute: str, amount: int) -> None:
            reference = self.ref(dispute)
            usable = self.usable()
            frozen = self.run(
                credits.freeze_credits,
                user_id=self.user_id,
                amount=amount,
                reference=reference,
                reason="Payment disputed",
            )
            if reference in self.freezes:
                assert frozen == self.freezes[reference][0]  # a repeat: what it froze at first
            else:
                assert frozen == min(amount, usable)
                self.freezes[reference] = [frozen, frozen]

        @rule(dispute=DISPUTES, part=st.integers(min_value=0, max_value=40))
        def thaw(self, dispute: str, part: int) -> None:
            reference = self.ref(dispute)
            if reference not in self.freezes:
                self.refused(NotFound, credits.thaw_credits, reference=reference)
                return
            thawed = self.run(credits.thaw_credits, reference=reference, amount=part or None)
            still_frozen = self.freezes[reference][1]
            assert thawed == (min(part, still_frozen) if part else still_frozen)
            self.freezes[reference][1] -= thawed

        @rule(hours=st.integers(min_value=1, max_value=4))
        def time_passes(self, hours: int) -> None:
            self.now += timedelta(hours=hours)

        # --- invariants ------------------------------------------------------------------------

        @invariant()
        def ledger_is_consistent(self) -> None:
            with session_scope(engine) as session:
                problems = [str(p) for p in check_ledger(session=session, user_id=self.user_id)]
            assert problems == []
            balances = self.balances()
            assert balances.available >= 0 and balances.reserved >= 0
            assert balances.reserved == sum(
                h.amount for h in self.holds.values() if h.status == "held"
            )
            assert balances.frozen == sum(still for _, still in self.freezes.values())
            with session_scope(engine) as session:
                account = session.get(CreditAccount, self.user_id)
                assert account.clawback_shortfall == self.shortfall

    return LedgerMachine


def test_random_operation_sequences_keep_the_ledger_consistent(engine) -> None:
    run_state_machine_as_test(
        ledger_machine(engine),
        settings=settings(
            max_examples=20,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
