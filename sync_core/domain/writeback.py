"""What a record's creation tells the other systems: the values the target filled in, its own id above all.

When Revline creates a record in a target, the target holds what Revline wrote plus what it filled
in itself. The write result reports some of that (the new record's id, in the field the target's
mapping names); the ownership rules then say which other systems get it. A field the target owns
that Revline did not write and the result did not report can only be learnt by reading the record.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync_core.domain.ownership import FieldRule, Plan, Rule, SystemState, plan

_OWNING = (Rule.ALWAYS_OWNER, Rule.OWNER_UNLESS_BLANK)


@dataclass(frozen=True)
class AfterCreate:
    """The decision for one created record.

    `state` is the target's state with the filled-in values; `writes` what the other systems need
    for those values; `unknown` the owned fields only a read can tell. While some are unknown, the
    writes wait for that read, which plans them together with whatever it finds.
    """

    state: SystemState
    writes: Plan
    unknown: frozenset[str]


def owned_unknown(
    rules: Sequence[FieldRule], target: str, target_fields: Collection[str], known: Collection[str]
) -> frozenset[str]:
    """The fields `target` owns and maps whose value Revline does not know (`known`: written or reported)."""
    owned = {r.field for r in rules if r.owner == target and r.rule in _OWNING}
    return frozenset(owned.intersection(target_fields).difference(known))


def after_create(
    rules: Sequence[FieldRule],
    target: str,
    target_fields: Collection[str],
    states: Mapping[str, SystemState | None],
    written: Collection[str],
    filled: Mapping[str, Any],
    at: datetime,
) -> AfterCreate:
    """Decide what follows from `target` having created a record that reported `filled` (canonical fields).

    `states` holds every system's state, the target's as it is after the write. Only systems that
    already hold the record get writes: one still without it gets the values when it is created.
    """
    before = states.get(target) or SystemState()
    values = {**before.values, **filled}
    times = {**before.field_times, **{name: at for name in filled if before.values.get(name) != filled[name]}}
    state = SystemState(values=values, field_times=times)
    unknown = owned_unknown(rules, target, target_fields, {*written, *filled})
    if unknown or not filled:
        return AfterCreate(state, {}, unknown)
    relevant = [r for r in rules if r.field in filled]
    after = {**states, target: state}
    writes = {
        system: fields
        for system, fields in plan(relevant, after, {}).items()
        if system != target and after.get(system) is not None
    }
    return AfterCreate(state, writes, unknown)
