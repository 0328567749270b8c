"""console: indexes the pages need on a ledger of a million ops (bench/console.py found them)

- dead letters newest first, any category, at any page: the dead ops' ids (partial index);
- held orders (money held in repair): the dead ops' operation, record and category (partial, covering);
- trace search by a record id: entity_link.external_id (its unique key starts with object_type);
- lead-to-cash hop times and hourly trends: hops by hop and end time with their durations (covering,
  so a month of hops is read from the index alone, in hop order);
- trace search by a prefix: trace_key.key in byte order on PostgreSQL (varchar_pattern_ops), which
  LIKE 'abc%' can use under any collation; the unique key (key, correlation_id) serves equality, so
  the plain index on key goes.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28 07:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0016'
down_revision: Union[str, Sequence[str], None] = '0015'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

DEAD = sa.text("status = 'dead'")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index('ix_op_dead', 'outbound_op', ['id'], unique=False, sqlite_where=DEAD, postgresql_where=DEAD)
    op.create_index('ix_op_dead_operation', 'outbound_op', ['operation', 'canonical_id', 'error_category'],
                    unique=False, sqlite_where=DEAD, postgresql_where=DEAD)
    op.create_index('ix_link_external_id', 'entity_link', ['external_id'], unique=False)
    op.drop_index('ix_hop_ended', table_name='hop')
    op.create_index('ix_hop_ended', 'hop', ['hop', 'ended_at', 'seconds'], unique=False)
    op.drop_index('ix_trace_key_key', table_name='trace_key')
    op.create_index('ix_trace_key_prefix', 'trace_key', ['key'], unique=False,
                    postgresql_ops={'key': 'varchar_pattern_ops'})


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_trace_key_prefix', table_name='trace_key')
    op.create_index('ix_trace_key_key', 'trace_key', ['key'], unique=False)
    op.drop_index('ix_hop_ended', table_name='hop')
    op.create_index('ix_hop_ended', 'hop', ['hop', 'ended_at'], unique=False)
    op.drop_index('ix_link_external_id', table_name='entity_link')
    op.drop_index('ix_op_dead_operation', table_name='outbound_op')
    op.drop_index('ix_op_dead', table_name='outbound_op')
