"""Bulk statements of the sync loop, in the dialect of the ledger (SQLite and PostgreSQL).

INSERT ... ON CONFLICT is spoken by both. The statements the loop runs once per record
(links, shadows, ops, spans, op results) go through `execute_many`: compiled once per
dialect, their values converted column by column with the column types' own converters,
then handed to the driver's executemany, without SQLAlchemy's per-row parameter work.

The statements it runs once per page (the page's links, shadows, ops by id) go through `fetch`
and `run` the same way: built once with named parameters, a list of ids bound as one parameter
(`listed`: SQLite reads it with `json_each`, PostgreSQL as an array), compiled once, run on the
driver's cursor, and only the columns that need it (JSON, times) converted.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ColumnElement,
    Dialect,
    String,
    Table,
    TypeDecorator,
    all_,
    any_,
    bindparam,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

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


class _JsonList(TypeDecorator[Any]):
    """A list of values bound as one JSON array (SQLite's `json_each` reads it back)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str:
        return orjson.dumps(list(value)).decode()


class _Listed(ColumnElement[bool]):
    """`column IN (the list bound as :name)`, or NOT IN; see `listed`."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a comparison: no "= 1" after it on SQLite
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
        ("negate", InternalTraversal.dp_boolean),
    ]

    def __init__(self, column: ColumnElement[Any], name: str, negate: bool) -> None:
        self.column = column
        self.values = bindparam(name, type_=_JsonList())
        self.negate = negate


@compiles(_Listed)
def _listed_sqlite(element: _Listed, compiler: Any, **kw: Any) -> str:
    column, values = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return f"{column} {'NOT IN' if element.negate else 'IN'} (SELECT value FROM json_each({values}))"


@compiles(_Listed, "postgresql")
def _listed_postgresql(element: _Listed, compiler: Any, **kw: Any) -> str:
    array = bindparam(element.values.key, type_=postgresql.ARRAY(element.column.type))
    clause = element.column != all_(array) if element.negate else element.column == any_(array)
    return str(compiler.process(clause, **kw))


def listed(column: _Column, name: str) -> ColumnElement[bool]:
    """`column` is one of the values of the list given as parameter `name` to `fetch` or `run`.

    However long the list, the statement has one parameter: it is compiled once, and neither
    SQLAlchemy nor the driver renders or parses a thousand placeholders per call.
    """
    return _Listed(_element(column), name, negate=False)


def unlisted(column: _Column, name: str) -> ColumnElement[bool]:
    """`column` is none of the values of the list given as parameter `name`."""
    return _Listed(_element(column), name, negate=True)


class _Unindexed(ColumnElement[Any]):
    """A column SQLite's planner must not pick an index on; see `unindexed`."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type


@compiles(_Unindexed)
def _unindexed_plain(element: _Unindexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column, **kw))


@compiles(_Unindexed, "sqlite")
def _unindexed_sqlite(element: _Unindexed, compiler: Any, **kw: Any) -> str:
    return f"+{compiler.process(element.column, **kw)}"  # https://sqlite.org/optoverview.html#disqualifying_where_clause_terms_using_unary_


def unindexed(column: _Column) -> ColumnElement[Any]:
    """`column`, as a term SQLite's planner will not use an index on (a unary +; PostgreSQL: the column).

    Without statistics SQLite takes any equality on an indexed column to select a few rows: it
    prefers the index on op status (every pending op) or on unread inbox events (every unread one)
    to the index on the page's ids, and a page then costs the whole backlog.
    """
    return _Unindexed(_element(column))


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
    results: tuple[Callable[[Any], Any] | None, ...] = ()  # per result column: DBAPI value -> Python value


