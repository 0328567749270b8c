"""SOQL run against the store: fields resolved through parents, filters, ordering, and pages of 2,000 with a locator."""

from __future__ import annotations

import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.salesforce.sandbox.api_errors import ApiError, not_found, refuse
from connectors.salesforce.sandbox.ids import QUERY_LOCATOR_PREFIX, make_id, normalize
from connectors.salesforce.sandbox.schema import NUMBER_TYPES, SOBJECTS, Field, SObjectType, sobject
from connectors.salesforce.sandbox.soql import (
    Comparison,
    Expr,
    Junction,
    Like,
    Literal,
    Membership,
    Negation,
    Path,
    Query,
    parse,
)
from connectors.salesforce.sandbox.store import Record, Store
from connectors.salesforce.sandbox.values import render, render_csv

# https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_queryoptions.htm
# 2,000 records per page by default; Sforce-Query-Options: batchSize may ask for 200 to 2,000.
PAGE_SIZE = 2000
MIN_PAGE_SIZE = 200
MAX_OFFSET = 2000  # https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_offset.htm
_KEPT_CURSORS = 200


@dataclass(frozen=True)
class Step:
    """A field reached from the queried object: the lookups walked, then the field."""

    lookups: tuple[Field, ...]
    field: Field
    path: Path

    @property
    def name(self) -> str:
        return ".".join([*(str(f.relationship) for f in self.lookups), self.field.name])


@dataclass(frozen=True)
class Plan:
    sobject: SObjectType
    query: Query
    select: tuple[Step, ...]


def _invalid_field(query: Query, path: Path, message: str) -> ApiError:
    text = query.text
    return refuse(
        400,
        "INVALID_FIELD",
        f"\n{text}\n{' ' * path.position}^\nERROR at Row:1:Column:{path.position + 1}\n{message}",
    )


def resolve(query: Query, t: SObjectType, path: Path) -> Step:
    """The field a path names, walking parent relationships; INVALID_FIELD when there is none."""
    parts = list(path.parts)
    if len(parts) > 1 and parts[0].lower() == t.name.lower():
        parts = parts[1:]  # SELECT Account.Name FROM Account is allowed
    current = t
    lookups: list[Field] = []
    for part in parts[:-1]:
        lookup = current.relationship(part)
        if lookup is None:
            raise _invalid_field(
                query,
                path,
                f"Didn't understand relationship '{part}' in field path. If you are attempting to use a custom"
                " relationship, be sure to append the '__r' after the custom relationship name. Please reference your"
                " WSDL or the describe call for the appropriate names.",
            )
        lookups.append(lookup)
        current = SOBJECTS[lookup.reference_to[0]]
    found = current.field(parts[-1])
    if found is None:
        raise _invalid_field(
            query,
            path,
            f"No such column '{parts[-1]}' on entity '{current.name}'. If you are attempting to use a custom field,"
            " be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe"
            " call for the appropriate names.",
        )
    return Step(tuple(lookups), found, path)


def plan(query: Query) -> Plan:
    t = sobject(query.sobject)
    if t is None:
        raise refuse(
            400,
            "INVALID_TYPE",
            f"\n{query.text}\nERROR at Row:1\nsObject type '{query.sobject}' is not supported. If you are attempting"
            " to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or"
            " the describe call for the appropriate names.",
        )
    if query.offset is not None and query.offset > MAX_OFFSET:
        raise refuse(400, "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}")
    select = tuple(resolve(query, t, p) for p in query.select)
    if query.where is not None:
        _check_filter(query, t, query.where)
    for ordering in query.order:
        resolve(query, t, ordering.path)
    return Plan(t, query, select)


_KIND_OF = {"boolean": "boolean", "date": "date", "datetime": "dateTime"}


