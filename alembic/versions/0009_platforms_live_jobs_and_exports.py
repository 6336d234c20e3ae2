"""catalog platforms in profiles, the pages' live check of jobs, exports of an asset

- profiles.default_platform takes the catalog's platform codes (tiktok, instagram_reels,
  youtube_shorts); the profile's own names are mapped: instagram -> instagram_reels,
  youtube -> youtube_shorts, tiktok stays, any other (x, linkedin) -> no default. Downgrading
  maps the two renamed ones back (the dropped ones stay without a default).
- generations (user_id, updated_at): every open page asks each second for the member's most
  recent change to any job.
- usage_entries.asset_id: what an export downloaded, for the overview's recent exports (older
  exports have none and are not listed), indexed by member, metric and time.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 21:24:24.716155
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in catalog.toml when this revision was written.
RENAMED = {"instagram": "instagram_reels", "youtube": "youtube_shorts"}
KEPT = ("", "tiktok", *RENAMED.values())

profiles = sa.table("profiles", sa.column("default_platform", sa.String))


def _rename(mapping: dict[str, str]) -> None:
    for old, new in mapping.items():
        op.execute(
            profiles.update().where(profiles.c.default_platform == old).values(default_platform=new)
        )


def upgrade() -> None:
    _rename(RENAMED)
    op.execute(
        profiles.update()
        .where(profiles.c.default_platform.not_in(KEPT))
        .values(default_platform="")
    )
    with op.batch_alter_table("generations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_generations_user_updated", ["user_id", "updated_at"], unique=False
        )
    with op.batch_alter_table("usage_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("asset_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_usage_entries_user_metric_time", ["user_id", "metric", "occurred_at"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_usage_entries_asset_id_assets"), "assets", ["asset_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_entries", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_usage_entries_asset_id_assets"), type_="foreignkey")
        batch_op.drop_index("ix_usage_entries_user_metric_time")
        batch_op.drop_column("asset_id")
    with op.batch_alter_table("generations", schema=None) as batch_op:
        batch_op.drop_index("ix_generations_user_updated")
    _rename({new: old for old, new in RENAMED.items()})
