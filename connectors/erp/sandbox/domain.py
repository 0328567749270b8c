"""Search domains in Odoo's prefix notation, evaluated over stored rows; and `order` clauses.

A domain is a list of leaves `[field, operator, value]` and the operators `&`, `|` (binary) and
`!` (unary) written before their operands; consecutive expressions are joined by an implicit `&`.
`field` may follow many2one links (`partner_id.ref`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from connectors.erp.sandbox.exceptions import InvalidValueError
from connectors.erp.sandbox.schema import Field, model
from connectors.erp.sandbox.values import parse_date, parse_datetime

OPERATORS = frozenset(
    {"=", "!=", "<>", "in", "not in", "<", "<=", ">", ">=", "like", "ilike", "not like", "not ilike", "=like",
     "=ilike", "child_of"}
)  # fmt: skip
_NEGATIVE = {"!=": "=", "<>": "=", "not in": "in", "not like": "like", "not ilike": "ilike"}


class Lookup(Protocol):
    """What evaluating a domain needs from the store."""

    def value(self, model_name: str, row: dict[str, Any], name: str) -> Any: ...

    def get(self, model_name: str, record_id: int) -> dict[str, Any] | None: ...

    def display(self, model_name: str, record_id: int) -> str: ...


@dataclass(frozen=True)
class Leaf:
    path: tuple[str, ...]
    operator: str
    value: Any


@dataclass(frozen=True)
class Node:
    operator: str  # & | !
    operands: tuple[Expression, ...]


Expression = Leaf | Node
TRUE = Node("&", ())


def parse(model_name: str, domain: Any) -> Expression:
    """The expression a domain stands for; InvalidValueError names what is malformed."""
    if domain in (None, False):
        return TRUE
    if not isinstance(domain, list | tuple):
        raise InvalidValueError(f"Invalid domain: {domain!r}")
    items = list(domain)
    expressions: list[Expression] = []
    while items:
        expressions.append(_take(model_name, items, domain))
    return expressions[0] if len(expressions) == 1 else Node("&", tuple(expressions))


def _take(model_name: str, items: list[Any], domain: Any) -> Expression:
    if not items:
        raise InvalidValueError(f"Invalid domain (an operator lacks its operands): {domain!r}")
    head = items.pop(0)
    if head in ("&", "|"):
        return Node(head, (_take(model_name, items, domain), _take(model_name, items, domain)))
    if head == "!":
        return Node("!", (_take(model_name, items, domain),))
    if isinstance(head, list | tuple) and len(head) == 3:
        return _leaf(model_name, head)
    raise InvalidValueError(f"Invalid leaf {head!r}")


def _leaf(model_name: str, term: Sequence[Any]) -> Leaf:
    name, operator, value = term
    if name in (0, 1) and operator == "=" and value in (0, 1):  # the constant leaves (1, '=', 1) and (0, '=', 1)
        return Leaf(("__const__",), "=", name == value)
    if not isinstance(name, str) or not isinstance(operator, str):
        raise InvalidValueError(f"Invalid leaf {list(term)!r}")
    operator = operator.lower()
    if operator not in OPERATORS:
        raise InvalidValueError(f"Invalid operator {operator!r} in leaf {list(term)!r}")
    path = tuple(name.split("."))
    current = model(model_name)
    for index, part in enumerate(path):
        found = current.field(part) if current else None
        if found is None:
            raise InvalidValueError(f"Invalid field {model_name}.{name} in leaf {list(term)!r}")
        if index < len(path) - 1:
            if found.type not in ("many2one", "one2many", "many2many"):
                raise InvalidValueError(f"Invalid field {model_name}.{name} in leaf {list(term)!r}")
            current = model(str(found.relation))
    if operator in ("in", "not in") and not isinstance(value, list | tuple):
        value = [value]
    return Leaf(path, operator, value)


def matches(lookup: Lookup, model_name: str, row: dict[str, Any], expression: Expression) -> bool:
    if isinstance(expression, Node):
        if expression.operator == "!":
            return not matches(lookup, model_name, row, expression.operands[0])
        results = (matches(lookup, model_name, row, e) for e in expression.operands)
        return all(results) if expression.operator == "&" else any(results)
    if expression.path == ("__const__",):
        return bool(expression.value)
    return _leaf_matches(lookup, model_name, row, expression)


def _leaf_matches(lookup: Lookup, model_name: str, row: dict[str, Any], leaf: Leaf) -> bool:
    current = model(model_name)
    assert current is not None
    name, rest = leaf.path[0], leaf.path[1:]
    fld = current.fields[name]
    value = lookup.value(model_name, row, name)
    if rest:
        assert fld.relation is not None
        ids = value if isinstance(value, list) else ([] if value is None else [value])
        targets = [t for t in (lookup.get(fld.relation, i) for i in ids) if t is not None]
        sub = Leaf(rest, leaf.operator, leaf.value)
        if leaf.operator in _NEGATIVE:
            positive = Leaf(rest, _NEGATIVE[leaf.operator], leaf.value)
            return not any(_leaf_matches(lookup, fld.relation, t, positive) for t in targets)
        return any(_leaf_matches(lookup, fld.relation, t, sub) for t in targets)
    if leaf.operator in _NEGATIVE:
        return not _compare(lookup, fld, value, _NEGATIVE[leaf.operator], leaf.value)
    return _compare(lookup, fld, value, leaf.operator, leaf.value)


def _coerce(fld: Field, wanted: Any) -> Any:
    """The query's value in the stored value's type (dates arrive as strings)."""
    if wanted is False or wanted is None:
        return None
    if fld.type == "date":
        return parse_date(wanted)
    if fld.type == "datetime":
        return parse_datetime(wanted)
    if fld.type in ("float", "monetary") and isinstance(wanted, int | float) and not isinstance(wanted, bool):
        return float(wanted)
    return wanted


def _like(pattern: str, text: str, insensitive: bool, exact: bool) -> bool:
    if not exact:
        return (pattern.lower() in text.lower()) if insensitive else (pattern in text)
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.IGNORECASE | re.DOTALL if insensitive else re.DOTALL) is not None


def _compare(lookup: Lookup, fld: Field, stored: Any, operator: str, wanted: Any) -> bool:
    relational = fld.type in ("many2one", "one2many", "many2many")
    ids: list[int] = []
    if relational:
        ids = stored if isinstance(stored, list) else ([] if stored is None else [stored])
    if operator in ("like", "ilike", "=like", "=ilike"):
        if wanted is False or wanted is None:
            return stored in (None, False, "") if not relational else not ids
        insensitive, exact = operator.endswith("ilike"), operator.startswith("=")
        if relational:
            assert fld.relation is not None
            return any(_like(str(wanted), lookup.display(fld.relation, i), insensitive, exact) for i in ids)
        return stored is not None and _like(str(wanted), str(stored), insensitive, exact)
    if operator in ("=", "in", "child_of"):
        options = wanted if operator != "=" else [wanted]
        if relational:
            wants_empty = any(o is False or o is None for o in options)
            if any(isinstance(o, str) for o in options):
                assert fld.relation is not None
                names = {lookup.display(fld.relation, i) for i in ids}
                return any(o in names for o in options if isinstance(o, str)) or (wants_empty and not ids)
            return bool(set(ids) & {o for o in options if isinstance(o, int)}) or (wants_empty and not ids)
        if fld.type == "boolean":
            return bool(stored) in {bool(o) for o in options}
        coerced = [_coerce(fld, o) for o in options]
        return _normal(stored) in coerced
    # < <= > >=: NULL compares to nothing, as in SQL
    target = _coerce(fld, wanted)
    left = stored[0] if relational and isinstance(stored, list) and stored else stored
    if left is None or target is None:
        return False
    try:
        return bool(_ORDERING[operator](left, target))
    except TypeError:
        raise InvalidValueError(f"cannot compare {fld.name} ({fld.type}) with {wanted!r}") from None


def _normal(value: Any) -> Any:
    return None if value in ("",) else value


_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def order_terms(model_name: str, order: str | None) -> list[tuple[str, bool]]:
    """(field, descending) pairs of an `order` clause; InvalidValueError for an unknown or unsortable field."""
    current = model(model_name)
    assert current is not None
    text = order or current.order
    terms: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.strip().split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise InvalidValueError(f"Invalid \"order\" specified ({text}).")
        fld = current.field(words[0])
        if fld is None or fld.type in ("one2many", "many2many"):
            raise InvalidValueError(f"Invalid \"order\" specified ({text}). A valid \"order\" specification is a "
                               "comma-separated list of valid field names (optionally followed by asc/desc)")
        terms.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    return terms


def sort_rows(rows: list[dict[str, Any]], terms: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    """Rows sorted as PostgreSQL would: NULLs last ascending, first descending."""
    result = list(rows)
    for name, descending in reversed(terms):
        present = [r for r in result if r.get(name) is not None]
        missing = [r for r in result if r.get(name) is None]
        present.sort(key=lambda r, n=name: _sortable(r[n]), reverse=descending)  # type: ignore[misc]
        result = missing + present if descending else present + missing
    return result


def _sortable(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, datetime | date | int | float | bool):
        return value
    return str(value)
