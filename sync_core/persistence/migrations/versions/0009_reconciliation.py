"""reconciliation findings, runs and seen records

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 04:10:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401

import sync_core.persistence.types  # noqa: F401


# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    for table in ('lane', 'sync_run'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('direction', existing_type=sa.String(length=8), type_=sa.String(length=16),
                                  existing_nullable=False)
    op.create_table('finding',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('object_type', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('canonical_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('field', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('systems', sa.JSON(), nullable=False),
    sa.Column('records', sa.JSON(), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('summary', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('money', sa.Float(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('first_seen_at', sync_core.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sync_core.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sync_core.persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('heal_op_id', sa.Integer(), nullable=True),
    sa.Column('healed_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('correlation_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.create_index('ix_finding_canonical', ['canonical_id'], unique=False)
        batch_op.create_index('ix_finding_status_kind', ['status', 'kind'], unique=False)

    op.create_table('reconcile_run',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('started_at', sync_core.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sync_core.persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('lanes_total', sa.Integer(), nullable=False),
    sa.Column('lanes_done', sa.Integer(), nullable=False),
    sa.Column('records_read', sa.Integer(), nullable=False),
    sa.Column('findings_opened', sa.Integer(), nullable=False),
    sa.Column('findings_closed', sa.Integer(), nullable=False),
    sa.Column('heals', sa.Integer(), nullable=False),
    sa.Column('api_calls', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reconcile_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reconcile_run_started_at'), ['started_at'], unique=False)

    op.create_table('reconcile_seen',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('system', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('object_type', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.PrimaryKeyConstraint('run_id', 'system', 'object_type', 'external_id')
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('reconcile_seen')
    with op.batch_alter_table('reconcile_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reconcile_run_started_at'))

    op.drop_table('reconcile_run')
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.drop_index('ix_finding_status_kind')
        batch_op.drop_index('ix_finding_canonical')

    op.drop_table('finding')
    for table in ('lane', 'sync_run'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('direction', existing_type=sa.String(length=16), type_=sa.String(length=8),
                                  existing_nullable=False)
