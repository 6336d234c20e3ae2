"""Credits past their expiry leave the balance; every operation expires what is due first."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from dashboard_app.domain.credits.ledger import append_entry, lock_account
from dashboard_app.models import CreditAccount, CreditEntry, CreditLot
from dashboard_app.models.base import utcnow


def expire_due(session: Session, account: CreditAccount, now: datetime) -> list[CreditEntry]:
    """Credits past their expiry leave the balance through `expiry` entries, one per lot."""
    due = session.exec(
        select(CreditLot)
        .where(CreditLot.user_id == account.user_id, CreditLot.remaining > 0)
        .where(col(CreditLot.expires_at).is_not(None), col(CreditLot.expires_at) <= now)
        .order_by(col(CreditLot.id))
        .with_for_update()
    ).all()
    entries = []
    for lot in due:
        # A lot can expire more than once when held or frozen credits return to it after its
        # expiry; the lot counts its expiries, so naming the next one reads no entries.
        amount = lot.remaining
        lot.remaining = 0
        lot.expiry_count += 1
        session.add(lot)
        entries.append(
            append_entry(
                session,
                account,
                kind="expiry",
                amount=-amount,
                key=f"expiry:lot:{lot.id}:{lot.expiry_count}",
                reference=f"lot:{lot.id}",
                reason=f"{amount} credits expired",
                now=now,
            )
        )
    return entries


def lock_and_expire(
    session: Session, user_id: int, now: datetime | None
) -> tuple[CreditAccount, datetime]:
    """Lock the member's account and expire what is due: the start of most operations."""
    now = now or utcnow()
    account = lock_account(session, user_id)
    expire_due(session, account, now)
    return account, now


def expire_credits(
    *, session: Session, user_id: int, now: datetime | None = None
) -> list[CreditEntry]:
    """Expire a member's due credits now (every operation also does this first). An unlocked
    look comes first: nothing is locked unless something is due."""
    now = now or utcnow()
    if not has_due_credits(session, user_id, now):
        return []
    account = lock_account(session, user_id)
    return expire_due(session, account, now)


def has_due_credits(session: Session, user_id: int, now: datetime) -> bool:
    """Whether any of a member's lots holds credits past their expiry (an unlocked read:
    `expire_due` reads again under the account's lock)."""
    return (
        session.exec(
            select(CreditLot.id)
            .where(CreditLot.user_id == user_id, CreditLot.remaining > 0)
            .where(col(CreditLot.expires_at).is_not(None), col(CreditLot.expires_at) <= now)
            .limit(1)
        ).first()
        is not None
    )


def users_with_due_expiry(*, session: Session, now: datetime | None = None) -> list[int]:
    now = now or utcnow()
    return list(
        session.exec(
            select(CreditLot.user_id)
            .where(CreditLot.remaining > 0)
            .where(col(CreditLot.expires_at).is_not(None), col(CreditLot.expires_at) <= now)
            .distinct()
        )
    )
