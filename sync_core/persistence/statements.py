"""Bulk statements of the sync loop, in the dialect of the ledger (SQLite and PostgreSQL).

INSERT ... ON CONFLICT is spoken by both. The statements the loop runs once per record
(links, shadows, ops, spans, op results) go through `execute_many`: compiled once per
dialect, their values converted column by column with the column types' own converters,
then handed to the driver's executemany, without SQLAlchemy's per-row parameter work.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Dialect, Table, all_, any_, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from sync_core.persistence.types import UTCDateTime

_Column = ColumnElement[Any] | Mapped[Any]


def among(session: Session, column: _Column, values: Collection[Any]) -> ColumnElement[bool]:
    """`column IN (values)`; on PostgreSQL `column = ANY(array)`, one parameter however many values.

    An IN list of a page's thousand ids is a thousand parameters that SQLAlchemy renders and the
    driver parses again at every call: on PostgreSQL that cost more than running the query.
    """
    element = _element(column)
    if session.get_bind().dialect.name == "postgresql":
        return element == any_(bindparam(None, list(values), type_=postgresql.ARRAY(element.type)))
    return element.in_(list(values))


def not_among(session: Session, column: _Column, values: Collection[Any]) -> ColumnElement[bool]:
    """`column NOT IN (values)`; on PostgreSQL `column <> ALL(array)`."""
    element = _element(column)
    if session.get_bind().dialect.name == "postgresql":
        return element != all_(bindparam(None, list(values), type_=postgresql.ARRAY(element.type)))
    return element.not_in(list(values))


def _element(column: _Column) -> ColumnElement[Any]:
    element = column if isinstance(column, ColumnElement) else column.__clause_element__()  # type: ignore[attr-defined]
    assert isinstance(element, ColumnElement)
    return element


def _insert(session: Session, table: Table) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return sqlite.insert(table)
    return postgresql.insert(table)


@dataclass(frozen=True)
class _Compiled:
    """A statement as the driver takes it: SQL text, and how to turn rows into its parameters."""

    sql: str
    names: tuple[str, ...]  # the parameters, in the order a positional driver wants them
    positional: bool
    converters: dict[str, Callable[[Any], Any]]  # parameter -> the DBAPI value of a Python value
    repeating: frozenset[str]  # parameters whose values repeat within a batch (times): converted once each
    fixed: dict[str, Any]  # parameters rows may leave out: a column's default, or the value the statement binds


@lru_cache(maxsize=256)
def _compile(dialect: Dialect, statement: ClauseElement, column_keys: tuple[str, ...] | None) -> _Compiled:
    compiled = statement.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
    assert isinstance(compiled, SQLCompiler)
    positional = bool(dialect.positional)
    names = tuple(compiled.positiontup or ()) if positional else tuple(compiled.binds)
    table = getattr(statement, "table", None) if column_keys is not None else None
    converters: dict[str, Callable[[Any], Any]] = {}
    repeating: set[str] = set()
    fixed: dict[str, Any] = {}
    for name in set(names):
        bind = compiled.binds[name]
        convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if convert is not None:
            converters[name] = convert
        if isinstance(bind.type, UTCDateTime):
            repeating.add(name)
        if not bind.required:
            fixed[name] = _default(table, name) if table is not None else bind.value
    return _Compiled(compiled.string, names, positional, converters, frozenset(repeating), fixed)


def _default(table: Table, name: str) -> Any:
    """The value an INSERT gives a column left out of its rows."""
    default = table.c[name].default
    if default is None:
        return None
    if not default.is_scalar:
        raise ValueError(f"{table.name}.{name} has a computed default: give it in every row")
    return default.arg  # type: ignore[attr-defined]


def _column(compiled: _Compiled, name: str, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    if name in compiled.fixed:
        fixed = compiled.fixed[name]
        values = [row.get(name, fixed) for row in rows]
    else:
        values = [row[name] for row in rows]
    convert = compiled.converters.get(name)
    if convert is None:
        return values
    if name in compiled.repeating:
        # A batch's times are nearly all one `now`: convert each distinct value once.
        seen: dict[Any, Any] = {}
        return [seen[v] if v in seen else seen.setdefault(v, convert(v)) for v in values]
    return [convert(v) for v in values]


def execute_many(
    session: Session,
    statement: ClauseElement,
    rows: Sequence[Mapping[str, Any]],
    column_keys: Sequence[str] | None = None,
) -> None:
    """Run `statement` once per row of `rows` (dicts keyed by parameter name) in one executemany.

    For an INSERT, `column_keys` names the columns given (by default, the first row's keys).
    `statement` should be built once and reused: its compiled form is cached on it.
    """
    if not rows:
        return
    connection = session.connection()
    keys = tuple(column_keys if column_keys is not None else rows[0]) if _is_insert(statement) else None
    compiled = _compile(connection.dialect, statement, keys)
    unique = list(dict.fromkeys(compiled.names))
    columns = dict(zip(unique, (_column(compiled, name, rows) for name in unique), strict=True))
    ordered = [columns[name] for name in compiled.names]
    params: list[Any] = (
        list(zip(*ordered, strict=True)) if compiled.positional
        else [dict(zip(compiled.names, values, strict=True)) for values in zip(*ordered, strict=True)]
    )
    connection.exec_driver_sql(compiled.sql, params)


def _is_insert(statement: ClauseElement) -> bool:
    return bool(getattr(statement, "is_insert", False))


@lru_cache(maxsize=128)
def _ignore_statement(dialect_name: str, table: Table, keys: tuple[str, ...]) -> ClauseElement:
    insert = sqlite.insert(table) if dialect_name == "sqlite" else postgresql.insert(table)
    return insert.on_conflict_do_nothing(index_elements=list(keys))


@lru_cache(maxsize=128)
def _upsert_statement(
    dialect_name: str, table: Table, keys: tuple[str, ...], update: tuple[str, ...]
) -> ClauseElement:
    insert = sqlite.insert(table) if dialect_name == "sqlite" else postgresql.insert(table)
    return insert.on_conflict_do_update(
        index_elements=list(keys), set_={name: getattr(insert.excluded, name) for name in update}
    )


def insert_ignore(session: Session, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
    """Insert `rows`, skipping those whose `keys` already exist."""
    if rows:
        dialect = session.get_bind().dialect.name
        execute_many(session, _ignore_statement(dialect, table, tuple(keys)), rows)


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
    if rows:
        dialect = session.get_bind().dialect.name
        execute_many(session, _upsert_statement(dialect, table, tuple(keys), tuple(update)), rows)
