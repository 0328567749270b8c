"""lead-to-cash view: milestones by name and time, contacts by when they were linked

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-28 06:50:00

"""
from typing import Sequence, Union

from alembic import op


revision: str = '0017'
down_revision: Union[str, Sequence[str], None] = '0016'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index('ix_span_name_started', 'trace_span', ['name', 'started_at'], unique=False)
    op.create_index('ix_link_type_created', 'entity_link', ['object_type', 'created_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_link_type_created', table_name='entity_link')
    op.drop_index('ix_span_name_started', table_name='trace_span')