def _check_filter(query: Query, t: SObjectType, expr: Expr) -> None:
    if isinstance(expr, Junction):
        for part in expr.parts:
            _check_filter(query, t, part)
        return
    if isinstance(expr, Negation):
        _check_filter(query, t, expr.expr)
        return
    step = resolve(query, t, expr.path)
    literals: tuple[Literal, ...] = ()
    if isinstance(expr, Comparison):
        literals = (expr.literal,)
        if expr.literal.kind == "null" and expr.op not in ("=", "!="):
            raise refuse(400, "MALFORMED_QUERY", f"invalid operator {expr.op} on null for field {step.field.name}")
    elif isinstance(expr, Membership):
        literals = expr.literals
    elif isinstance(expr, Like) and step.field.type not in ("string", "textarea", "email", "phone", "url", "picklist"):
        raise _invalid_field(query, expr.path, f"invalid operator on field {step.field.name}: LIKE")
    for literal in literals:
        if not _fits(step.field, literal):
            wanted = _KIND_OF.get(step.field.type, "number" if step.field.type in NUMBER_TYPES else "string")
            raise _invalid_field(
                query,
                expr.path,
                f"value of filter criterion for field '{step.field.name}' must be of type {wanted}"
                + (" and should not be enclosed in quotes" if literal.kind == "string" else ""),
            )


def _fits(field: Field, literal: Literal) -> bool:
    if literal.kind == "null":
        return True
    if field.type in NUMBER_TYPES:
        return literal.kind == "number"
    if field.type == "boolean":
        return literal.kind == "boolean"
    if field.type == "date":
        return literal.kind in ("date", "range")
    if field.type == "datetime":
        return literal.kind in ("datetime", "range")
    return literal.kind == "string"


# -- evaluation ---------------------------------------------------------------------------------


def _value(step: Step, record: Record, store: Store) -> Any:
    current: Record | None = record
    for lookup in step.lookups:
        parent_id = current.values.get(lookup.name) if current else None
        current = store.get(str(parent_id)) if parent_id else None
    return current.values.get(step.field.name) if current else None


def _comparable(field: Field, value: Any) -> Any:
    if field.type in ("id", "reference") and isinstance(value, str):
        return normalize(value) or value
    if isinstance(value, str):
        return value.lower()  # SOQL compares text case-insensitively
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def _literal_value(field: Field, literal: Literal) -> Any:
    if literal.kind == "range":
        start, end = literal.value
        return (start.date(), end.date()) if field.type == "date" else (start, end)
    return _comparable(field, literal.value)


def _like(pattern: str) -> re.Pattern[str]:
    out = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            out.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        index += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
}


def _in_range(op: str, value: Any, start: Any, end: Any) -> bool:
    inside = bool(start <= value < end)
    outcomes: dict[str, bool] = {
        "=": inside,
        "!=": not inside,
        "<": bool(value < start),
        "<=": bool(value < end),
        ">": bool(value >= end),
        ">=": bool(value >= start),
    }
    return outcomes[op]


