"""billing edge cases: this installation's id, dispute status, order refresh backoff, when a
subscription's state was read from Stripe, and refused duplicate subscriptions

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 19:51:29.935294
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import dashboard_app.models.base


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('installation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('created_at', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('id = 1', name='ck_installation_single_row'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_installation'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dispute_status', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column('refresh_failures', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('refresh_after', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stripe_state_at', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('refused_as_duplicate', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('refused_as_duplicate')
        batch_op.drop_column('stripe_state_at')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('refresh_after')
        batch_op.drop_column('refresh_failures')
        batch_op.drop_column('dispute_status')

    op.drop_table('installation')
