"""The credit ledger service: the only code that writes credit tables.

Every operation locks the member's account row (SELECT ... FOR UPDATE on PostgreSQL; SQLite's
BEGIN IMMEDIATE serialises writers), checks its idempotency key under that lock, expires any
credits that are due, then writes its ledger entries and the new balances together. The caller
owns the transaction: nothing here commits.

Credits arrive in lots (one per grant) that may expire; spending, holds and freezes draw from
the lots that expire first, and released holds and thawed freezes go back to the lots they came
from (and expire there if their time has passed). Each entry records its change to every
balance: `amount` to available, `held_change` to reserved, `frozen_change` to frozen and
`shortfall_change` to the refunded credits that could not be taken back, so `ledger check` can
prove each balance from the entries alone. Only available credits can be spent or held.

Disputes: `freeze_credits(reference="dispute:dp_...")` freezes what is still available of the
disputed payment's credits, once per dispute. A won dispute calls `thaw_credits(reference=...)`.
A lost dispute (like a refund during a dispute) calls `claw_back_credits(...,
frozen_reference="dispute:dp_...")`: one `refund_clawback` entry takes the frozen credits first,
then available ones, then claims live holds, and records the rest as shortfall, all under one
lock, so the credits are never back in reach between a thaw and a clawback. Anything still
frozen after that (nothing, when the dispute covered at least what was frozen) is thawed.

Refunds and holds: credits held for a job when a refund arrives are claimed by the refund; when
the hold settles, what it gives back goes to the refund and what the job spent is the shortfall.

The package is split along the member's words: balance (grant, spend, adjust), holds, freezes,
refunds, expiry and reading; `ledger` holds the building blocks they share.
"""

from dashboard_app.domain.credits.balance import adjust_credits, grant_credits, spend_credits
from dashboard_app.domain.credits.expiry import (
    expire_credits,
    has_due_credits,
    users_with_due_expiry,
)
from dashboard_app.domain.credits.freezes import freeze_credits, thaw_credits
from dashboard_app.domain.credits.holds import (
    capture_reservation,
    release_reservation,
    reserve_credits,
)
from dashboard_app.domain.credits.ledger import (
    GRANT_KINDS,
    MAX_CREDITS_PER_OPERATION,
    Balances,
    IdempotencyConflict,
    LedgerCorrupt,
    ReservationSettled,
    open_account,
)
from dashboard_app.domain.credits.reading import (
    HistoryPage,
    account_version,
    get_balances,
    history,
    next_expiry,
    spent_per_day,
)
from dashboard_app.domain.credits.refunds import Clawback, claw_back_credits

__all__ = [
    "GRANT_KINDS",
    "MAX_CREDITS_PER_OPERATION",
    "Balances",
    "Clawback",
    "HistoryPage",
    "IdempotencyConflict",
    "LedgerCorrupt",
    "ReservationSettled",
    "account_version",
    "adjust_credits",
    "capture_reservation",
    "claw_back_credits",
    "expire_credits",
    "has_due_credits",
    "freeze_credits",
    "get_balances",
    "grant_credits",
    "history",
    "next_expiry",
    "open_account",
    "release_reservation",
    "reserve_credits",
    "spend_credits",
    "spent_per_day",
    "thaw_credits",
    "users_with_due_expiry",
]
