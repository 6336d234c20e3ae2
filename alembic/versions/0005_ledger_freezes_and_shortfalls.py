"""ledger freezes, shortfalls and hold clawbacks

Frozen credits become ledger entries (kinds `freeze` and `thaw`, column `frozen_change`) drawn
from lots and remembered per dispute (table `credit_freezes`); refund shortfalls are recorded on
entries (`shortfall_change`); a hold remembers what a refund claimed from it (`clawback_owed`);
a lot counts its expiries (`expiry_count`) so expiry never scans the ledger.

Existing data is carried over: credits frozen the old way (a number on the account, still
counted as available) become freeze entries drawn from the member's lots, one per disputed
order; each account's recorded shortfall gets one entry that says so; each lot's expiry count is
taken from its expiry entries.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 19:51:11.438150
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

import dashboard_app.models.base


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = (
    'grant', 'purchase', 'allowance', 'spend', 'reserve', 'capture', 'release',
    'refund_clawback', 'expiry', 'adjustment',
)
NEW_KINDS = (*OLD_KINDS, 'freeze', 'thaw')


def _kinds(kinds: tuple[str, ...]) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def _restore_sqlite_triggers() -> None:
    # SQLite's batch mode rebuilds credit_entries without its append-only triggers.
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(f"DROP TRIGGER IF EXISTS credit_entries_no_{action.lower()}")
            op.execute(
                f"CREATE TRIGGER credit_entries_no_{action.lower()} BEFORE {action} ON credit_entries "
                "BEGIN SELECT RAISE(ABORT, 'credit_entries is append-only'); END"
            )


def upgrade() -> None:
    op.create_table('credit_freezes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('remaining', sa.BigInteger(), nullable=False),
    sa.Column('draws', sa.JSON(), nullable=False),
    sa.Column('created_at', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount >= 0', name='ck_credit_freezes_amount'),
    sa.CheckConstraint('remaining >= 0 AND remaining <= amount', name='ck_credit_freezes_remaining'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_credit_freezes_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_freezes')),
    sa.UniqueConstraint('reference', name=op.f('uq_credit_freezes_reference'))
    )
    with op.batch_alter_table('credit_freezes', schema=None) as batch_op:
        batch_op.create_index('ix_credit_freezes_user_remaining', ['user_id', 'remaining'], unique=False)

    with op.batch_alter_table('credit_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('frozen_change', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('shortfall_change', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.drop_constraint('ck_credit_entries_kind', type_='check')
        batch_op.create_check_constraint('ck_credit_entries_kind', _kinds(NEW_KINDS))
        batch_op.create_check_constraint('ck_credit_entries_shortfall_change', 'shortfall_change >= 0')
    _restore_sqlite_triggers()

    with op.batch_alter_table('credit_lots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expiry_count', sa.Integer(), server_default='0', nullable=False))

    with op.batch_alter_table('credit_reservations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('clawback_owed', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.create_check_constraint(
            'ck_credit_reservations_clawback_owed', 'clawback_owed >= 0 AND clawback_owed <= amount'
        )

    _carry_over_existing_data()


def _carry_over_existing_data() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)
    bind.execute(sa.text(
        "UPDATE credit_lots SET expiry_count = (SELECT count(*) FROM credit_entries "
        "WHERE credit_entries.kind = 'expiry' AND credit_entries.reference = 'lot:' || credit_lots.id)"
    ))
    entries = sa.table(
        'credit_entries', *(sa.column(c) for c in (
            'user_id', 'amount', 'held_change', 'frozen_change', 'shortfall_change',
            'balance_after', 'kind', 'idempotency_key', 'reference', 'reason', 'created_at',
        ))
    )
    freezes = sa.table(
        'credit_freezes',
        *(sa.column(c) for c in ('user_id', 'reference', 'amount', 'remaining', 'created_at', 'updated_at')),
        sa.column('draws', sa.JSON()),
    )
    created_at = sa.column('created_at', dashboard_app.models.base.UTCDateTime())
    entries.c.created_at.type = created_at.type
    freezes.c.created_at.type = freezes.c.updated_at.type = created_at.type

    accounts = bind.execute(sa.text(
        "SELECT user_id, available, clawback_shortfall FROM credit_accounts "
        "WHERE frozen > 0 OR clawback_shortfall > 0 ORDER BY user_id"
    )).all()
    for user_id, available, shortfall in accounts:
        if shortfall > 0:
            bind.execute(entries.insert().values(
                user_id=user_id, amount=0, held_change=0, frozen_change=0,
                shortfall_change=shortfall, balance_after=available, kind='refund_clawback',
                idempotency_key=f'migration-0005:shortfall:{user_id}',
                reference=f'migration-0005:shortfall:{user_id}',
                reason=f'{shortfall} refunded credits already spent, recorded before this entry existed',
                created_at=now,
            ))
        frozen_total = 0
        disputed = bind.execute(sa.text(
            "SELECT id, stripe_dispute_id, credits_frozen FROM orders "
            "WHERE user_id = :u AND credits_frozen > 0 ORDER BY id"
        ), {"u": user_id}).all()
        for order_id, dispute_id, wanted in disputed:
            # Freeze what is still available, drawn from the lots that expire first.
            lots = bind.execute(sa.text(
                "SELECT id, remaining FROM credit_lots WHERE user_id = :u AND remaining > 0 "
                "AND (expires_at IS NULL OR expires_at > :now) "
                "ORDER BY CASE WHEN expires_at IS NULL THEN 1 ELSE 0 END, expires_at, id"
            ), {"u": user_id, "now": now}).all()
            needed, draws = min(wanted, available), []
            for lot_id, remaining in lots:
                if needed == 0:
                    break
                take = min(remaining, needed)
                bind.execute(sa.text("UPDATE credit_lots SET remaining = remaining - :t WHERE id = :i"),
                             {"t": take, "i": lot_id})
                draws.append([lot_id, take])
                needed -= take
            frozen = sum(take for _, take in draws)
            available -= frozen
            frozen_total += frozen
            reference = f'dispute:{dispute_id}' if dispute_id else f'order:{order_id}'
            bind.execute(freezes.insert().values(
                user_id=user_id, reference=reference, amount=frozen, remaining=frozen,
                draws=draws, created_at=now, updated_at=now,
            ))
            bind.execute(entries.insert().values(
                user_id=user_id, amount=-frozen, held_change=0, frozen_change=frozen,
                shortfall_change=0, balance_after=available, kind='freeze',
                idempotency_key=f'freeze:{reference}', reference=reference,
                reason=f'Frozen while the payment of order #{order_id} is disputed',
                created_at=now,
            ))
            bind.execute(sa.text("UPDATE orders SET credits_frozen = :f WHERE id = :i"),
                         {"f": frozen, "i": order_id})
        bind.execute(sa.text(
            "UPDATE credit_accounts SET available = :a, frozen = :f WHERE user_id = :u"
        ), {"a": available, "f": frozen_total, "u": user_id})


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text(
        "SELECT count(*) FROM credit_entries WHERE kind IN ('freeze', 'thaw')"
    )).scalar():
        raise RuntimeError(
            "The ledger has freeze or thaw entries, which revision 0004 cannot represent; "
            "it is append-only, so this downgrade stops here."
        )
    with op.batch_alter_table('credit_reservations', schema=None) as batch_op:
        batch_op.drop_constraint('ck_credit_reservations_clawback_owed', type_='check')
        batch_op.drop_column('clawback_owed')

    with op.batch_alter_table('credit_lots', schema=None) as batch_op:
        batch_op.drop_column('expiry_count')

    with op.batch_alter_table('credit_entries', schema=None) as batch_op:
        batch_op.drop_constraint('ck_credit_entries_shortfall_change', type_='check')
        batch_op.drop_constraint('ck_credit_entries_kind', type_='check')
        batch_op.create_check_constraint('ck_credit_entries_kind', _kinds(OLD_KINDS))
        batch_op.drop_column('shortfall_change')
        batch_op.drop_column('frozen_change')
    _restore_sqlite_triggers()

    with op.batch_alter_table('credit_freezes', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_freezes_user_remaining')

    op.drop_table('credit_freezes')
