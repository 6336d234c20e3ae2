"""The append-only audit log: who did what to whom, when, from where, with before and after."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index
from sqlmodel import Field, SQLModel

from dashboard_app.models.base import UTCDateTime, utcnow


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_created", "created_at"),
        Index("ix_audit_log_subject_created", "subject_user_id", "created_at"),
        Index("ix_audit_log_action_created", "action", "created_at"),
        Index("ix_audit_log_actor_created", "actor_user_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    actor_user_id: int | None = Field(default=None, foreign_key="users.id")
    subject_user_id: int | None = Field(default=None, foreign_key="users.id")
    action: str = Field(max_length=64)
    before: dict | None = Field(default=None, sa_type=JSON)
    after: dict | None = Field(default=None, sa_type=JSON)
    ip_address: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MemberKey(SQLModel, table=True):
    """The key that seals a member's personal values (email, name, address, wallet) in the
    audit log. The log is append-only, so deleting the account destroys this key instead,
    which leaves the entries in place with those values unreadable."""

    __tablename__ = "member_keys"

    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    key: str = Field(max_length=64)  # a Fernet key (url-safe base64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
