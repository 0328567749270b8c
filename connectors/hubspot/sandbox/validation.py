"""Property validation as HubSpot does it: unknown names, read-only values, options, emails, numbers, dates."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.hubspot.sandbox.errors import Problem
from connectors.hubspot.sandbox.schema import SCHEMAS, PropertyDef
from connectors.hubspot.sandbox.times import iso_ms, parse_ms

# Close to what HubSpot accepts: a dotted domain and no spaces or second @.
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def normalise(
    object_type: str, properties: Mapping[str, Any], *, server: bool = False
) -> tuple[dict[str, str | None], list[Problem]]:
    """Values as HubSpot stores them (strings; None clears a value) and the problems found.

    `server` lets the sandbox itself set read-only properties (seeding, calculated values).
    """
    schema = SCHEMAS[object_type]
    values: dict[str, str | None] = {}
    problems: list[Problem] = []
    for name, raw in properties.items():
        definition = schema.get(name)
        if definition is None:
            problems.append(Problem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
            continue
        if definition.read_only and not server:
            problems.append(
                Problem(name, "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.')
            )
            continue
        value, problem = _coerce(definition, raw)
        if problem is not None:
            problems.append(problem)
        else:
            values[name] = value
    return values, problems


def _coerce(definition: PropertyDef, raw: Any) -> tuple[str | None, Problem | None]:
    # An empty string (or null) clears a property in HubSpot.
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None, None
    name = definition.name
    if isinstance(raw, bool):
        text = "true" if raw else "false"
    elif isinstance(raw, (dict, list)):
        return None, Problem(name, "INVALID_PROPERTY_VALUE", f"{raw!r} is not a valid value for {name}")
    else:
        text = str(raw).strip()
    if name == "email":
        if not _EMAIL.match(text):
            return None, Problem(name, "INVALID_EMAIL", f"Email address {text} is invalid")
        return text.lower(), None
    if name == "hubspot_owner_id":
        return text, None  # an owner id: which owners exist is the store's to check
    if definition.type == "enumeration":
        if text not in definition.option_values:
            allowed = ", ".join(sorted(definition.option_values))
            return None, Problem(
                name, "INVALID_OPTION", f"{text} was not one of the allowed options: [{allowed}]"
            )
        return text, None
    if definition.type == "number":
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None, Problem(name, "INVALID_LONG", f'"{text}" is not a valid number for {name}')
        if not number.is_finite():
            return None, Problem(name, "INVALID_LONG", f'"{text}" is not a valid number for {name}')
        return text, None
    if definition.type in ("datetime", "date"):
        ms = parse_ms(text)
        if ms is None:
            return None, Problem(name, "INVALID_DATE", f'"{text}" is not a valid date or time for {name}')
        return (iso_ms(ms) if definition.type == "datetime" else iso_ms(ms)[:10]), None
    if definition.type == "bool":
        if text.lower() not in ("true", "false"):
            return None, Problem(name, "INVALID_BOOLEAN", f'"{text}" is not true or false for {name}')
        return text.lower(), None
    return text, None
