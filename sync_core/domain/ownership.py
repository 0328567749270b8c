"""Field ownership: the four rules and the pure planner that turns them into writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Rule(StrEnum):
    """How one canonical field is kept in step across systems."""

    ALWAYS_OWNER = "always_owner"
    OWNER_UNLESS_BLANK = "owner_unless_blank"
    TWO_WAY = "two_way"
    DONT_SYNC = "dont_sync"


@dataclass(frozen=True)
class FieldRule:
    """The rule for one canonical field; `owner` is required except for two_way/dont_sync."""

    field: str
    rule: Rule
    owner: str | None = None


@dataclass(frozen=True)
class SystemState:
    """What one system holds for one record: canonical values and when each field changed."""

    values: Mapping[str, Any] = field(default_factory=dict)
    field_times: Mapping[str, datetime] = field(default_factory=dict)


Plan = dict[str, dict[str, Any]]
"""Writes per system: system -> {canonical field: value}. Systems needing nothing are absent."""

_NOT_WRITTEN = object()
# A field without a known time loses to any field with one.
_NEVER = datetime.min.replace(tzinfo=UTC)


def is_blank(value: Any) -> bool:
    """None and empty or whitespace-only strings are blank."""
    return value is None or (isinstance(value, str) and not value.strip())


def _same(a: Any, b: Any) -> bool:
    # All blanks are one value: HubSpot answers "" where Salesforce answers None, and
    # rewriting one as the other would be an endless stream of no-op writes.
    return a == b or (is_blank(a) and is_blank(b))


def observe(
    previous: SystemState | None,
    values: Mapping[str, Any],
    modified_at: datetime,
    field_times: Mapping[str, datetime],
    written: Mapping[str, Any],
) -> SystemState:
    """The new state of a system after reading `values` from it (echo suppression here)."""
    if modified_at.tzinfo is None or any(t.tzinfo is None for t in field_times.values()):
        raise ValueError("observe() needs timezone-aware datetimes")
    new_values = dict(previous.values) if previous is not None else {}
    new_times = dict(previous.field_times) if previous is not None else {}
    for name, value in values.items():
        if name in new_values and (_same(value, new_values[name]) or _same(value, written.get(name, _NOT_WRITTEN))):
            # Unchanged, or an echo of Revline's own write: not a change, keep its time.
            pass
        else:
            new_times[name] = field_times.get(name, modified_at)
        new_values[name] = value
    return SystemState(values=new_values, field_times=new_times)


def _latest(
    name: str, present: Sequence[tuple[str, SystemState]], *, exclude: str | None = None, fill: bool = False
) -> tuple[bool, Any]:
    """(found, value) of the system whose `name` changed last; `fill` considers only non-blank values.

    `present` holds the systems that have the record, in system-name order.
    """
    found, latest, value = False, _NEVER, None
    for system, state in present:
        if system == exclude or name not in state.values:
            continue
        candidate = state.values[name]
        if fill and is_blank(candidate):
            continue
        when = state.field_times.get(name, _NEVER)
        # Strictly later only: of equal times the first system in name order wins.
        if not found or when > latest:
            found, latest, value = True, when, candidate
    return found, value


def _desired(
    rule: FieldRule, states: Mapping[str, SystemState | None], present: Sequence[tuple[str, SystemState]]
) -> tuple[bool, Any, str | None]:
    """(found, desired value, system never to write) for one rule."""
    if rule.rule is Rule.TWO_WAY:
        found, value = _latest(rule.field, present)
        return found, value, None
    if rule.owner is None:
        raise ValueError(f"{rule.rule} rule for field {rule.field!r} needs an owner")
    owner_state = states.get(rule.owner)
    owner_value = owner_state.values.get(rule.field) if owner_state is not None else None
    if rule.rule is Rule.ALWAYS_OWNER:
        # An owner that has not reported the field (say a record Revline just created there
        # with other fields) says nothing yet; its next read gives the value, blank or not.
        return owner_state is not None and rule.field in owner_state.values, owner_value, rule.owner
    if not is_blank(owner_value):
        return True, owner_value, rule.owner
    found, value = _latest(rule.field, present, exclude=rule.owner, fill=True)
    return found, value, None


def plan(
    rules: Sequence[FieldRule],
    states: Mapping[str, SystemState | None],
    written: Mapping[str, Mapping[str, Any]],
) -> Plan:
    """The writes each system needs so that all of them agree under `rules`.

    `written` is not consulted: echoes of Revline's own writes are already discounted by
    `observe`, so the field times in `states` say who changed what last.
    """
    writes: Plan = {}
    present = [(system, state) for system, state in sorted(states.items()) if state is not None]
    for rule in rules:
        if rule.rule is Rule.DONT_SYNC:
            continue
        found, desired, protected = _desired(rule, states, present)
        if not found:
            continue
        for system, state in states.items():
            if system == protected:
                continue
            if state is None:
                # A record still to be created gets only the values worth having.
                if not is_blank(desired):
                    writes.setdefault(system, {})[rule.field] = desired
            elif not _same(state.values.get(rule.field), desired):
                writes.setdefault(system, {})[rule.field] = desired
    return writes


def _source_time(name: str, value: Any, target: str, states: Mapping[str, SystemState | None]) -> datetime | None:
    """When the value written to `target` changed at its source."""
    holders = [
        state.field_times[name]
        for system, state in states.items()
        if system != target and state is not None and name in state.field_times and _same(state.values.get(name), value)
    ]
    if holders:
        return max(holders)
    previous = states.get(target)
    if previous is not None and name in previous.field_times:
        return previous.field_times[name]
    all_times = [s.field_times[name] for s in states.values() if s is not None and name in s.field_times]
    return max(all_times, default=None)


def apply(states: Mapping[str, SystemState | None], writes: Plan) -> dict[str, SystemState]:
    """The states after `writes` succeeded; written fields take the winning change's time.

    Systems still without the record (None) and not written to are left out of the result.
    """
    result = {system: state for system, state in states.items() if state is not None}
    for system, fields in writes.items():
        previous = states.get(system)
        values = dict(previous.values) if previous is not None else {}
        times = dict(previous.field_times) if previous is not None else {}
        for name, value in fields.items():
            values[name] = value
            when = _source_time(name, value, system, states)
            if when is not None:
                times[name] = when
        result[system] = SystemState(values=values, field_times=times)
    return result