@lru_cache(maxsize=256)
def _compile(dialect: Dialect, statement: ClauseElement, column_keys: tuple[str, ...] | None) -> _Compiled:
    # An INSERT compiled for executemany: no RETURNING of the new ids (PostgreSQL), which nothing reads.
    compiled = statement.compile(
        dialect=dialect, column_keys=list(column_keys) if column_keys else None, for_executemany=column_keys is not None
    )
    assert isinstance(compiled, SQLCompiler)
    positional = bool(dialect.positional)
    if positional:
        names = tuple(compiled.positiontup or ())
    else:  # the names the SQL text uses (`binds` also holds the keys of parameters renamed on the way)
        rendered = set(compiled.bind_names.values())
        names = tuple(name for name in compiled.binds if name in rendered)
    table = getattr(statement, "table", None) if column_keys is not None else None
    converters: dict[str, Callable[[Any], Any]] = {}
    repeating: set[str] = set()
    fixed: dict[str, Any] = {}
    for name in set(names):
        bind = compiled.binds[name]
        convert = _bind_processor(dialect, bind.type)
        if convert is not None:
            converters[name] = convert
        if isinstance(bind.type, UTCDateTime):
            repeating.add(name)
        if not bind.required:
            fixed[name] = _default(table, name) if table is not None else bind.value
    results = tuple(_result_processor(dialect, column[2], column[3]) for column in compiled._result_columns)
    return _Compiled(compiled.string, names, positional, converters, frozenset(repeating), fixed, results)


def _bind_processor(dialect: Dialect, type_: Any) -> Callable[[Any], Any] | None:
    """Python value -> DBAPI value for one parameter; JSON goes straight to the ledger's JSON encoder on SQLite
    (SQLAlchemy's processor only adds checks for its NULL markers, which the loop never binds)."""
    dumps = getattr(dialect, "_json_serializer", None)
    if dialect.name == "sqlite" and isinstance(type_, JSON) and not type_.none_as_null and dumps is not None:
        return dumps  # type: ignore[no-any-return]
    return type_.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[no-any-return]


def _result_processor(dialect: Dialect, objects: Sequence[Any], type_: Any) -> Callable[[Any], Any] | None:
    """DBAPI value -> Python value for one result column; a NOT NULL JSON column's text goes straight to the
    ledger's JSON decoder (SQLAlchemy's processor wraps it in checks the shadows' three columns pay per row)."""
    loads = getattr(dialect, "_json_deserializer", None)
    not_null = any(isinstance(o, Column) and not o.nullable for o in objects)
    if dialect.name == "sqlite" and isinstance(type_, JSON) and not_null and loads is not None:
        return loads  # type: ignore[no-any-return]
    return type_._cached_result_processor(dialect, None)  # type: ignore[no-any-return]


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


def _parameters(compiled: _Compiled, given: Mapping[str, Any]) -> Any:
    values: dict[str, Any] = {}
    for name in compiled.names:
        value = given[name] if name in given else compiled.fixed[name]
        convert = compiled.converters.get(name)
        values[name] = convert(value) if convert is not None and value is not None else value
    return tuple(values[name] for name in compiled.names) if compiled.positional else values


def _cursor(session: Session, statement: ClauseElement, given: Mapping[str, Any]) -> tuple[_Compiled, Any]:
    connection = session.connection()  # begins the session's transaction (SQLite: BEGIN IMMEDIATE) if not yet
    compiled = _compile(connection.dialect, statement, None)
    cursor = connection.connection.cursor()
    cursor.execute(compiled.sql, _parameters(compiled, given))
    return compiled, cursor


def fetch(session: Session, statement: ClauseElement, **parameters: Any) -> list[tuple[Any, ...]]:
    """The rows of a SELECT built once with named parameters (lists through `listed`), as plain tuples.

    Columns whose type converts values (JSON, times) are converted; the others come as the driver gives them.
    """
    compiled, cursor = _cursor(session, statement, parameters)
    try:
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    finally:
        cursor.close()
    if not rows or not any(compiled.results):
        return rows
    columns: list[Any] = list(zip(*rows, strict=True))
    for index, convert in enumerate(compiled.results):
        if convert is not None:  # column by column: one map per column, not a call per value and row
            columns[index] = map(convert, columns[index])
    return list(zip(*columns, strict=True))


def run(session: Session, statement: ClauseElement, **parameters: Any) -> int:
    """Run an UPDATE or DELETE built once with named parameters; returns how many rows it touched."""
    _, cursor = _cursor(session, statement, parameters)
    try:
        return int(cursor.rowcount)
    finally:
        cursor.close()


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
