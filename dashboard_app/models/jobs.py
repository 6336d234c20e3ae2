"""Drafts, generation jobs, their variants, and the library of resulting assets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from dashboard_app.models.base import UTCDateTime, one_of, utcnow

GENERATION_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
ASSET_KINDS = ("image", "video", "avatar")


class Draft(SQLModel, table=True):
    __tablename__ = "drafts"
    __table_args__ = (Index("ix_drafts_user_updated", "user_id", "updated_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    title: str = Field(default="", max_length=200)
    prompt: str = Field(default="", max_length=4000)
    platform: str = Field(default="", max_length=32)
    options: dict = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Generation(SQLModel, table=True):
    """One generation job: queued, picked up by a worker, finished with variants or an error."""

    __tablename__ = "generations"
    __table_args__ = (
        CheckConstraint(one_of("status", GENERATION_STATUSES), name="ck_generations_status"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="ck_generations_progress"),
        CheckConstraint("credits_cost >= 0", name="ck_generations_credits_cost"),
        Index("ix_generations_user_created", "user_id", "created_at"),
        Index("ix_generations_status_created", "status", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    draft_id: int | None = Field(default=None, foreign_key="drafts.id")
    idempotency_key: str = Field(max_length=255, unique=True)
    status: str = Field(default="queued", max_length=16)
    progress: int = 0
    prompt: str = Field(default="", max_length=4000)
    platform: str = Field(default="", max_length=32)
    options: dict = Field(default_factory=dict, sa_type=JSON)
    credits_cost: int = 0
    error: str | None = Field(default=None, max_length=2000)
    worker_id: str | None = Field(default=None, max_length=128)
    heartbeat_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Asset(SQLModel, table=True):
    """A stored file owned by a member: a generated result or an avatar."""

    __tablename__ = "assets"
    __table_args__ = (
        CheckConstraint(one_of("kind", ASSET_KINDS), name="ck_assets_kind"),
        CheckConstraint("size_bytes >= 0", name="ck_assets_size"),
        Index("ix_assets_owner_created", "owner_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="users.id")
    generation_id: int | None = Field(default=None, foreign_key="generations.id")
    kind: str = Field(max_length=16)
    title: str = Field(default="", max_length=200)
    storage_key: str = Field(max_length=512, unique=True)
    content_type: str = Field(max_length=100)
    size_bytes: int = 0
    width: int | None = None
    height: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Variant(SQLModel, table=True):
    """One of the results a generation produced, linked to its library asset once stored."""

    __tablename__ = "variants"
    __table_args__ = (
        UniqueConstraint("generation_id", "position", name="uq_variants_generation_position"),
    )

    id: int | None = Field(default=None, primary_key=True)
    generation_id: int = Field(foreign_key="generations.id")
    position: int = 0
    asset_id: int | None = Field(default=None, foreign_key="assets.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
