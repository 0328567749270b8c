"""field mappings say whether the sync loop creates records in their system

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 01:10:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('field_mapping', schema=None) as batch_op:
        batch_op.add_column(sa.Column('creates', sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('field_mapping', schema=None) as batch_op:
        batch_op.drop_column('creates')
