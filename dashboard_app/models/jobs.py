"""Drafts, generation jobs, their variants, and the library of resulting assets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from dashboard_app.models.base import UTCDateTime, one_of, utcnow

GENERATION_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
VARIANT_STATUSES = GENERATION_STATUSES
IN_FLIGHT = ("queued", "running")
FORMATS = ("video", "image")
ASSET_KINDS = ("image", "video", "avatar")


class Draft(SQLModel, table=True):
    """The Create form as the member left it; `options` holds preset, format and variants."""

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
    # Set when the draft was submitted as a generation; "Continue draft" lists only open ones.
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Generation(SQLModel, table=True):
    """One generation job: queued, picked up by a worker, finished with variants or an error.

    `attempt` counts retries of a failed job: each attempt has its own credit hold
    (`generation:<id>`, then `generation:<id>:attempt:<n>`) and its own workflow."""

    __tablename__ = "generations"
    __table_args__ = (
        CheckConstraint(one_of("status", GENERATION_STATUSES), name="ck_generations_status"),
        CheckConstraint(one_of("format", FORMATS), name="ck_generations_format"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="ck_generations_progress"),
        CheckConstraint("credits_cost >= 0", name="ck_generations_credits_cost"),
        CheckConstraint("variant_count >= 1", name="ck_generations_variant_count"),
        CheckConstraint("attempt >= 1", name="ck_generations_attempt"),
        Index("ix_generations_user_created", "user_id", "created_at"),
        Index("ix_generations_status_created", "status", "created_at"),
        Index("ix_generations_user_status_id", "user_id", "status", "id"),
        # The Jobs page, newest first, a page at a time.
        Index("ix_generations_user_id", "user_id", "id"),
        # The pages' live check: the member's most recent change to any job.
        Index("ix_generations_user_updated", "user_id", "updated_at"),
        Index("ix_generations_created_status", "created_at", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    draft_id: int | None = Field(default=None, foreign_key="drafts.id")
    idempotency_key: str = Field(max_length=255, unique=True)
    status: str = Field(default="queued", max_length=16)
    progress: int = 0
    title: str = Field(default="", max_length=200)
    prompt: str = Field(default="", max_length=4000)
    platform: str = Field(default="", max_length=32)
    preset: str = Field(default="", max_length=32)
    format: str = Field(default="video", max_length=16)
    variant_count: int = 1
    options: dict = Field(default_factory=dict, sa_type=JSON)
    credits_cost: int = 0
    attempt: int = 1
    error: str | None = Field(default=None, max_length=2000)
    worker_id: str | None = Field(default=None, max_length=128)
    heartbeat_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    processing_seconds: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    deadline_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Asset(SQLModel, table=True):
    """A stored file owned by a member: a generated result (with its poster and thumbnail) or
    an avatar. A result enters the member's library when it is saved (`saved_at`)."""

    __tablename__ = "assets"
    __table_args__ = (
        CheckConstraint(one_of("kind", ASSET_KINDS), name="ck_assets_kind"),
        CheckConstraint("size_bytes >= 0", name="ck_assets_size"),
        Index("ix_assets_owner_created", "owner_id", "created_at"),
        # The library's pages, newest saved first, with and without each filter.
        Index("ix_assets_owner_saved", "owner_id", "saved_at", "id"),
        Index("ix_assets_owner_platform_saved", "owner_id", "platform", "saved_at", "id"),
        Index("ix_assets_owner_kind_saved", "owner_id", "kind", "saved_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="users.id")
    generation_id: int | None = Field(default=None, foreign_key="generations.id")
    kind: str = Field(max_length=16)
    title: str = Field(default="", max_length=200)
    storage_key: str = Field(max_length=512, unique=True)
    poster_key: str | None = Field(default=None, max_length=512)
    thumbnail_key: str | None = Field(default=None, max_length=512)
    content_type: str = Field(max_length=100)
    size_bytes: int = 0
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None
    platform: str = Field(default="", max_length=32)
    preset: str = Field(default="", max_length=32)
    tags: list = Field(default_factory=list, sa_type=JSON)
    # Title and tags in lower case: what the library's text search indexes.
    search_text: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    saved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AssetTag(SQLModel, table=True):
    """One tag of a saved asset, with the owner and the saved time copied in, so filtering the
    library by tag reads one index in page order."""

    __tablename__ = "asset_tags"
    __table_args__ = (
        Index("ix_asset_tags_owner_tag_saved", "owner_id", "tag", "saved_at", "asset_id"),
    )

    asset_id: int = Field(foreign_key="assets.id", primary_key=True)
    tag: str = Field(max_length=40, primary_key=True)
    owner_id: int = Field(foreign_key="users.id")
    saved_at: datetime = Field(sa_type=UTCDateTime)


class Variant(SQLModel, table=True):
    """One result of a generation. Regenerating it renders a new revision under a hold of its
    own (`reservation_reference`); the result is linked to its asset once stored."""

    __tablename__ = "variants"
    __table_args__ = (
        UniqueConstraint("generation_id", "position", name="uq_variants_generation_position"),
        CheckConstraint(one_of("status", VARIANT_STATUSES), name="ck_variants_status"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="ck_variants_progress"),
        CheckConstraint("revision >= 0", name="ck_variants_revision"),
    )

    id: int | None = Field(default=None, primary_key=True)
    generation_id: int = Field(foreign_key="generations.id")
    position: int = 0
    status: str = Field(default="queued", max_length=16)
    progress: int = 0
    error: str | None = Field(default=None, max_length=2000)
    revision: int = 0
    credits_cost: int = 0
    reservation_reference: str = Field(default="", max_length=255)
    asset_id: int | None = Field(default=None, foreign_key="assets.id")
    processing_ms: int = 0
    regenerated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
