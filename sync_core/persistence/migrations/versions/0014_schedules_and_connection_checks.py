"""schedules: the table the tickers follow, firing outcomes; connections: last check; indexes for both pages

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 06:50:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401

from sync_core.persistence.types import UTCDateTime


revision: str = '0014'
down_revision: Union[str, Sequence[str], None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'schedule',
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('seconds', sa.Float(), nullable=False),
        sa.Column('paused', sa.Boolean(), nullable=False),
        sa.Column('run_requested_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('run_requested_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    with op.batch_alter_table('tick', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False, server_default='ok')
        )
        batch_op.add_column(sa.Column('error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('requested_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True))
    op.create_index(
        'ix_tick_failed', 'tick', ['schedule', 'fire_at'], unique=False,
        sqlite_where=sa.text("outcome = 'failed'"), postgresql_where=sa.text("outcome = 'failed'"),
    )
    with op.batch_alter_table('connection', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checked_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('checked_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True))
        batch_op.add_column(sa.Column('check_ok', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('check_message', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.create_index(
        'ix_run_system_ok', 'sync_run', ['system', 'finished_at'], unique=False,
        sqlite_where=sa.text("status = 'ok'"), postgresql_where=sa.text("status = 'ok'"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_run_system_ok', table_name='sync_run')
    with op.batch_alter_table('connection', schema=None) as batch_op:
        batch_op.drop_column('check_message')
        batch_op.drop_column('check_ok')
        batch_op.drop_column('checked_by')
        batch_op.drop_column('checked_at')
    op.drop_index('ix_tick_failed', table_name='tick')
    with op.batch_alter_table('tick', schema=None) as batch_op:
        batch_op.drop_column('requested_by')
        batch_op.drop_column('error')
        batch_op.drop_column('outcome')
    op.drop_table('schedule')
