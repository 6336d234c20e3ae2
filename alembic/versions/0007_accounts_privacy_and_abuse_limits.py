"""accounts: privacy and abuse limits

Sign-in attempts keep keyed hashes of the account and the address instead of the email and the
IP address. The rows only matter for 15 minutes and the hashes need the server's secret, so the
old rows are dropped rather than converted (both ways).

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-23 19:49:43.584024
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0007'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM sign_in_attempts")
    with op.batch_alter_table('sign_in_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False))
        batch_op.add_column(sa.Column('address_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False))
        batch_op.drop_index(batch_op.f('ix_sign_in_attempts_email_time'))
        batch_op.drop_index(batch_op.f('ix_sign_in_attempts_ip_time'))
        batch_op.create_index('ix_sign_in_attempts_account_time', ['account_key', 'created_at'], unique=False)
        batch_op.create_index('ix_sign_in_attempts_address_time', ['address_key', 'created_at'], unique=False)
        batch_op.drop_column('email')
        batch_op.drop_column('ip_address')


def downgrade() -> None:
    op.execute("DELETE FROM sign_in_attempts")
    with op.batch_alter_table('sign_in_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ip_address', sa.VARCHAR(length=64), nullable=False))
        batch_op.add_column(sa.Column('email', sa.VARCHAR(length=320), nullable=False))
        batch_op.drop_index('ix_sign_in_attempts_address_time')
        batch_op.drop_index('ix_sign_in_attempts_account_time')
        batch_op.create_index(batch_op.f('ix_sign_in_attempts_ip_time'), ['ip_address', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sign_in_attempts_email_time'), ['email', 'created_at'], unique=False)
        batch_op.drop_column('address_key')
        batch_op.drop_column('account_key')
