"""The credit ledger service: the only code that writes credit tables.

Every operation locks the member's account row (SELECT ... FOR UPDATE on PostgreSQL; SQLite's
BEGIN IMMEDIATE serialises writers), checks its idempotency key under that lock, expires any
credits that are due, then writes its ledger entries and the new balances together. The caller
owns the transaction: nothing here commits.

Credits arrive in lots (one per grant) that may expire; spending and holds draw from the lots
that expire first. Each entry records its change to the available balance (`amount`) and to the
reserved balance (`held_change`), so both balances are provable from the entries alone.

The package is split along the member's words: balance (grant, spend, adjust), holds, freezes,
refunds, expiry and reading; `ledger` holds the building blocks they share.
"""

from dashboard_app.domain.credits.balance import adjust_credits, grant_credits, spend_credits
from dashboard_app.domain.credits.expiry import expire_credits, users_with_due_expiry
from dashboard_app.domain.credits.freezes import freeze_credits, unfreeze_credits
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
    "unfreeze_credits",
    "users_with_due_expiry",
]
