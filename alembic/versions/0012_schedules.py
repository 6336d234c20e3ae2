"""scheduled work: one row per run of a scheduled job

`scheduled_runs` records each run of the app's scheduled work (Stripe reconciliation, ledger
expiry, stale order refresh, retention), started by the scheduler or an operator: when, how it
ended, what it found. `run_key` is unique so a run repeated after a crash updates its own row.

Revision ID: 0012_schedules
Revises: 0011_first_load
Create Date: 2026-11-24 02:41:50.162483
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import dashboard_app.models.base


revision: str = '0012_schedules'
down_revision: str | None = '0011_first_load'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('scheduled_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('run_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('scheduled_for', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.CheckConstraint("outcome IN ('running', 'succeeded', 'failed')", name='ck_scheduled_runs_outcome'),
    sa.CheckConstraint("source IN ('schedule', 'cli')", name='ck_scheduled_runs_source'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduled_runs')),
    sa.UniqueConstraint('run_key', name=op.f('uq_scheduled_runs_run_key'))
    )
    with op.batch_alter_table('scheduled_runs', schema=None) as batch_op:
        batch_op.create_index('ix_scheduled_runs_job_started', ['job', 'started_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('scheduled_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_scheduled_runs_job_started')

    op.drop_table('scheduled_runs')
