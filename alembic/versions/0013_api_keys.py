"""personal API keys: one row per key, the secret kept only as its SHA-256

`api_keys` holds members' keys for the REST API (/api/v1): a random prefix to find the row,
the hash of the whole key, its scope (read or read-write), when it was made, last used and
revoked. Deleting a member deletes their keys.

Revision ID: 0013_api_keys
Revises: 0012_schedules
Create Date: 2026-11-24 05:37:29.523994
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import dashboard_app.models.base


revision: str = "0013_api_keys"
down_revision: str | None = "0012_schedules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("prefix", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("secret_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column(
            "created_at", dashboard_app.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "last_used_at", dashboard_app.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "revoked_at", dashboard_app.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.CheckConstraint("scope IN ('read', 'read-write')", name="ck_api_keys_scope"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index("ix_api_keys_user_created", ["user_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_api_keys_user_created")

    op.drop_table("api_keys")
