"""admin panel: check results and the indexes its figures and filters read

`operator_checks` keeps each run of `ledger check` and of Stripe reconciliation (command line or
the admin panel's button). The indexes let the overview's figures read the period they cover
from an index alone (credit entries by time and kind, orders by time, sign-ups, sessions seen),
and the audit log and Stripe events filter by actor and by type. Plain CREATE INDEX, never a
table rebuild: credit_entries and audit_log keep their append-only triggers.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 21:26:10.549727
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import dashboard_app.models.base


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = [
    ('ix_audit_log_actor_created', 'audit_log', ['actor_user_id', 'created_at']),
    ('ix_credit_entries_created_kind', 'credit_entries', ['created_at', 'kind', 'amount', 'held_change']),
    ('ix_generations_created_status', 'generations', ['created_at', 'status']),
    ('ix_orders_created', 'orders', ['created_at', 'status', 'amount_total']),
    ('ix_orders_updated', 'orders', ['updated_at', 'amount_refunded']),
    ('ix_stripe_events_type_received', 'stripe_events', ['type', 'received_at']),
    ('ix_user_sessions_last_seen', 'user_sessions', ['last_seen_at', 'user_id']),
    ('ix_users_created', 'users', ['created_at']),
]


def upgrade() -> None:
    op.create_table('operator_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('summary', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('started_at', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('ledger_check', 'reconcile')", name='ck_operator_checks_kind'),
    sa.CheckConstraint("source IN ('cli', 'admin')", name='ck_operator_checks_source'),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_operator_checks_actor_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_checks'))
    )
    op.create_index('ix_operator_checks_kind_finished', 'operator_checks', ['kind', 'finished_at'], unique=False)
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index('ix_operator_checks_kind_finished', table_name='operator_checks')
    op.drop_table('operator_checks')
