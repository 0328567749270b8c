"""Field values between the wire and the store: Odoo's date formats, False for empty, many2one pairs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from connectors.erp.sandbox.exceptions import InvalidValueError, ValidationError
from connectors.erp.sandbox.schema import Field

DATE_FORMAT = "%Y-%m-%d"
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # UTC, no zone, whole seconds: how Odoo writes datetimes (kept aware here)


def format_date(value: date) -> str:
    return value.strftime(DATE_FORMAT)


def format_datetime(value: datetime) -> str:
    return value.strftime(DATETIME_FORMAT)


def parse_date(value: Any) -> date | None:
    if value is False or value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    try:
        return datetime.strptime(text[:10], DATE_FORMAT).replace(tzinfo=UTC).date()
    except ValueError:
        raise InvalidValueError(f"time data {text!r} does not match format '{DATE_FORMAT}'") from None


def parse_datetime(value: Any) -> datetime | None:
    if value is False or value is None or value == "":
        return None
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).replace(microsecond=0)
    text = str(value).replace("T", " ")
    if len(text) == 10:
        text += " 00:00:00"
    try:
        return datetime.strptime(text[:19], DATETIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidValueError(f"time data {str(value)!r} does not match format '{DATETIME_FORMAT}'") from None


def to_store(field: Field, value: Any, model: str) -> Any:
    """A value from a client as the store keeps it; ValidationError for a value outside a selection."""
    kind = field.type
    if kind in ("char", "text"):
        return None if value is False or value is None else str(value)
    if kind == "boolean":
        return bool(value)
    if kind == "integer":
        return _number(int, value, field)
    if kind in ("float", "monetary"):
        return _number(float, value, field)
    if kind == "date":
        return parse_date(value)
    if kind == "datetime":
        return parse_datetime(value)
    if kind == "selection":
        if value is False or value is None:
            return None
        allowed = [key for key, _ in field.selection]
        if value not in allowed:
            raise ValidationError(f"Wrong value for {model}.{field.name}: {value!r} (allowed: {', '.join(allowed)})")
        return value
    if kind == "many2one":
        if value is False or value is None:
            return None
        if isinstance(value, list | tuple) and value:
            value = value[0]
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidValueError(f"Wrong value for {model}.{field.name}: {value!r}")
        return value
    raise InvalidValueError(f"{model}.{field.name}: {kind} values are written with commands")


def _number(kind: Callable[[Any], Any], value: Any, field: Field) -> Any:
    if value is False or value is None:
        return kind(0)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidValueError(f"invalid value for {field.name}: {value!r}")
    try:
        return kind(value)
    except ValueError:
        raise InvalidValueError(f"invalid literal for {field.name}: {value!r}") from None


def to_wire(field: Field, value: Any, display: Callable[[str, int], str] | None) -> Any:
    """A stored value as read() answers it: False for empty, many2one as [id, name] (or the id alone)."""
    kind = field.type
    if kind in ("one2many", "many2many"):
        return list(value or [])
    if kind == "boolean":
        return bool(value)
    if kind == "integer":
        return int(value or 0)
    if kind in ("float", "monetary"):
        return float(value or 0.0)
    if value is None:
        return False
    if kind == "date":
        return format_date(value)
    if kind == "datetime":
        return format_datetime(value)
    if kind == "many2one":
        assert field.relation is not None
        return [value, display(field.relation, value)] if display else value
    return value
