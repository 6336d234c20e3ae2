"""Uses of rate-limited actions (mail sent, Stripe lookups), counted over sliding windows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from dashboard_app.models.base import UTCDateTime, utcnow


class RateLimitHit(SQLModel, table=True):
    """One use of `action` by `subject`. `subject` is a keyed hash, never a raw address, so this
    table holds no personal data; old rows are pruned as they fall out of the longest window."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (
        Index("ix_rate_limit_hits_action_subject_created", "action", "subject", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    action: str = Field(max_length=64)
    subject: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
