"""reconciliation: matching keys of the records a pass read, open findings per pass

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 04:35:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401


revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('reconcile_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('open_findings', sa.Integer(), nullable=True))
    with op.batch_alter_table('reconcile_seen', schema=None) as batch_op:
        batch_op.add_column(sa.Column('match_key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
        batch_op.create_index('ix_reconcile_seen_key', ['run_id', 'system', 'object_type', 'match_key'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('reconcile_seen', schema=None) as batch_op:
        batch_op.drop_index('ix_reconcile_seen_key')
        batch_op.drop_column('match_key')
    with op.batch_alter_table('reconcile_run', schema=None) as batch_op:
        batch_op.drop_column('open_findings')
