"""Orders (snapshots of Stripe payments and invoices), received Stripe webhook events, and this
installation's identity at Stripe."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index
from sqlmodel import Field, SQLModel

from dashboard_app.models.base import UTCDateTime, one_of, utcnow

ORDER_KINDS = ("pack", "subscription")
ORDER_STATUSES = ("pending", "paid", "failed", "refunded", "partially_refunded", "disputed")
EVENT_STATUSES = ("received", "processed", "failed", "ignored")


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(one_of("kind", ORDER_KINDS), name="ck_orders_kind"),
        CheckConstraint(one_of("status", ORDER_STATUSES), name="ck_orders_status"),
        CheckConstraint("amount_total >= 0", name="ck_orders_amount"),
        CheckConstraint("amount_refunded >= 0", name="ck_orders_refunded"),
        CheckConstraint(
            "credits >= 0 AND credits_clawed_back >= 0 AND credits_frozen >= 0",
            name="ck_orders_credits",
        ),
        Index("ix_orders_user_created", "user_id", "created_at", "id"),
        # The member's orders, newest first, a page at a time.
        Index("ix_orders_user_id", "user_id", "id"),
        # The admin figures: revenue by day, refunds by when they were applied.
        Index("ix_orders_created", "created_at", "status", "amount_total"),
        Index("ix_orders_updated", "updated_at", "amount_refunded"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    kind: str = Field(max_length=16)
    status: str = Field(default="pending", max_length=32)
    stripe_checkout_session_id: str | None = Field(default=None, max_length=255, unique=True)
    stripe_invoice_id: str | None = Field(default=None, max_length=255, unique=True)
    stripe_payment_intent_id: str | None = Field(default=None, max_length=255, index=True)
    stripe_charge_id: str | None = Field(default=None, max_length=255, index=True)
    stripe_subscription_id: str | None = Field(default=None, max_length=255, index=True)
    stripe_dispute_id: str | None = Field(default=None, max_length=255, unique=True)
    dispute_status: str | None = Field(default=None, max_length=32)  # Stripe's, last applied
    product_code: str = Field(default="", max_length=32)
    amount_total: int = Field(default=0, sa_type=BigInteger)
    amount_refunded: int = Field(default=0, sa_type=BigInteger)
    currency: str = Field(default="usd", max_length=3)
    credits: int = Field(default=0, sa_type=BigInteger)  # granted by this order
    credits_clawed_back: int = Field(default=0, sa_type=BigInteger)
    credits_frozen: int = Field(default=0, sa_type=BigInteger)  # while a dispute is open
    items: list = Field(default_factory=list, sa_type=JSON)
    receipt_url: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    refreshed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A refresh from Stripe that failed is tried again only after this, backing off.
    refresh_failures: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    refresh_after: datetime | None = Field(default=None, sa_type=UTCDateTime)


class StripeEvent(SQLModel, table=True):
    """Every verified webhook event, stored before it is processed; retried until it succeeds."""

    __tablename__ = "stripe_events"
    __table_args__ = (
        CheckConstraint(one_of("status", EVENT_STATUSES), name="ck_stripe_events_status"),
        Index("ix_stripe_events_status_next", "status", "next_attempt_at"),
        Index("ix_stripe_events_received", "received_at"),
        Index("ix_stripe_events_type_received", "type", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    stripe_event_id: str = Field(max_length=255, unique=True)
    type: str = Field(max_length=100)
    object_id: str = Field(default="", max_length=255, index=True)
    payload: dict = Field(default_factory=dict, sa_type=JSON)
    status: str = Field(default="received", max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=4000)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Installation(SQLModel, table=True):
    """One row: this database's own id, part of the idempotency keys it sends to Stripe, so two
    installations sharing one Stripe account (staging and a laptop, test runs) never collide."""

    __tablename__ = "installation"
    __table_args__ = (CheckConstraint("id = 1", name="ck_installation_single_row"),)

    id: int = Field(default=1, primary_key=True)
    uid: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
