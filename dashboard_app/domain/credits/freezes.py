"""Credits frozen while a payment is disputed."""

from __future__ import annotations

from sqlmodel import Session

from dashboard_app.domain.credits.ledger import check_amount, lock_account


def freeze_credits(*, session: Session, user_id: int, amount: int) -> None:
    """Stop `amount` credits from being spent or held (a disputed payment). The balance does not
    change, so the ledger records nothing; the caller records why (the order and the audit log)."""
    check_amount(amount)
    account = lock_account(session, user_id)
    account.frozen += amount
    session.add(account)
    session.flush()


def unfreeze_credits(*, session: Session, user_id: int, amount: int) -> None:
    check_amount(amount)
    account = lock_account(session, user_id)
    account.frozen = max(0, account.frozen - amount)
    session.add(account)
    session.flush()
