"""wallet holdings: the tokens of each member's wallet, and each member's refreshes

`holdings` keeps the tokens a member's preferred wallet held at the last good refresh from the
marketplace (one row per member, chain, contract and token; `wallet_address` is the wallet it
was read for). `holdings_syncs` records per member the wallet last read, when a refresh last
succeeded and was last tried, the last error, and the refresh in flight.

Revision ID: 0014_holdings
Revises: 0013_api_keys
Create Date: 2026-11-24 05:43:49.058565
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import dashboard_app.models.base


revision: str = '0014_holdings'
down_revision: str | None = '0013_api_keys'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('holdings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('wallet_address', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('chain', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('contract', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('token_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('collection', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('image_url', sa.Text(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('synced_at', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_holdings_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_holdings')),
    sa.UniqueConstraint('user_id', 'chain', 'contract', 'token_id', name='uq_holdings_member_token')
    )
    with op.batch_alter_table('holdings', schema=None) as batch_op:
        batch_op.create_index('ix_holdings_collection', ['collection'], unique=False)

    op.create_table('holdings_syncs',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('wallet_address', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('chain', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('last_synced_at', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_attempt_at', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('refresh_queued_at', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('refresh_started_at', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_holdings_syncs_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_holdings_syncs'))
    )


def downgrade() -> None:
    op.drop_table('holdings_syncs')
    with op.batch_alter_table('holdings', schema=None) as batch_op:
        batch_op.drop_index('ix_holdings_collection')

    op.drop_table('holdings')
