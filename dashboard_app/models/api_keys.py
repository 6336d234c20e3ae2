"""Personal API keys: a member's bearer credentials for the REST API, stored hashed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field, SQLModel

from dashboard_app.models.base import UTCDateTime, one_of, utcnow

API_KEY_SCOPES = ("read", "read-write")


class ApiKey(SQLModel, table=True):
    """One key. The secret is shown once when the key is made; only its SHA-256 is kept, and
    `prefix` (random, not secret, shown in lists) finds the row to compare it with."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(one_of("scope", API_KEY_SCOPES), name="ck_api_keys_scope"),
        Index("ix_api_keys_user_created", "user_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    name: str = Field(max_length=80)
    prefix: str = Field(max_length=32, unique=True)
    secret_hash: str = Field(max_length=64)
    scope: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
