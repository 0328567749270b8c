"""lane cursors as long as a connector needs

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 01:55:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('lane', schema=None) as batch_op:
        batch_op.alter_column('cursor', existing_type=sa.String(length=255), type_=sa.Text(), existing_nullable=True)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('lane', schema=None) as batch_op:
        batch_op.alter_column('cursor', existing_type=sa.Text(), type_=sa.String(length=255), existing_nullable=True)
