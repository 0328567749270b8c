"""INSERT ... ON CONFLICT in the dialect of the ledger (SQLite and PostgreSQL both speak it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def _insert(session: Session, table: Table) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return sqlite.insert(table)
    return postgresql.insert(table)


def insert_ignore(session: Session, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
    """Insert `rows`, skipping those whose `keys` already exist."""
    if rows:
        session.execute(_insert(session, table).on_conflict_do_nothing(index_elements=list(keys)), rows)


def insert_ignore_counted(session: Session, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> int:
    """Insert `rows`, skipping those whose `keys` already exist; how many were new."""
    if not rows:
        return 0
    stmt = _insert(session, table).on_conflict_do_nothing(index_elements=list(keys))
    return len(session.execute(stmt.returning(*table.primary_key.columns), rows).all())


def insert_returning_new(
    session: Session, table: Table, row: dict[str, Any], keys: Sequence[str]
) -> bool:
    """Insert one row unless its `keys` exist; True when it was inserted."""
    stmt = _insert(session, table).on_conflict_do_nothing(index_elements=list(keys))
    inserted = session.execute(stmt.returning(*table.primary_key.columns), row).first()
    return inserted is not None


def upsert(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str], update: Sequence[str]
) -> None:
    """Insert `rows`, or update the `update` columns of those whose `keys` already exist."""
    if not rows:
        return
    stmt = _insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={name: getattr(stmt.excluded, name) for name in update}
    )
    session.execute(stmt, rows)
