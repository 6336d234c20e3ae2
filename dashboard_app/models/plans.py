"""Plans (mirrored from the catalog file), subscriptions, boosts and the usage ledger."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index
from sqlalchemy import false as sa_false
from sqlmodel import Field, SQLModel

from dashboard_app.models.base import UTCDateTime, one_of, utcnow

SUBSCRIPTION_STATUSES = (
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "canceled",
    "unpaid",
    "paused",
)
USAGE_METRICS = ("exports", "processing_seconds")


class Plan(SQLModel, table=True):
    __tablename__ = "plans"
    __table_args__ = (
        CheckConstraint(
            "monthly_credits >= 0 AND monthly_exports >= 0 AND monthly_minutes >= 0 "
            "AND hourly_burst >= 0 AND concurrent_jobs >= 0",
            name="ck_plans_limits",
        ),
    )

    code: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=80)
    monthly_credits: int = 0
    monthly_exports: int = 0
    monthly_minutes: int = 0
    hourly_burst: int = 0
    concurrent_jobs: int = 1
    stripe_lookup_key: str | None = Field(default=None, max_length=128, unique=True)
    active: bool = True


class Subscription(SQLModel, table=True):
    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint(one_of("status", SUBSCRIPTION_STATUSES), name="ck_subscriptions_status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    plan_code: str = Field(foreign_key="plans.code", max_length=32)
    stripe_subscription_id: str | None = Field(default=None, max_length=255, unique=True)
    status: str = Field(default="active", max_length=32)
    current_period_end: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancel_at_period_end: bool = False
    # When the state stored here was read from Stripe: an older read never overwrites it.
    stripe_state_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A second subscription bought beside a live one: canceled and refunded, never granting.
    refused_as_duplicate: bool = Field(
        default=False, sa_column_kwargs={"server_default": sa_false()}
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Boost(SQLModel, table=True):
    """A time-limited add-on that raises a member's limits while it lasts."""

    __tablename__ = "boosts"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ck_boosts_period"),
        Index("ix_boosts_user_ends", "user_id", "ends_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    boost_code: str = Field(max_length=32)
    reference: str = Field(max_length=255, unique=True)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UsageEntry(SQLModel, table=True):
    """Exports and processing time, counted per member and calendar month (UTC)."""

    __tablename__ = "usage_entries"
    __table_args__ = (
        CheckConstraint(one_of("metric", USAGE_METRICS), name="ck_usage_entries_metric"),
        CheckConstraint("quantity > 0", name="ck_usage_entries_quantity"),
        # The month's meters, summed from the index alone.
        Index("ix_usage_entries_user_period", "user_id", "period", "metric", "quantity"),
        # The overview's recent exports.
        Index("ix_usage_entries_user_metric_time", "user_id", "metric", "occurred_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    metric: str = Field(max_length=32)
    quantity: int
    period: str = Field(max_length=7)  # YYYY-MM
    reference: str = Field(max_length=255, unique=True)
    # What an export downloaded (none for processing time).
    asset_id: int | None = Field(default=None, foreign_key="assets.id")
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
