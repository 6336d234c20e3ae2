"""The credit ledger: one account row per member, append-only entries, lots, holds and freezes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index
from sqlmodel import Field, SQLModel

from dashboard_app.models.base import UTCDateTime, one_of, utcnow

ENTRY_KINDS = (
    "grant",
    "purchase",
    "allowance",
    "spend",
    "reserve",
    "capture",
    "release",
    "refund_clawback",
    "expiry",
    "adjustment",
    "freeze",
    "thaw",
)
RESERVATION_STATUSES = ("held", "captured", "released")


class CreditAccount(SQLModel, table=True):
    """Balances kept in step with the ledger entries, in the same transaction."""

    __tablename__ = "credit_accounts"
    __table_args__ = (
        CheckConstraint("available >= 0", name="ck_credit_accounts_available"),
        CheckConstraint("reserved >= 0", name="ck_credit_accounts_reserved"),
        CheckConstraint("lifetime >= 0", name="ck_credit_accounts_lifetime"),
        CheckConstraint("spent >= 0", name="ck_credit_accounts_spent"),
        CheckConstraint("frozen >= 0", name="ck_credit_accounts_frozen"),
    )

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    available: int = Field(default=0, sa_type=BigInteger)
    reserved: int = Field(default=0, sa_type=BigInteger)
    lifetime: int = Field(default=0, sa_type=BigInteger)
    spent: int = Field(default=0, sa_type=BigInteger)
    frozen: int = Field(default=0, sa_type=BigInteger)
    clawback_shortfall: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CreditEntry(SQLModel, table=True):
    """One immutable line of the ledger. `idempotency_key` is unique: a repeat changes nothing.

    `amount` is the change to the available balance, `held_change` to the reserved balance,
    `frozen_change` to the frozen balance and `shortfall_change` to the refunded credits that
    could not be taken back, so every balance equals the sum of its column over a member's
    entries.
    """

    __tablename__ = "credit_entries"
    __table_args__ = (
        CheckConstraint(one_of("kind", ENTRY_KINDS), name="ck_credit_entries_kind"),
        CheckConstraint("balance_after >= 0", name="ck_credit_entries_balance_after"),
        CheckConstraint("shortfall_change >= 0", name="ck_credit_entries_shortfall_change"),
        Index("ix_credit_entries_user_created", "user_id", "created_at", "id"),
        # The member's history, newest first, a page at a time.
        Index("ix_credit_entries_user_id", "user_id", "id"),
        # The admin figures: credits in and out per kind and day, read from the index alone.
        Index("ix_credit_entries_created_kind", "created_at", "kind", "amount", "held_change"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    amount: int = Field(sa_type=BigInteger)
    held_change: int = Field(
        default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"}
    )
    frozen_change: int = Field(
        default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"}
    )
    shortfall_change: int = Field(
        default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"}
    )
    balance_after: int = Field(sa_type=BigInteger)
    kind: str = Field(max_length=32)
    idempotency_key: str = Field(max_length=255, unique=True)
    reference: str = Field(default="", max_length=255)
    actor_user_id: int | None = Field(default=None, foreign_key="users.id")
    reason: str = Field(default="", max_length=500)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CreditLot(SQLModel, table=True):
    """Credits that arrived together and may expire together; spending draws the soonest first."""

    __tablename__ = "credit_lots"
    __table_args__ = (
        CheckConstraint("remaining >= 0", name="ck_credit_lots_remaining"),
        CheckConstraint("remaining <= amount", name="ck_credit_lots_remaining_le_amount"),
        Index("ix_credit_lots_user_expiry", "user_id", "expires_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    entry_id: int = Field(foreign_key="credit_entries.id", unique=True)
    amount: int = Field(sa_type=BigInteger)
    remaining: int = Field(sa_type=BigInteger)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # How many times the lot has expired: credits returned after its expiry expire again, and
    # each expiry entry's key carries its number.
    expiry_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CreditReservation(SQLModel, table=True):
    """Credits held for a job in flight until they are captured or released."""

    __tablename__ = "credit_reservations"
    __table_args__ = (
        CheckConstraint(
            one_of("status", RESERVATION_STATUSES), name="ck_credit_reservations_status"
        ),
        CheckConstraint("amount > 0", name="ck_credit_reservations_amount"),
        CheckConstraint(
            "clawback_owed >= 0 AND clawback_owed <= amount",
            name="ck_credit_reservations_clawback_owed",
        ),
        Index("ix_credit_reservations_user_status", "user_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    reference: str = Field(max_length=255, unique=True)
    amount: int = Field(sa_type=BigInteger)
    status: str = Field(default="held", max_length=16)
    # [[lot_id, credits], ...] drawn when the credits were held, returned to them on release.
    draws: list = Field(
        default_factory=list, sa_type=JSON, sa_column_kwargs={"server_default": "[]"}
    )
    captured: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})
    # Credits a refund claimed from this hold while it was live: when the hold settles, what it
    # gives back goes to the refund and what the job spent is the refund's shortfall.
    clawback_owed: int = Field(
        default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"}
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CreditFreeze(SQLModel, table=True):
    """Credits frozen while a payment is disputed, once per reference (`dispute:dp_...`), until
    they are thawed or taken back. Like a hold, a freeze remembers the lots it drew from."""

    __tablename__ = "credit_freezes"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="ck_credit_freezes_amount"),
        CheckConstraint(
            "remaining >= 0 AND remaining <= amount", name="ck_credit_freezes_remaining"
        ),
        Index("ix_credit_freezes_user_remaining", "user_id", "remaining"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    reference: str = Field(max_length=255, unique=True)
    amount: int = Field(sa_type=BigInteger)  # frozen at first
    remaining: int = Field(sa_type=BigInteger)  # still frozen
    # [[lot_id, credits], ...] drawn when the credits were frozen, returned to them on a thaw.
    draws: list = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