class Evaluator:
    """Tests records against a plan's filter."""

    def __init__(self, plan: Plan, store: Store) -> None:
        self.plan = plan
        self.store = store
        self._steps: dict[Path, Step] = {}
        self._patterns: dict[str, re.Pattern[str]] = {}
        self._members: dict[int, tuple[Membership, frozenset[Any]]] = {}

    def step(self, path: Path) -> Step:
        if path not in self._steps:
            self._steps[path] = resolve(self.plan.query, self.plan.sobject, path)
        return self._steps[path]

    def matches(self, expr: Expr, record: Record) -> bool:
        if isinstance(expr, Junction):
            parts = (self.matches(p, record) for p in expr.parts)
            return all(parts) if expr.op == "AND" else any(parts)
        if isinstance(expr, Negation):
            return not self.matches(expr.expr, record)
        step = self.step(expr.path)
        value = _value(step, record, self.store)
        if isinstance(expr, Like):
            pattern = self._patterns.setdefault(expr.pattern, _like(expr.pattern))
            return value is not None and pattern.fullmatch(str(value)) is not None
        if isinstance(expr, Membership):
            if value is None:
                return expr.negated
            return (_comparable(step.field, value) in self.members(expr)) != expr.negated
        literal = expr.literal
        if literal.kind == "null":
            return (value is None) == (expr.op == "=")
        if value is None:
            return expr.op == "!="  # SOQL's != keeps records whose field is null
        if literal.kind == "range":
            start, end = _literal_value(step.field, literal)
            return _in_range(expr.op, value, start, end)
        return _OPS[expr.op](_comparable(step.field, value), _literal_value(step.field, literal))

    def members(self, expr: Membership) -> frozenset[Any]:
        """The comparable values of an IN list, built once per query rather than once per record."""
        cached = self._members.get(id(expr))
        if cached is None or cached[0] is not expr:
            step = self.step(expr.path)
            cached = (expr, frozenset(_literal_value(step.field, lit) for lit in expr.literals))
            self._members[id(expr)] = cached
        return cached[1]

    def sort(self, records: list[Record]) -> list[Record]:
        """ORDER BY as stable sorts from the last key to the first (nulls placed per NULLS FIRST/LAST)."""
        ordered = list(records)
        for ordering in reversed(self.plan.query.order):
            step = self.step(ordering.path)
            # Ascending, the lower flag leads; descending (reverse=True), the higher one does.
            nulls_flag = 1 if ordering.nulls_last != ordering.descending else 0

            def key(record: Record, step: Step = step, nulls_flag: int = nulls_flag) -> tuple[int, Any]:
                value = _comparable(step.field, _value(step, record, self.store))
                return (nulls_flag, 0) if value is None else (1 - nulls_flag, value)

            ordered.sort(key=key, reverse=ordering.descending)
        return ordered


def execute(plan: Plan, store: Store, include_deleted: bool) -> list[Record]:
    """The records a query selects, filtered, ordered and cut by OFFSET and LIMIT.

    A filter that pins Id (`Id = x`, `Id IN (...)`, `Id > x` as a whole condition or one of its
    ANDed parts) starts from those ids rather than every row, and `ORDER BY Id` with a LIMIT stops
    once it has enough, so paging a large table by Id costs each page its own rows.
    """
    evaluator = Evaluator(plan, store)
    where = plan.query.where
    start = plan.query.offset or 0
    end = None if plan.query.limit is None else start + plan.query.limit
    narrowed = _narrowed(evaluator, store, include_deleted)
    if end is not None and _by_id(evaluator):
        everything = store.rows_by_id(plan.sobject.name, None, False, include_deleted)
        ordered = narrowed if narrowed is not None else everything
        found: list[Record] = []
        for record in ordered:
            if len(found) >= end:
                break
            if where is None or evaluator.matches(where, record):
                found.append(record)
        return found[start:end]
    rows = list(narrowed) if narrowed is not None else store.rows(plan.sobject.name, include_deleted=include_deleted)
    if where is not None:
        rows = [r for r in rows if evaluator.matches(where, r)]
    rows = evaluator.sort(rows)
    return rows[start:end]


def _is_id(evaluator: Evaluator, path: Path) -> bool:
    step = evaluator.step(path)
    return not step.lookups and step.field.type == "id"


def _by_id(evaluator: Evaluator) -> bool:
    """Whether the query is ordered by its own Id, ascending, and nothing else."""
    order = evaluator.plan.query.order
    return len(order) == 1 and not order[0].descending and _is_id(evaluator, order[0].path)


