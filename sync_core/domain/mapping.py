"""Field and value mappings between one system's fields and the canonical records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from sync_core.domain import records
from sync_core.domain.errors import ErrorCategory, PermanentError
from sync_core.domain.ownership import is_blank


@dataclass(frozen=True)
class FieldMap:
    """One canonical field, its name in the system and, optionally, its value translation."""

    canonical: str
    vendor: str
    # canonical value -> vendor value; empty passes values unchanged
    values: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def reverse(self) -> dict[str, str]:
        """vendor value -> canonical value; if two canonical values share a vendor value, the first listed wins."""
        return {vendor: canonical for canonical, vendor in reversed(list(self.values.items()))}


@dataclass(frozen=True)
class ObjectMapping:
    """How one system's object maps onto one canonical object type."""

    system: str
    object_type: str
    fields: tuple[FieldMap, ...]
    # Whether the sync loop creates records of this object in the system when the others have
    # one it lacks. False: only records linked already are kept in step; a flow (the closed-won
    # order, the lead handoff) decides when one is created there.
    creates: bool = True


def _translate(mapping: ObjectMapping, name: str, value: Any, table: Mapping[str, str], target: str) -> Any:
    if not table:
        return value
    if is_blank(value):
        return None
    try:
        return table[str(value)]
    except KeyError:
        known = ", ".join(repr(k) for k in sorted(table))
        raise PermanentError(
            f"{mapping.system} {mapping.object_type} field {name}: value {value!r} has no {target} value"
            f" (known: {known})",
            ErrorCategory.MAPPING,
        ) from None


def to_canonical(mapping: ObjectMapping, vendor_fields: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical fields for a record read from the system; unmapped fields are ignored."""
    result: dict[str, Any] = {}
    for fm in mapping.fields:
        if fm.vendor in vendor_fields:
            value = vendor_fields[fm.vendor]
            result[fm.canonical] = _translate(mapping, fm.vendor, value, fm.reverse, "canonical")
    return result


def to_vendor(mapping: ObjectMapping, canonical_fields: Mapping[str, Any]) -> dict[str, Any]:
    """The system's fields for canonical values; canonical fields it does not map are ignored."""
    result: dict[str, Any] = {}
    for fm in mapping.fields:
        if fm.canonical in canonical_fields:
            value = canonical_fields[fm.canonical]
            result[fm.vendor] = _translate(mapping, fm.canonical, value, fm.values, mapping.system)
    return result


def times_to_canonical(mapping: ObjectMapping, vendor_times: Mapping[str, datetime]) -> dict[str, datetime]:
    """Per-field modification times renamed to canonical fields; unmapped fields are ignored."""
    return {fm.canonical: vendor_times[fm.vendor] for fm in mapping.fields if fm.vendor in vendor_times}


def identity_mapping(system: str, object_type: str, fields: Sequence[str]) -> ObjectMapping:
    """A mapping whose vendor field names and values are the canonical ones."""
    return ObjectMapping(system, object_type, tuple(FieldMap(name, name) for name in fields))


def as_written(mapping: ObjectMapping, read: Mapping[str, Any], written: Mapping[str, Any]) -> dict[str, Any]:
    """`read` (canonical values read from the system), with values Revline wrote there restored.

    A value map may send several canonical values to one vendor value (HubSpot's paid search and
    organic search are both Salesforce's "Web"); reading it back gives the first of them. Where
    the system holds exactly what Revline's write turned into, the written value is what it holds.
    The same goes for a number the system spells its own way.
    """
    restored = dict(read)
    for field_map in mapping.fields:
        name = field_map.canonical
        if name not in read or name not in written or read[name] == written[name]:
            continue
        if records.same_number(mapping.object_type, name, read[name], written[name]):
            restored[name] = written[name]  # Salesforce answers 1500000.0 where Revline wrote 1500000
            continue
        if not field_map.values:
            continue
        try:
            same = to_vendor(mapping, {name: written[name]}) == to_vendor(mapping, {name: read[name]})
        except PermanentError:
            continue
        if same:
            restored[name] = written[name]
    return restored
