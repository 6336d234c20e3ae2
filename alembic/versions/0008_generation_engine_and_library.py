"""generation engine and library

Generations, variants and assets gain what the engine and the library need (preset, format,
attempts, deadlines, per-variant status and revisions, saved assets with tags and search
text). Library search: an FTS5 table kept by triggers on SQLite, a GIN index on PostgreSQL.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 19:46:07.267329
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import dashboard_app.models.base


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Saved, undeleted assets are searchable. Searches filter by owner on the assets table, so the
# cost of a search follows its matches, not the size of anyone's library.
SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE asset_search USING fts5(body, tokenize = 'unicode61 remove_diacritics 2')",
    "CREATE TRIGGER assets_search_insert AFTER INSERT ON assets "
    "WHEN new.saved_at IS NOT NULL AND new.deleted_at IS NULL BEGIN "
    "INSERT INTO asset_search (rowid, body) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER assets_search_update AFTER UPDATE OF search_text, saved_at, deleted_at ON assets BEGIN "
    "DELETE FROM asset_search WHERE rowid = old.id; "
    "INSERT INTO asset_search (rowid, body) SELECT new.id, new.search_text "
    "WHERE new.saved_at IS NOT NULL AND new.deleted_at IS NULL; END",
    "CREATE TRIGGER assets_search_delete AFTER DELETE ON assets BEGIN "
    "DELETE FROM asset_search WHERE rowid = old.id; END",
]
# fastupdate off: library writes are rare, and a pending list would be scanned by every search.
POSTGRESQL_SEARCH = [
    "CREATE INDEX ix_assets_search ON assets USING gin (to_tsvector('simple', search_text)) "
    "WITH (fastupdate = off) WHERE saved_at IS NOT NULL AND deleted_at IS NULL",
]


def upgrade() -> None:
    op.create_table('asset_tags',
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('tag', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('saved_at', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_asset_tags_asset_id_assets')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_asset_tags_owner_id_users')),
    sa.PrimaryKeyConstraint('asset_id', 'tag', name=op.f('pk_asset_tags'))
    )
    with op.batch_alter_table('asset_tags', schema=None) as batch_op:
        batch_op.create_index('ix_asset_tags_owner_tag_saved', ['owner_id', 'tag', 'saved_at', 'asset_id'], unique=False)

    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('poster_key', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True))
        batch_op.add_column(sa.Column('thumbnail_key', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True))
        batch_op.add_column(sa.Column('duration_ms', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(length=32), server_default='', nullable=False))
        batch_op.add_column(sa.Column('preset', sqlmodel.sql.sqltypes.AutoString(length=32), server_default='', nullable=False))
        batch_op.add_column(sa.Column('tags', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('search_text', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('saved_at', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('updated_at', dashboard_app.models.base.UTCDateTime(timezone=True), server_default=sa.func.current_timestamp(), nullable=False))
        batch_op.create_index('ix_assets_owner_kind_saved', ['owner_id', 'kind', 'saved_at', 'id'], unique=False)
        batch_op.create_index('ix_assets_owner_platform_saved', ['owner_id', 'platform', 'saved_at', 'id'], unique=False)
        batch_op.create_index('ix_assets_owner_saved', ['owner_id', 'saved_at', 'id'], unique=False)

    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submitted_at', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('preset', sqlmodel.sql.sqltypes.AutoString(length=32), server_default='', nullable=False))
        batch_op.add_column(sa.Column('format', sqlmodel.sql.sqltypes.AutoString(length=16), server_default='video', nullable=False))
        batch_op.add_column(sa.Column('variant_count', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('attempt', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('processing_seconds', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('deadline_at', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('updated_at', dashboard_app.models.base.UTCDateTime(timezone=True), server_default=sa.func.current_timestamp(), nullable=False))
        batch_op.create_index('ix_generations_user_status_id', ['user_id', 'status', 'id'], unique=False)
        batch_op.create_check_constraint('ck_generations_format', "format IN ('video', 'image')")
        batch_op.create_check_constraint('ck_generations_variant_count', 'variant_count >= 1')
        batch_op.create_check_constraint('ck_generations_attempt', 'attempt >= 1')

    with op.batch_alter_table('variants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), server_default='queued', nullable=False))
        batch_op.add_column(sa.Column('progress', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True))
        batch_op.add_column(sa.Column('revision', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('credits_cost', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('reservation_reference', sqlmodel.sql.sqltypes.AutoString(length=255), server_default='', nullable=False))
        batch_op.add_column(sa.Column('processing_ms', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('regenerated_at', dashboard_app.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('updated_at', dashboard_app.models.base.UTCDateTime(timezone=True), server_default=sa.func.current_timestamp(), nullable=False))
        batch_op.create_check_constraint('ck_variants_status', "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')")
        batch_op.create_check_constraint('ck_variants_progress', 'progress >= 0 AND progress <= 100')
        batch_op.create_check_constraint('ck_variants_revision', 'revision >= 0')

    statements = SQLITE_SEARCH if op.get_bind().dialect.name == "sqlite" else POSTGRESQL_SEARCH
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS assets_search_{trigger}")
        op.execute("DROP TABLE IF EXISTS asset_search")
    else:
        op.execute("DROP INDEX IF EXISTS ix_assets_search")

    with op.batch_alter_table('variants', schema=None) as batch_op:
        batch_op.drop_constraint('ck_variants_revision', type_='check')
        batch_op.drop_constraint('ck_variants_progress', type_='check')
        batch_op.drop_constraint('ck_variants_status', type_='check')
        batch_op.drop_column('updated_at')
        batch_op.drop_column('regenerated_at')
        batch_op.drop_column('processing_ms')
        batch_op.drop_column('reservation_reference')
        batch_op.drop_column('credits_cost')
        batch_op.drop_column('revision')
        batch_op.drop_column('error')
        batch_op.drop_column('progress')
        batch_op.drop_column('status')

    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.drop_constraint('ck_generations_attempt', type_='check')
        batch_op.drop_constraint('ck_generations_variant_count', type_='check')
        batch_op.drop_constraint('ck_generations_format', type_='check')
        batch_op.drop_index('ix_generations_user_status_id')
        batch_op.drop_column('updated_at')
        batch_op.drop_column('deadline_at')
        batch_op.drop_column('processing_seconds')
        batch_op.drop_column('attempt')
        batch_op.drop_column('variant_count')
        batch_op.drop_column('format')
        batch_op.drop_column('preset')
        batch_op.drop_column('title')

    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.drop_column('submitted_at')

    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_index('ix_assets_owner_saved')
        batch_op.drop_index('ix_assets_owner_platform_saved')
        batch_op.drop_index('ix_assets_owner_kind_saved')
        batch_op.drop_column('updated_at')
        batch_op.drop_column('saved_at')
        batch_op.drop_column('search_text')
        batch_op.drop_column('tags')
        batch_op.drop_column('preset')
        batch_op.drop_column('platform')
        batch_op.drop_column('duration_ms')
        batch_op.drop_column('thumbnail_key')
        batch_op.drop_column('poster_key')

    with op.batch_alter_table('asset_tags', schema=None) as batch_op:
        batch_op.drop_index('ix_asset_tags_owner_tag_saved')

    op.drop_table('asset_tags')
