"""repair queue: each dead letter's root cause and money at stake, indexed for grouping

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 07:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401

from sync_core.domain.root_cause import money_at_stake, root_cause


revision: str = '0012'
down_revision: Union[str, Sequence[str], None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_DEAD = sa.text("status = 'dead'")
_UNFILED = sa.text("status = 'dead' AND root_cause IS NULL")
_BATCH = 1000

_ops = sa.table(
    'outbound_op',
    sa.column('id', sa.BigInteger()),
    sa.column('status', sa.String()),
    sa.column('error_category', sa.String()),
    sa.column('error_message', sa.Text()),
    sa.column('payload', sa.JSON()),
    sa.column('result', sa.JSON()),
    sa.column('root_cause', sa.String()),
    sa.column('money_at_stake', sa.Float()),
)


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('outbound_op', schema=None) as batch_op:
        batch_op.add_column(sa.Column('root_cause', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=True))
        batch_op.add_column(sa.Column('money_at_stake', sa.Float(), nullable=True))
    _backfill()
    with op.batch_alter_table('outbound_op', schema=None) as batch_op:
        batch_op.create_index(
            'ix_op_dead_root_cause', ['root_cause', 'id', 'updated_at', 'money_at_stake'], unique=False,
            sqlite_where=_DEAD, postgresql_where=_DEAD,
        )
        batch_op.create_index('ix_op_dead_unfiled', ['id'], unique=False, sqlite_where=_UNFILED,
                              postgresql_where=_UNFILED)


def _backfill() -> None:
    """The dead letters already in the ledger get their root cause, a batch of ids at a time."""
    connection = op.get_bind()
    after = 0
    while True:
        rows = connection.execute(
            sa.select(_ops.c.id, _ops.c.error_category, _ops.c.error_message, _ops.c.payload, _ops.c.result)
            .where(_ops.c.status == 'dead', _ops.c.id > after).order_by(_ops.c.id).limit(_BATCH)
        ).all()
        if not rows:
            return
        updates = [
            {
                'b_id': row.id,
                'b_cause': root_cause(row.error_category, row.error_message, (row.result or {}).get('held')),
                'b_money': money_at_stake(row.payload or {}),
            }
            for row in rows
        ]
        connection.execute(
            _ops.update().where(_ops.c.id == sa.bindparam('b_id'))
            .values(root_cause=sa.bindparam('b_cause'), money_at_stake=sa.bindparam('b_money')),
            updates,
        )
        after = rows[-1].id


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('outbound_op', schema=None) as batch_op:
        batch_op.drop_index('ix_op_dead_unfiled', sqlite_where=_UNFILED, postgresql_where=_UNFILED)
        batch_op.drop_index('ix_op_dead_root_cause', sqlite_where=_DEAD, postgresql_where=_DEAD)
        batch_op.drop_column('money_at_stake')
        batch_op.drop_column('root_cause')
