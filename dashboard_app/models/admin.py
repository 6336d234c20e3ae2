"""What the admin panel keeps of its own: the results of `ledger check` and reconciliation runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Index
from sqlmodel import Field, SQLModel

from dashboard_app.models.base import UTCDateTime, one_of, utcnow

CHECK_KINDS = ("ledger_check", "reconcile")
CHECK_SOURCES = ("cli", "admin")


class OperatorCheck(SQLModel, table=True):
    """One run of `ledger check` or of Stripe reconciliation, from the command line or from the
    admin panel's button: whether it found everything in order, and what it reported."""

    __tablename__ = "operator_checks"
    __table_args__ = (
        CheckConstraint(one_of("kind", CHECK_KINDS), name="ck_operator_checks_kind"),
        CheckConstraint(one_of("source", CHECK_SOURCES), name="ck_operator_checks_source"),
        Index("ix_operator_checks_kind_finished", "kind", "finished_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    ok: bool
    summary: str = Field(max_length=500)
    # The lines it reported (problems found, repairs made), at most a few hundred.
    details: list = Field(default_factory=list, sa_type=JSON)
    source: str = Field(max_length=8)
    actor_user_id: int | None = Field(default=None, foreign_key="users.id")
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
