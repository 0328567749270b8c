"""What a change of policy changes: the rules and value maps that differ, and the values it overwrites.

Pure: the service feeds it what the ledger knows of each linked record (its shadows) and gets back
which values the new policy would write where, the same way the sync loop's planner would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sync_core.domain.ownership import FieldRule, Rule, SystemState, plan

EXAMPLES = 10  # how many overwritten values a preview shows
_MISSING = object()


@dataclass(frozen=True)
class RuleChange:
    """One canonical field whose rule or owner differs between two versions (None: no rule there)."""

    field: str
    before: FieldRule | None
    after: FieldRule | None

    def describe(self) -> str:
        return f"{self.field}: {spell(self.before)} -> {spell(self.after)}"


def spell(rule: FieldRule | None) -> str:
    """`always_owner (sales)`, `two_way`, or `no rule`."""
    if rule is None:
        return "no rule"
    return f"{rule.rule.value} ({rule.owner})" if rule.owner and rule.rule in _OWNED else rule.rule.value


_OWNED = (Rule.ALWAYS_OWNER, Rule.OWNER_UNLESS_BLANK)


def normalise(rule: FieldRule) -> FieldRule:
    """The rule with an owner only where the rule uses one (two_way and dont_sync ignore it)."""
    return rule if rule.rule in _OWNED else FieldRule(rule.field, rule.rule, None)


def check(rules: Sequence[FieldRule], systems: Iterable[str]) -> None:
    """Raise ValueError for a rule a policy cannot hold: a field twice, an owner missing or unknown."""
    known = set(systems)
    seen: set[str] = set()
    for rule in rules:
        if rule.field in seen:
            raise ValueError(f"field {rule.field!r} has two rules")
        seen.add(rule.field)
        if rule.rule in _OWNED and not rule.owner:
            raise ValueError(f"{rule.field}: {rule.rule.value} needs an owner system")
        if rule.rule in _OWNED and rule.owner not in known:
            raise ValueError(f"{rule.field}: owner {rule.owner!r} is not one of {', '.join(sorted(known))}")


def diff_rules(before: Sequence[FieldRule], after: Sequence[FieldRule]) -> list[RuleChange]:
    """The fields whose rule differs, in field order."""
    old = {r.field: normalise(r) for r in before}
    new = {r.field: normalise(r) for r in after}
    return [
        RuleChange(name, old.get(name), new.get(name))
        for name in sorted(old.keys() | new.keys())
        if _effect(name, old.get(name)) != _effect(name, new.get(name))
    ]


def _effect(name: str, rule: FieldRule | None) -> FieldRule:
    # A field without a rule is not synced: adding dont_sync to it changes nothing.
    return rule if rule is not None else FieldRule(name, Rule.DONT_SYNC)


@dataclass(frozen=True)
class ValueChange:
    """One canonical value whose spelling in a system differs (None: not in the map there)."""

    value: str
    before: str | None
    after: str | None

    def describe(self) -> str:
        return f"{self.value}: {self.before if self.before is not None else '(none)'} -> " + (
            self.after if self.after is not None else "(none)"
        )


def diff_values(before: Mapping[str, str], after: Mapping[str, str]) -> list[ValueChange]:
    """The canonical values whose vendor value differs, in value order."""
    return [
        ValueChange(value, before.get(value), after.get(value))
        for value in sorted(before.keys() | after.keys())
        if before.get(value) != after.get(value)
    ]


@dataclass(frozen=True)
class Overwrite:
    """One value the new policy writes to one record in one system."""

    canonical_id: str
    system: str
    field: str
    before: Any
    after: Any  # the canonical value written
    label: str = ""  # how a person knows the record (an email, a domain), for previews


@dataclass(frozen=True)
class RulesDelta:
    """The rules of the fields a change touches, before and after: all a preview needs to plan."""

    changes: tuple[RuleChange, ...]
    before: tuple[FieldRule, ...]
    after: tuple[FieldRule, ...]

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(c.field for c in self.changes)

    def overwrites(
        self,
        canonical_id: str,
        states: Mapping[str, SystemState],
        mapped: Mapping[str, frozenset[str]],
        label: str = "",
    ) -> list[Overwrite]:
        """The values the new rules write to one record, in the systems that hold it (`states`), that
        the old rules would not have written: what the change itself does. `mapped`: system ->
        canonical fields it maps (a field it does not map has nowhere to go there)."""
        if not self.changes or len(states) < 2:
            return []
        old_plan = plan(self.before, states, {})
        new_plan = plan(self.after, states, {})
        found = []
        for system, fields in sorted(new_plan.items()):
            old = old_plan.get(system, {})
            for name, value in sorted(fields.items()):
                if name not in mapped.get(system, frozenset()) or old.get(name, _MISSING) == value:
                    continue
                found.append(Overwrite(canonical_id, system, name, states[system].values.get(name), value, label))
        return found


def delta(before: Sequence[FieldRule], after: Sequence[FieldRule]) -> RulesDelta:
    changes = tuple(diff_rules(before, after))
    changed = {c.field for c in changes}
    return RulesDelta(
        changes, tuple(r for r in before if r.field in changed), tuple(r for r in after if r.field in changed)
    )


def overwrites(
    canonical_id: str,
    before: Sequence[FieldRule],
    after: Sequence[FieldRule],
    states: Mapping[str, SystemState],
    mapped: Mapping[str, frozenset[str]],
    label: str = "",
) -> list[Overwrite]:
    """`delta(before, after).overwrites(...)` for one record."""
    return delta(before, after).overwrites(canonical_id, states, mapped, label)


def respellings(
    canonical_id: str,
    system: str,
    field_name: str,
    changes: Sequence[ValueChange],
    state: SystemState | None,
    label: str = "",
) -> list[Overwrite]:
    """The record's value in `system` written again when the system's spelling of it changed (a value
    dropped from the map is not written: the system keeps what it has, and reading it back fails
    loudly as a mapping error rather than quietly)."""
    if state is None:
        return []
    value = state.values.get(field_name)
    respelt = {c.value for c in changes if c.after is not None}
    if value is None or str(value) not in respelt:
        return []
    return [Overwrite(canonical_id, system, field_name, value, value, label)]


@dataclass
class Tally:
    """Overwrites counted as a preview shows them: records and values per system, a few examples."""

    records: dict[str, int] = field(default_factory=dict)  # system -> records that would change there
    values: dict[str, int] = field(default_factory=dict)  # "system.field" -> values that would change
    examples: list[Overwrite] = field(default_factory=list)
    scanned: int = 0  # linked records looked at

    def add(self, found: Sequence[Overwrite]) -> None:
        """Count one record's overwrites."""
        self.scanned += 1
        for system in sorted({o.system for o in found}):
            self.records[system] = self.records.get(system, 0) + 1
        for overwrite in found:
            key = f"{overwrite.system}.{overwrite.field}"
            self.values[key] = self.values.get(key, 0) + 1
            if len(self.examples) < EXAMPLES:
                self.examples.append(overwrite)

    @property
    def total(self) -> int:
        """Writes the change queues: one per record and system."""
        return sum(self.records.values())


def by_target(found: Sequence[Overwrite]) -> dict[str, dict[str, Any]]:
    """One record's overwrites as writes: system -> {field: value}."""
    writes: dict[str, dict[str, Any]] = {}
    for overwrite in found:
        writes.setdefault(overwrite.system, {})[overwrite.field] = overwrite.after
    return writes
