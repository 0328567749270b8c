"""access: console users with roles, and their sign-in sessions

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 06:40:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401

from sync_core.persistence.types import UTCDateTime


revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'user_account',
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('disabled_at', UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_table(
        'user_session',
        sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('user_name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('ended_at', UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('token_hash'),
    )
    op.create_index('ix_user_session_user_name', 'user_session', ['user_name'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_user_session_user_name', table_name='user_session')
    op.drop_table('user_session')
    op.drop_table('user_account')
