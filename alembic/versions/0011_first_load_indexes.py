"""first page loads: indexes led by the member for every page's newest-first read

The history, Jobs and Orders pages read a member's rows newest first by id; until now the only
index in that order was the primary key, which walks back through every member's rows to find
one member's. Each table gets `(user_id, id)`. The month's usage meters are summed from their
index alone (`quantity` added to it). Plain CREATE INDEX: credit_entries keeps its append-only
triggers.

Revision ID: 0011_first_load
Revises: 0010
Create Date: 2026-11-24 02:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_first_load"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW = [
    ("ix_credit_entries_user_id", "credit_entries", ["user_id", "id"]),
    ("ix_generations_user_id", "generations", ["user_id", "id"]),
    ("ix_orders_user_id", "orders", ["user_id", "id"]),
]
USAGE = "ix_usage_entries_user_period"


def upgrade() -> None:
    for name, table, columns in NEW:
        op.create_index(name, table, columns, unique=False)
    op.drop_index(USAGE, table_name="usage_entries")
    op.create_index(
        USAGE, "usage_entries", ["user_id", "period", "metric", "quantity"], unique=False
    )


def downgrade() -> None:
    op.drop_index(USAGE, table_name="usage_entries")
    op.create_index(USAGE, "usage_entries", ["user_id", "period", "metric"], unique=False)
    for name, table, _ in reversed(NEW):
        op.drop_index(name, table_name=table)
