"""The CRM search endpoint's semantics: filter groups, operators, one sort, paging and the 10,000 cap."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.hubspot.sandbox.errors import validation
from connectors.hubspot.sandbox.schema import SCHEMAS
from connectors.hubspot.sandbox.store import StoredObject
from connectors.hubspot.sandbox.times import parse_ms

# https://developers.hubspot.com/docs/api/crm/search#limitations (as WIRE.md lists them)
MAX_PAGE = 200
MAX_RESULTS = 10_000
MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS = 25
OPERATORS = frozenset({
    "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN",
    "HAS_PROPERTY", "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN",
})
# What the free-text `query` looks in (HubSpot's default searchable properties).
QUERY_PROPERTIES = ("name", "domain", "email", "firstname", "lastname", "phone", "dealname", "hs_sku", "website")
_TOKENS = re.compile(r"[^\w*?]+")

Key = Decimal | int | str


@dataclass(frozen=True)
class SearchPage:
    total: int
    results: list[StoredObject]
    next_after: str | None


def search(objects: Sequence[StoredObject], object_type: str, request: Mapping[str, Any]) -> SearchPage:
    """Run one search request body over `objects`; raises ApiError (400) as HubSpot would."""
    limit = _int(request.get("limit", 10), "limit")
    if not 0 <= limit <= MAX_PAGE:
        raise validation(f"limit must be between 0 and {MAX_PAGE}, got {limit}", limit=[str(limit)])
    after = _int(request.get("after") or 0, "after")
    if after >= MAX_RESULTS:
        # HubSpot stops paging a query at 10,000 results and answers 400 beyond.
        raise validation(
            f"The maximum number of results ({MAX_RESULTS}) that can be paged through for a single query has been "
            f"exceeded: after={after}. Narrow the query.",
            after=[str(after)],
        )
    predicate = _compile(object_type, request.get("filterGroups") or [])
    query = str(request.get("query") or "").strip().lower()
    matched = [o for o in objects if predicate(o) and (not query or _matches_query(o, query))]
    _sort(matched, object_type, request.get("sorts") or [])
    end = min(after + limit, MAX_RESULTS)
    page = matched[after:end]
    next_after = str(end) if end < len(matched) else None
    return SearchPage(len(matched), page, next_after)


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise validation(f"{name} must be an integer, got {value!r}", **{name: [str(value)]}) from None


# -- filters ------------------------------------------------------------------------------------

Predicate = Callable[[StoredObject], bool]


def _compile(object_type: str, groups: Any) -> Predicate:
    if not isinstance(groups, list):
        raise validation("filterGroups must be a list")
    if len(groups) > MAX_GROUPS:
        raise validation(f"Too many filter groups: {len(groups)} (at most {MAX_GROUPS})")
    total = 0
    compiled: list[list[Predicate]] = []
    for group in groups:
        filters = group.get("filters") or [] if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise validation("each filter group needs a list of filters")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise validation(f"Too many filters in a group: {len(filters)} (at most {MAX_FILTERS_PER_GROUP})")
        total += len(filters)
        compiled.append([_filter(object_type, f) for f in filters])
    if total > MAX_FILTERS:
        raise validation(f"Too many filters: {total} (at most {MAX_FILTERS} across all groups)")
    if not compiled:
        return lambda _: True
    # Groups are ORed, the filters inside a group ANDed.
    return lambda obj: any(all(f(obj) for f in group) for group in compiled)


def _filter(object_type: str, spec: Any) -> Predicate:
    if not isinstance(spec, dict):
        raise validation("a filter must be an object")
    name, operator = spec.get("propertyName"), str(spec.get("operator") or "EQ")
    definition = SCHEMAS[object_type].get(str(name))
    if definition is None:
        raise validation(f"There was a problem with the request: unknown property {name!r} in a filter",
                         propertyName=[str(name)])
    if operator not in OPERATORS:
        raise validation(f"Unknown filter operator {operator!r}", operator=[operator])
    kind = definition.type
    prop = definition.name

    def value(obj: StoredObject) -> Key | None:
        return _typed(obj, prop, kind)

    if operator == "HAS_PROPERTY":
        return lambda obj: value(obj) is not None
    if operator == "NOT_HAS_PROPERTY":
        return lambda obj: value(obj) is None
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = str(spec.get("value", "")).lower()
        wanted = operator == "CONTAINS_TOKEN"
        return lambda obj: _contains_token(obj.properties.get(prop), pattern) == wanted
    if operator in ("IN", "NOT_IN"):
        raw_values = spec.get("values")
        if not isinstance(raw_values, list):
            raise validation(f"{operator} needs a list of values", propertyName=[prop])
        options = {_parse(kind, v, prop) for v in raw_values}
        if operator == "IN":
            return lambda obj: value(obj) in options
        return lambda obj: value(obj) not in options
    if operator == "BETWEEN":
        low, high = _parse(kind, spec.get("value"), prop), _parse(kind, spec.get("highValue"), prop)
        return lambda obj: (v := value(obj)) is not None and _le(low, v) and _le(v, high)
    target = _parse(kind, spec.get("value"), prop)
    if operator == "EQ":
        return lambda obj: value(obj) == target
    if operator == "NEQ":
        return lambda obj: value(obj) != target
    compare: Callable[[Key], bool] = {
        "LT": lambda v: _lt(v, target),
        "LTE": lambda v: _le(v, target),
        "GT": lambda v: _lt(target, v),
        "GTE": lambda v: _le(target, v),
    }[operator]
    return lambda obj: (v := value(obj)) is not None and compare(v)


def _lt(a: Key, b: Key) -> bool:
    return bool(a < b) if type(a) is type(b) else str(a) < str(b)  # type: ignore[operator]


def _le(a: Key, b: Key) -> bool:
    return a == b or _lt(a, b)


def _typed(obj: StoredObject, prop: str, kind: str) -> Key | None:
    # The server-kept stamps are compared from their integer form: search over 10,000+ records stays quick.
    if prop in ("hs_lastmodifieddate", "lastmodifieddate"):
        return obj.updated_ms
    if prop == "createdate":
        return obj.created_ms
    if prop == "hs_object_id":
        return Decimal(obj.id)
    raw = obj.properties.get(prop)
    if raw is None:
        return None
    return _parse(kind, raw, prop)


def _parse(kind: str, raw: Any, prop: str) -> Key:
    if raw is None:
        raise validation(f"a filter on {prop} needs a value", propertyName=[prop])
    text = str(raw).strip()
    if prop == "hs_object_id" or kind == "number":
        try:
            return Decimal(text)
        except InvalidOperation:
            raise validation(f"{text!r} is not a number (filter on {prop})", propertyName=[prop]) from None
    if kind in ("datetime", "date"):
        ms = parse_ms(text)
        if ms is None:
            raise validation(f"{text!r} is not a date or time (filter on {prop})", propertyName=[prop])
        return ms
    # String and enumeration comparisons ignore case, as HubSpot's do.
    return text.lower()


def _contains_token(raw: str | None, pattern: str) -> bool:
    if raw is None:
        return False
    text = raw.lower()
    if fnmatch.fnmatchcase(text, pattern):
        return True
    return any(fnmatch.fnmatchcase(token, pattern) for token in _TOKENS.split(text) if token)


def _matches_query(obj: StoredObject, query: str) -> bool:
    return any(query in (obj.properties.get(p) or "").lower() for p in QUERY_PROPERTIES)


# -- sorting ------------------------------------------------------------------------------------


def _sort(objects: list[StoredObject], object_type: str, sorts: Any) -> None:
    objects.sort(key=lambda o: int(o.id))  # HubSpot's order when no sort is given, and the tie-breaker
    if not sorts:
        return
    if not isinstance(sorts, list) or len(sorts) > 1:
        raise validation("Only one sort is supported")
    spec = sorts[0]
    if isinstance(spec, str):
        # The client's model types sorts as strings: "prop" ascending, "-prop" descending.
        name, descending = spec.lstrip("-"), spec.startswith("-")
    elif isinstance(spec, dict):
        name, descending = str(spec.get("propertyName")), str(spec.get("direction", "ASCENDING")) == "DESCENDING"
    else:
        raise validation("a sort must be a property name or {propertyName, direction}")
    definition = SCHEMAS[object_type].get(name)
    if definition is None:
        raise validation(f"unknown property {name!r} in sorts", propertyName=[name])
    keyed = [(_typed(o, name, definition.type), o) for o in objects]
    present = [(k, o) for k, o in keyed if k is not None]
    present.sort(key=lambda pair: _sort_key(pair[0]), reverse=descending)
    objects[:] = [o for _, o in present] + [o for k, o in keyed if k is None]


def _sort_key(key: Key | None) -> tuple[int, Any]:
    # Numbers and times before strings, so mixed values never compare across types.
    return (0, key) if isinstance(key, (Decimal, int)) else (1, str(key))
