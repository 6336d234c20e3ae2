"""Wallet holdings: the tokens a member's preferred wallet held when last read from the
marketplace, and the record of each member's refreshes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from dashboard_app.models.base import UTCDateTime, utcnow


class Holding(SQLModel, table=True):
    """One token of a member's wallet as the last good refresh found it. `wallet_address` is
    the wallet it was read for (lower case): a member who changes wallet sees none of these
    until the new wallet is read."""

    __tablename__ = "holdings"
    __table_args__ = (
        UniqueConstraint(
            "user_id", "chain", "contract", "token_id", name="uq_holdings_member_token"
        ),
        Index("ix_holdings_collection", "collection"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    wallet_address: str = Field(max_length=128)
    chain: str = Field(max_length=40)
    contract: str = Field(max_length=200)
    token_id: str = Field(max_length=200)
    collection: str = Field(default="", max_length=500)
    name: str = Field(default="", max_length=500)
    image_url: str = Field(default="", sa_type=Text)
    # What else the marketplace said about the token (metadata_url, standard, ...).
    token_metadata: dict = Field(
        default_factory=dict, sa_column=Column("metadata", JSON, nullable=False)
    )
    synced_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class HoldingsSync(SQLModel, table=True):
    """A member's refreshes: the wallet last read, when it last succeeded and was last tried,
    the last error (kept until a refresh succeeds), and the refresh in flight, if any (at most
    one per member)."""

    __tablename__ = "holdings_syncs"

    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    wallet_address: str = Field(default="", max_length=128)
    chain: str = Field(default="", max_length=40)
    last_synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=Text)
    refresh_queued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    refresh_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
