"""correlation ids across a deal's records, trace search keys, measured hops

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 00:50:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401

import sync_core.persistence.types


revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('correlation',
    sa.Column('canonical_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('correlation_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('object_type', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('created_at', sync_core.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('canonical_id')
    )
    op.create_index('ix_correlation_correlation_id', 'correlation', ['correlation_id'], unique=False)
    op.create_table('trace_key',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('correlation_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key', 'correlation_id', name='uq_trace_key')
    )
    op.create_index('ix_trace_key_key', 'trace_key', ['key'], unique=False)
    op.create_index('ix_trace_key_correlation_id', 'trace_key', ['correlation_id'], unique=False)
    op.create_table('hop',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('correlation_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('hop', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('started_at', sync_core.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sync_core.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('correlation_id', 'hop', name='uq_hop')
    )
    op.create_index('ix_hop_ended', 'hop', ['hop', 'ended_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_hop_ended', table_name='hop')
    op.drop_table('hop')
    op.drop_index('ix_trace_key_correlation_id', table_name='trace_key')
    op.drop_index('ix_trace_key_key', table_name='trace_key')
    op.drop_table('trace_key')
    op.drop_index('ix_correlation_correlation_id', table_name='correlation')
    op.drop_table('correlation')
