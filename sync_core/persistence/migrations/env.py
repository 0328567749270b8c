"""Alembic environment: migrates the ledger whose URL the caller put on the config."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from sync_core.persistence import tables  # noqa: F401  (registers the tables on the metadata)
from sync_core.persistence.database import make_engine

config = context.config
url = config.get_main_option("sqlalchemy.url") or "sqlite:///revline.db"
engine = make_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=engine.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
engine.dispose()
