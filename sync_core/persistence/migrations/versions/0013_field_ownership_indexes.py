"""field ownership: indexes for a policy change's preview (shadows by object) and its history

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 07:10:00

"""
from typing import Sequence, Union

from alembic import op


revision: str = '0013'
down_revision: Union[str, Sequence[str], None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # A preview walks the linked records of one object type in canonical id order.
    op.create_index('ix_shadow_object_canonical', 'shadow', ['object_type', 'canonical_id'])
    # The history of one object's policy: a few audit actions, by subject.
    op.create_index('ix_audit_log_action_subject', 'audit_log', ['action', 'subject'])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_audit_log_action_subject', table_name='audit_log')
    op.drop_index('ix_shadow_object_canonical', table_name='shadow')