def _narrowed(evaluator: Evaluator, store: Store, include_deleted: bool) -> Iterable[Record] | None:
    """The only records that can match, in Id order, when the filter pins Id; None when it does not."""
    where = evaluator.plan.query.where
    parts = where.parts if isinstance(where, Junction) and where.op == "AND" else (where,) if where else ()
    sobject = evaluator.plan.sobject.name
    for part in parts:
        if isinstance(part, Membership) and not part.negated and _is_id(evaluator, part.path):
            ids = {normalize(str(lit.value)) or str(lit.value) for lit in part.literals if lit.kind == "string"}
            return store.rows_with_ids(sobject, ids, include_deleted)
        if isinstance(part, Comparison) and part.literal.kind == "string" and _is_id(evaluator, part.path):
            value = normalize(str(part.literal.value)) or str(part.literal.value)
            if part.op == "=":
                return store.rows_with_ids(sobject, {value}, include_deleted)
            if part.op in (">", ">="):
                return store.rows_by_id(sobject, value, part.op == ">=", include_deleted)
    return None


# -- rendering ----------------------------------------------------------------------------------


def attributes(record: Record, version: str) -> dict[str, str]:
    return {"type": record.sobject, "url": f"/services/data/v{version}/sobjects/{record.sobject}/{record.id}"}


def render_row(plan: Plan, record: Record, store: Store, version: str) -> dict[str, Any]:
    """A record as the query resource answers it, parents nested under their relationship names."""
    out: dict[str, Any] = {"attributes": attributes(record, version)}
    for step in plan.select:
        target: dict[str, Any] | None = out
        current: Record | None = record
        for lookup in step.lookups:
            parent_id = current.values.get(lookup.name) if current else None
            current = store.get(str(parent_id)) if parent_id else None
            name = str(lookup.relationship)
            if target is None:
                break
            if current is None:
                target.setdefault(name, None)
                target = None
                break
            nested = target.get(name)
            if nested is None:
                nested = target[name] = {"attributes": attributes(current, version)}
            target = nested
        if target is not None and current is not None:
            target[step.field.name] = render(step.field, current.values.get(step.field.name))
    return out


def render_csv_row(plan: Plan, record: Record, store: Store) -> list[str]:
    return [render_csv(step.field, _value(step, record, store)) for step in plan.select]


# -- cursors -------------------------------------------------------------------------------------


class Cursors:
    """Results kept server-side for nextRecordsUrl, the oldest forgotten first (Salesforce expires them too)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._results: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._numbers = itertools.count(1)

    def clear(self) -> None:
        with self._lock:
            self._results.clear()

    def page(self, rows: list[dict[str, Any]], start: int, size: int, base: str) -> dict[str, Any]:
        """One page of `rows` from `start`; a locator is kept when more follow."""
        end = start + size
        body: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows), "records": rows[start:end]}
        if end < len(rows):
            with self._lock:
                locator = make_id(QUERY_LOCATOR_PREFIX, next(self._numbers))[:15]
                self._results[locator] = rows
                while len(self._results) > _KEPT_CURSORS:
                    self._results.popitem(last=False)
            body["nextRecordsUrl"] = f"{base}/{locator}-{end}"
        return body

    def more(self, token: str, size: int, base: str) -> dict[str, Any]:
        locator, _, offset = token.rpartition("-")
        with self._lock:
            rows = self._results.get(locator)
        if rows is None:
            raise refuse(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        if not offset.isdigit():
            raise not_found()
        return self.page(rows, int(offset), size, base)


def run(
    text: str, store: Store, now: datetime, include_deleted: bool, version: str
) -> tuple[Plan, list[Record], list[dict[str, Any]]]:
    """Parse, plan and execute `text`; the rendered rows are empty for COUNT()."""
    query = parse(text, now.astimezone(UTC))
    the_plan = plan(query)
    records = execute(the_plan, store, include_deleted)
    rows = [] if query.count else [render_row(the_plan, r, store, version) for r in records]
    return the_plan, records, rows


def page_size(header: str | None) -> int:
    """The batch size a Sforce-Query-Options header asks for, kept within Salesforce's bounds."""
    match = re.search(r"batchSize=(\d+)", header or "")
    if not match:
        return PAGE_SIZE
    return max(MIN_PAGE_SIZE, min(PAGE_SIZE, int(match.group(1))))
