"""accounts: privacy and abuse limits

- member_keys: one key per living member; personal values in audit entries are sealed with the
  key of the member the entry is about, and deleting the account destroys the key. The existing
  entries are sealed here too (the append-only triggers are lifted for that one rewrite); values
  of deleted members, or of entries about no member, are replaced outright. Downgrading opens
  the sealed values again (erased ones stay erased).
- sign_in_attempts keeps keyed hashes of the account and the address instead of the email and
  the IP address. The rows only matter for 15 minutes and the hashes need the server's secret,
  so the old rows are dropped rather than converted (both ways).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 19:49:43.584024
"""

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op
from cryptography.fernet import Fernet, InvalidToken

import dashboard_app.models.base


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in dashboard_app/domain/audit.py when this revision was written.
PERSONAL_FIELDS = frozenset({
    "email", "new_email", "display_name", "name", "address_line1", "address_line2",
    "address_city", "address_postal_code", "address_country", "wallet_address",
})
SEALED, ERASED, NOT_KEPT = "sealed:v1:", "[erased]", "[not kept]"

users = sa.table("users", sa.column("id", sa.Integer), sa.column("deleted_at", sa.DateTime))
member_keys = sa.table(
    "member_keys",
    sa.column("user_id", sa.Integer),
    sa.column("key", sa.String),
    sa.column("created_at", dashboard_app.models.base.UTCDateTime(timezone=True)),
)
audit_log = sa.table(
    "audit_log",
    sa.column("id", sa.Integer),
    sa.column("subject_user_id", sa.Integer),
    sa.column("before", sa.JSON),
    sa.column("after", sa.JSON),
)


def _rewrite_audit_values(rewrite: Callable[[str, int | None], object]) -> None:
    """Apply `rewrite(value, subject)` to every personal value of every audit entry."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    rows = bind.execute(
        sa.select(audit_log.c.id, audit_log.c.subject_user_id, audit_log.c.before, audit_log.c.after)
    ).all()
    for entry_id, subject, before, after in rows:
        changed = {}
        for name, values in (("before", before), ("after", after)):
            if not values:
                continue
            new = {
                field: rewrite(value, subject)
                if field in PERSONAL_FIELDS and isinstance(value, str) and value
                else value
                for field, value in values.items()
            }
            if new != values:
                changed[name] = new
        if changed:
            bind.execute(audit_log.update().where(audit_log.c.id == entry_id).values(**changed))
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    else:
        op.execute(
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
        )


def upgrade() -> None:
    op.create_table('member_keys',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_member_keys_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_member_keys'))
    )
    bind = op.get_bind()
    keys = {
        user_id: Fernet.generate_key().decode()
        for user_id, deleted_at in bind.execute(sa.select(users.c.id, users.c.deleted_at))
        if deleted_at is None
    }
    now = datetime.now(UTC)
    for user_id, key in keys.items():
        bind.execute(member_keys.insert().values(user_id=user_id, key=key, created_at=now))
    fernets = {user_id: Fernet(key.encode()) for user_id, key in keys.items()}

    def seal(value: str, subject: int | None) -> str:
        if value.startswith(SEALED) or value in (ERASED, NOT_KEPT):
            return value
        if subject is None:
            return NOT_KEPT
        if subject not in fernets:
            return ERASED
        return SEALED + fernets[subject].encrypt(json.dumps(value).encode()).decode()

    _rewrite_audit_values(seal)

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

    bind = op.get_bind()
    fernets = {
        user_id: Fernet(key.encode())
        for user_id, key in bind.execute(sa.select(member_keys.c.user_id, member_keys.c.key))
    }

    def open_(value: str, subject: int | None) -> str:
        if not value.startswith(SEALED):
            return value
        try:
            return json.loads(fernets[subject].decrypt(value.removeprefix(SEALED).encode()))
        except (KeyError, InvalidToken):
            return ERASED

    _rewrite_audit_values(open_)
    op.drop_table('member_keys')
