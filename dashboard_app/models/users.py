"""Members and admins, their sessions, profiles, sign-in identities and one-time tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from dashboard_app.models.base import UTCDateTime, one_of, utcnow

ROLES = ("member", "admin")
USER_STATUSES = ("active", "suspended")
THEMES = ("system", "light", "dark")
TOKEN_PURPOSES = ("verify_email", "reset_password", "change_email")


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(one_of("role", ROLES), name="ck_users_role"),
        CheckConstraint(one_of("status", USER_STATUSES), name="ck_users_status"),
        CheckConstraint("email = lower(email)", name="ck_users_email_lower"),
        Index("ix_users_created", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)
    password_hash: str | None = Field(default=None, max_length=255)
    role: str = Field(default="member", max_length=16)
    status: str = Field(default="active", max_length=16)
    suspended_reason: str | None = Field(default=None, max_length=500)
    email_verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    stripe_customer_id: str | None = Field(default=None, max_length=255, unique=True)
    # Set by billing when a payment is disputed; shown to admins until they clear it.
    billing_flag: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class UserSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its keyed hash is stored."""

    __tablename__ = "user_sessions"
    __table_args__ = (
        Index("ix_user_sessions_user_id_last_seen", "user_id", "last_seen_at"),
        # Members active in a period (the admin figures).
        Index("ix_user_sessions_last_seen", "last_seen_at", "user_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=128, unique=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_reason: str | None = Field(default=None, max_length=64)
    user_agent: str = Field(default="", max_length=512)
    ip_address: str = Field(default="", max_length=64)


class Profile(SQLModel, table=True):
    __tablename__ = "profiles"
    __table_args__ = (CheckConstraint(one_of("theme", THEMES), name="ck_profiles_theme"),)

    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    display_name: str = Field(default="", max_length=80)
    avatar_path: str | None = Field(default=None, max_length=512)
    address_line1: str = Field(default="", max_length=200)
    address_line2: str = Field(default="", max_length=200)
    address_city: str = Field(default="", max_length=100)
    address_postal_code: str = Field(default="", max_length=20)
    address_country: str = Field(default="", max_length=2)
    wallet_address: str = Field(default="", max_length=128)
    theme: str = Field(default="system", max_length=16)
    default_platform: str = Field(default="", max_length=32)
    email_notifications: bool = True
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OAuthIdentity(SQLModel, table=True):
    """A single sign-on identity (provider issuer + subject) linked to one member."""

    __tablename__ = "oauth_identities"
    __table_args__ = (UniqueConstraint("provider", "subject", name="uq_oauth_identities_subject"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    provider: str = Field(max_length=255)
    subject: str = Field(max_length=255)
    email: str = Field(default="", max_length=320)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AuthToken(SQLModel, table=True):
    """A single-use, expiring link token (email verification, password reset)."""

    __tablename__ = "auth_tokens"
    __table_args__ = (
        CheckConstraint(one_of("purpose", TOKEN_PURPOSES), name="ck_auth_tokens_purpose"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    purpose: str = Field(max_length=32)
    token_hash: str = Field(max_length=128, unique=True)
    new_email: str | None = Field(default=None, max_length=320)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SignInAttempt(SQLModel, table=True):
    """Each password sign-in attempt, for slowing down and refusing repeated failures. The
    account (email) and the address are kept only as keyed hashes."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (
        Index("ix_sign_in_attempts_account_time", "account_key", "created_at"),
        Index("ix_sign_in_attempts_address_time", "address_key", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_key: str = Field(max_length=64)
    address_key: str = Field(default="", max_length=64)
    succeeded: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
