"""Field values in and out: JSON and CSV input turned into typed values, typed values rendered as Salesforce does."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from connectors.salesforce.sandbox.schema import NUMBER_TYPES, TEXT_TYPES, Field

_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?))?(Z|[+-]\d{2}:?\d{2})?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
BULK_NULL = "#N/A"  # how a Bulk API CSV clears a field; an empty cell leaves it unchanged


class CoercionError(ValueError):
    """A value that cannot be read as its field's type."""

    def __init__(self, field: Field, raw: Any) -> None:
        super().__init__(f"{field.name}: value not of required type: {raw!r}")
        self.field = field
        self.raw = raw


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 instant as Salesforce accepts it (Z, +00:00 or +0000; a bare date is midnight UTC)."""
    match = _DATETIME.match(text.strip())
    if not match:
        raise ValueError(f"not a datetime: {text!r}")
    day, clock, zone = match.groups()
    zone = "+00:00" if zone in (None, "Z") else zone
    if len(zone) == 5:
        zone = zone[:3] + ":" + zone[3:]
    value = datetime.fromisoformat(f"{day}T{clock or '00:00:00'}{zone}")
    return value.astimezone(UTC)


def stamp(moment: datetime) -> datetime:
    """A server-kept timestamp: Salesforce keeps audit datetimes to the second (the API shows .000)."""
    return moment.astimezone(UTC).replace(microsecond=0)


def coerce(field: Field, raw: Any) -> Any:
    """The typed value of `raw` (from JSON or CSV) for `field`; None clears the field."""
    if raw is None:
        return None
    kind = field.type
    if kind in TEXT_TYPES:
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise CoercionError(field, raw)
        return str(raw)
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise CoercionError(field, raw)
    if kind in NUMBER_TYPES:
        return _number(field, raw)
    if kind == "date":
        if isinstance(raw, str) and _DATE.match(raw.strip()):
            return date.fromisoformat(raw.strip())
        raise CoercionError(field, raw)
    if kind == "datetime":
        if isinstance(raw, str):
            try:
                return parse_datetime(raw)
            except ValueError:
                pass
        raise CoercionError(field, raw)
    raise CoercionError(field, raw)


def _number(field: Field, raw: Any) -> float | int:
    if isinstance(raw, bool):
        raise CoercionError(field, raw)
    try:
        value = float(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise CoercionError(field, raw) from None
    if not isinstance(value, int | float) or value != value:  # NaN is no number Salesforce stores
        raise CoercionError(field, raw)
    if field.type == "int":
        if float(value) != int(value):
            raise CoercionError(field, raw)
        return int(value)
    return float(value)


def render(field: Field, value: Any) -> Any:
    """The JSON value the REST API answers for `value`."""
    if value is None:
        return None
    if field.type == "datetime":
        return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    if field.type == "date":
        return value.isoformat()
    return value


def render_csv(field: Field, value: Any) -> str:
    """The CSV cell Bulk API 2.0 answers for `value` (empty for null)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if field.type == "datetime":
        return str(value.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    if field.type == "date":
        return str(value.isoformat())
    return str(value)
