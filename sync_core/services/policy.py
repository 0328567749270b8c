"""Ownership rules and field mappings: versioned, audited, read by the sync loop.

The loop calls `load` for every page it plans and every batch it sends, so a running worker follows
a newly saved version from its next page, without a restart. A person's change is previewed first
(`preview_rules`, `preview_values`: which linked records it overwrites where), then saved as a new
version with those writes queued in the same transaction, and can be rolled back (`roll_back`: the
old version saved again as a new one). Every save is in the audit log with before and after.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core.domain import identity, policy_change
from sync_core.domain.mapping import FieldMap, ObjectMapping
from sync_core.domain.ownership import FieldRule, Rule, SystemState
from sync_core.domain.policy_change import Overwrite, RuleChange, Tally, ValueChange
from sync_core.persistence import lanes, ledger
from sync_core.persistence.database import snapshot, transaction
from sync_core.persistence.tables import AuditLog, FieldMapping, OwnershipRule, Shadow
from sync_core.services import trace
from sync_core.services.runs import Page, page_bounds


@dataclass(frozen=True)
class ObjectPolicy:
    """Everything the loop needs to sync one object type: its rules and each system's mapping."""

    object_type: str
    rules: tuple[FieldRule, ...]
    mappings: dict[str, ObjectMapping]

    @cached_property
    def systems(self) -> tuple[str, ...]:
        return tuple(sorted(self.mappings))

    def fields_of(self, system: str) -> frozenset[str]:
        """The canonical fields `system` has a mapping for: the only ones ever written to it."""
        return self._fields.get(system, frozenset())

    def owner_of(self, field: str) -> str | None:
        """The system that owns `field` under the rules (None: no rule, or no owner such as two_way)."""
        return next((rule.owner for rule in self.rules if rule.field == field), None)

    def creates_in(self, system: str) -> bool:
        """Whether the sync loop creates records in `system` (else a flow does, or nobody)."""
        found = self.mappings.get(system)
        return found is not None and found.creates

    @cached_property
    def _fields(self) -> dict[str, frozenset[str]]:
        return {system: frozenset(f.canonical for f in m.fields) for system, m in self.mappings.items()}


def _latest(session: Session, column: Any) -> int | None:
    version = session.scalar(select(func.max(column)))
    return int(version) if version is not None else None


def load(session: Session, object_type: str) -> ObjectPolicy:
    """The current policy for `object_type` (latest rule and mapping versions)."""
    rule_version = _latest(session, col(OwnershipRule.version))
    rules = session.scalars(
        select(OwnershipRule)
        .where(col(OwnershipRule.version) == rule_version, col(OwnershipRule.object_type) == object_type)
        .order_by(col(OwnershipRule.field))
    ).all()
    mapping_version = _latest(session, col(FieldMapping.version))
    rows = session.scalars(
        select(FieldMapping)
        .where(col(FieldMapping.version) == mapping_version, col(FieldMapping.object_type) == object_type)
        .order_by(col(FieldMapping.system), col(FieldMapping.canonical))
    ).all()
    fields: dict[str, list[FieldMap]] = {}
    creates: dict[str, bool] = {}
    for row in rows:
        values = {str(k): str(v) for k, v in row.value_map.items()}
        fields.setdefault(row.system, []).append(FieldMap(row.canonical, row.vendor, values))
        creates[row.system] = creates.get(row.system, True) and bool(row.creates)
    return ObjectPolicy(
        object_type,
        tuple(FieldRule(r.field, Rule(r.rule), r.owner) for r in rules),
        {
            system: ObjectMapping(system, object_type, tuple(maps), creates[system])
            for system, maps in fields.items()
        },
    )


def save_mappings(engine: Engine, mappings: Sequence[ObjectMapping], actor: str) -> int:
    """Store `mappings` as a new mapping version, replacing those of the same system and object."""
    now = datetime.now(UTC)
    with transaction(engine) as session:
        version = _store_mappings(session, mappings, actor, now)
        session.add(
            AuditLog(
                at=now, actor=actor, action="mapping.saved", subject=f"mappings v{version}",
                details={"replaced": sorted(f"{m.system}/{m.object_type}" for m in mappings)},
            )
        )
    return version


def _store_mappings(session: Session, mappings: Sequence[ObjectMapping], actor: str, now: datetime) -> int:
    replaced = {(m.system, m.object_type) for m in mappings}
    current = _latest(session, col(FieldMapping.version))
    version = (current or 0) + 1
    if current is not None:
        for old in session.scalars(select(FieldMapping).where(col(FieldMapping.version) == current)):
            if (old.system, old.object_type) not in replaced:
                session.add(
                    FieldMapping(
                        version=version, system=old.system, object_type=old.object_type,
                        canonical=old.canonical, vendor=old.vendor, value_map=old.value_map,
                        creates=old.creates, created_at=now, created_by=actor,
                    )
                )
    for mapping in mappings:
        for field_map in mapping.fields:
            session.add(
                FieldMapping(
                    version=version, system=mapping.system, object_type=mapping.object_type,
                    canonical=field_map.canonical, vendor=field_map.vendor,
                    value_map=dict(field_map.values), creates=mapping.creates, created_at=now,
                    created_by=actor,
                )
            )
    return version


# -- ownership rules: versions, preview, save, roll back ------------------------------------------

RULES_SAVED, RULES_ROLLED_BACK = "ownership.saved", "ownership.rolled_back"
VALUES_SAVED, VALUES_ROLLED_BACK = "value_map.saved", "value_map.rolled_back"
HISTORY_ACTIONS = (RULES_SAVED, RULES_ROLLED_BACK, VALUES_SAVED, VALUES_ROLLED_BACK)
SOURCE = "policy"  # the source system of the writes a policy change queues
HEAL = "heal"  # the executor's heal: sent whatever the ledger says the target holds (executor.HEAL)
_SCAN = 2000  # shadows read per query while a change is previewed or applied


def object_types(engine: Engine) -> list[str]:
    """The object types the current policy has rules or mappings for."""
    with snapshot(engine) as session:
        rules = _latest(session, col(OwnershipRule.version))
        maps = _latest(session, col(FieldMapping.version))
        found = set(
            session.scalars(
                select(col(OwnershipRule.object_type)).where(col(OwnershipRule.version) == rules).distinct()
            )
        )
        found |= set(
            session.scalars(select(col(FieldMapping.object_type)).where(col(FieldMapping.version) == maps).distinct())
        )
    return sorted(found)


def current(engine: Engine, object_type: str) -> tuple[ObjectPolicy, int | None, int | None]:
    """The current policy of `object_type` with its rule and mapping version numbers."""
    with snapshot(engine) as session:
        return (
            load(session, object_type),
            _latest(session, col(OwnershipRule.version)),
            _latest(session, col(FieldMapping.version)),
        )


def rules_at(session: Session, object_type: str, version: int) -> list[FieldRule]:
    """The rules of `object_type` as rule version `version` had them."""
    rows = session.scalars(
        select(OwnershipRule)
        .where(col(OwnershipRule.version) == version, col(OwnershipRule.object_type) == object_type)
        .order_by(col(OwnershipRule.field))
    ).all()
    return [FieldRule(r.field, Rule(r.rule), r.owner) for r in rows]


@dataclass(frozen=True)
class _Linked:
    """One record more than one system holds: what each holds of the fields looked at, and its label."""

    canonical_id: str
    states: dict[str, SystemState]
    label: str


def _linked(
    session: Session, object_type: str, systems: Collection[str], fields: Collection[str]
) -> Iterator[list[_Linked]]:
    """Chunks of the records of `object_type` that more than one of `systems` holds (only those can be
    overwritten), with what the ledger knows each system holds of `fields`; one keyset-paged query per
    chunk, in canonical id order (ix_shadow_object_canonical)."""
    table = Shadow.__table__  # type: ignore[attr-defined]
    query = select(table.c.canonical_id, table.c.system, table.c.seen, table.c.field_times).where(
        table.c.object_type == object_type
    )
    wanted, after = set(fields), ""
    while True:
        rows = list(session.execute(
            query.where(table.c.canonical_id > after).order_by(table.c.canonical_id).limit(_SCAN)
        ).all())  # fmt: skip
        done = len(rows) < _SCAN
        if rows:
            after = rows[-1][0]
        if not done:
            # The last record's rows may go on in the next chunk: it is read again there, whole.
            rows = [row for row in rows if row[0] != after]
            after = rows[-1][0] if rows else after
            if not rows:  # one record with more rows than a chunk: cannot happen with a few systems
                raise RuntimeError(f"record {after} has more than {_SCAN} shadows")
        chunk: list[_Linked] = []
        for cid, group in itertools.groupby(rows, key=lambda row: str(row[0])):
            states: dict[str, SystemState] = {}
            label = ""
            for row in group:
                system, seen, times = str(row[1]), dict(row[2] or {}), dict(row[3] or {})
                if system not in systems or not seen:
                    continue
                label = label or _label(object_type, seen)
                states[system] = SystemState(
                    {k: v for k, v in seen.items() if k in wanted},
                    {k: datetime.fromisoformat(v) for k, v in times.items() if k in wanted},
                )
            if len(states) > 1:
                chunk.append(_Linked(cid, states, label))
        yield chunk
        if done:
            return


def _label(object_type: str, values: Mapping[str, Any]) -> str:
    """How a person knows the record: its matching key (email, domain) or its name."""
    return str(identity.match_key(object_type, values) or values.get("name") or "")


@dataclass(frozen=True)
class RulesPreview:
    """What saving new rules for one object would do: the rules that differ and the values overwritten."""

    object_type: str
    changes: tuple[RuleChange, ...]
    tally: Tally


def _check_rules(policy: ObjectPolicy, rules: Sequence[FieldRule]) -> None:
    policy_change.check(rules, policy.systems or {r.owner for r in rules if r.owner})


def _rule_overwrites(
    session: Session, policy: ObjectPolicy, rules: Sequence[FieldRule]
) -> Iterator[list[list[Overwrite]]]:
    """Per chunk of linked records, each record's overwrites under `rules` (an empty list for most)."""
    mapped = {s: policy.fields_of(s) for s in policy.systems}
    change = policy_change.delta(policy.rules, rules)
    for chunk in _linked(session, policy.object_type, policy.systems, change.fields):
        yield [change.overwrites(r.canonical_id, r.states, mapped, r.label) for r in chunk]


def preview_rules(engine: Engine, object_type: str, rules: Sequence[FieldRule]) -> RulesPreview:
    """What saving `rules` for `object_type` would change: per system, the linked records whose values
    the new rules overwrite there (and the old ones did not), with examples. Nothing is written."""
    with snapshot(engine) as session:
        policy = load(session, object_type)
        _check_rules(policy, rules)
        tally = Tally()
        changes = tuple(policy_change.diff_rules(policy.rules, rules))
        if changes:
            for chunk in _rule_overwrites(session, policy, rules):
                for record in chunk:
                    tally.add(record)
    return RulesPreview(object_type, changes, tally)


def _queue(session: Session, object_type: str, found: Sequence[Sequence[Overwrite]], tag: str, operation: str,
           now: datetime) -> set[str]:
    """Put the overwrites into the outbox, one write per record and system; returns the systems written."""
    stories = trace.correlations(session, {r[0].canonical_id for r in found if r})
    ops: list[dict[str, Any]] = []
    for record in found:
        if not record:
            continue
        cid = record[0].canonical_id
        for target, fields in sorted(policy_change.by_target(record).items()):
            ops.append({
                "idempotency_key": ledger.idempotency_key(target, object_type, SOURCE, cid, tag, operation),
                "target_system": target, "object_type": object_type, "canonical_id": cid, "operation": operation,
                "source_system": SOURCE, "source_id": cid, "source_version": tag, "payload": fields,
                "status": "pending", "attempts": 0, "next_attempt_at": now, "result": {},
                "correlation_id": stories.get(cid, cid), "created_at": now, "updated_at": now,
            })  # fmt: skip
    ledger.add_ops(session, ops)
    targets = {op["target_system"] for op in ops}
    for target in targets:
        lanes.mark_due(session, target, object_type, lanes.OUTBOUND, now)
    return targets


def _rules_json(rules: Sequence[FieldRule]) -> list[list[str | None]]:
    return [[r.field, r.rule.value, r.owner] for r in rules]


def _save_rules(
    engine: Engine, object_type: str, rules: Sequence[FieldRule], actor: str, action: str,
    extra: dict[str, Any] | None = None,
) -> tuple[int, Tally]:  # fmt: skip
    now = datetime.now(UTC)
    rules = [policy_change.normalise(r) for r in rules]
    with transaction(engine) as session:
        policy = load(session, object_type)
        _check_rules(policy, rules)
        changes = policy_change.diff_rules(policy.rules, rules)
        current_version = _latest(session, col(OwnershipRule.version))
        version = (current_version or 0) + 1
        if current_version is not None:
            for old in session.scalars(
                select(OwnershipRule).where(
                    col(OwnershipRule.version) == current_version, col(OwnershipRule.object_type) != object_type
                )
            ):
                session.add(
                    OwnershipRule(
                        version=version, object_type=old.object_type, field=old.field, rule=old.rule,
                        owner=old.owner, created_at=now, created_by=actor,
                    )
                )
        for rule in rules:
            session.add(
                OwnershipRule(
                    version=version, object_type=object_type, field=rule.field, rule=rule.rule.value,
                    owner=rule.owner, created_at=now, created_by=actor,
                )
            )
        tally = Tally()
        # The records the new rules overwrite are written now, as the preview said: the rules apply to
        # every linked record at once, not only to those that change next.
        for chunk in _rule_overwrites(session, policy, rules) if (changes and policy.rules) else ():
            for record in chunk:
                tally.add(record)
            _queue(session, object_type, chunk, f"rules-v{version}", "upsert", now)
        session.add(
            AuditLog(
                at=now, actor=actor, action=action, subject=f"{object_type} v{version}",
                details={
                    "object_type": object_type, "version": version, "before": _rules_json(policy.rules),
                    "after": _rules_json(rules), "changes": [c.describe() for c in changes],
                    "writes": dict(sorted(tally.records.items())), **(extra or {}),
                },
            )
        )
    return version, tally


def save_rules(engine: Engine, object_type: str, rules: Sequence[FieldRule], actor: str) -> int:
    """Store `rules` for `object_type` as a new policy version (other objects carried over), audited
    with before and after; the linked records the change overwrites get their writes queued."""
    return _save_rules(engine, object_type, rules, actor, RULES_SAVED)[0]


def change_rules(engine: Engine, object_type: str, rules: Sequence[FieldRule], actor: str) -> tuple[int, Tally]:
    """`save_rules` for a person's edit: refused when nothing differs; returns the version and what it queued."""
    with snapshot(engine) as session:
        if not policy_change.diff_rules(load(session, object_type).rules, rules):
            raise ValueError(f"no rule of {object_type} differs from the current version")
    return _save_rules(engine, object_type, rules, actor, RULES_SAVED)


# -- value maps -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValuesPreview:
    """What saving a value map would do: the values spelt anew and the records written again."""

    system: str
    object_type: str
    field: str
    changes: tuple[ValueChange, ...]
    tally: Tally


def _field_map(policy: ObjectPolicy, system: str, field_name: str) -> FieldMap:
    mapping = policy.mappings.get(system)
    found = next((f for f in mapping.fields if f.canonical == field_name), None) if mapping else None
    if found is None:
        raise ValueError(f"{system} has no {policy.object_type} field mapped to {field_name!r}")
    return found


def _clean_values(values: Mapping[str, str]) -> dict[str, str]:
    cleaned = {str(k).strip(): str(v).strip() for k, v in values.items()}
    if any(not k or not v for k, v in cleaned.items()):
        raise ValueError("every value map entry needs a canonical value and the system's value")
    return dict(sorted(cleaned.items()))


def _respellings(
    session: Session, policy: ObjectPolicy, system: str, field_name: str, changes: Sequence[ValueChange]
) -> Iterator[list[list[Overwrite]]]:
    for chunk in _linked(session, policy.object_type, policy.systems, [field_name]):
        yield [
            policy_change.respellings(r.canonical_id, system, field_name, changes, r.states.get(system), r.label)
            for r in chunk
        ]


def preview_values(
    engine: Engine, system: str, object_type: str, field_name: str, values: Mapping[str, str]
) -> ValuesPreview:
    """What saving `values` as the value map of `system`'s `field_name` would write again there."""
    values = _clean_values(values)
    with snapshot(engine) as session:
        policy = load(session, object_type)
        changes = tuple(policy_change.diff_values(_field_map(policy, system, field_name).values, values))
        tally = Tally()
        if changes:
            for chunk in _respellings(session, policy, system, field_name, changes):
                for record in chunk:
                    tally.add(record)
    return ValuesPreview(system, object_type, field_name, changes, tally)


def _save_values(
    engine: Engine, system: str, object_type: str, field_name: str, values: Mapping[str, str], actor: str,
    action: str, extra: dict[str, Any] | None = None,
) -> tuple[int, Tally]:  # fmt: skip
    values = _clean_values(values)
    now = datetime.now(UTC)
    with transaction(engine) as session:
        policy = load(session, object_type)
        before = _field_map(policy, system, field_name)
        changes = policy_change.diff_values(before.values, values)
        if not changes:
            raise ValueError(f"the {system} values of {object_type} {field_name} are already these")
        mapping = policy.mappings[system]
        fields = tuple(FieldMap(f.canonical, f.vendor, values) if f is before else f for f in mapping.fields)
        version = _store_mappings(session, [ObjectMapping(system, object_type, fields, mapping.creates)], actor, now)
        tally = Tally()
        for chunk in _respellings(session, policy, system, field_name, changes):
            for record in chunk:
                tally.add(record)
            # A heal: sent even though the ledger says the system holds the (canonical) value already.
            _queue(session, object_type, chunk, f"values-v{version}", HEAL, now)
        session.add(
            AuditLog(
                at=now, actor=actor, action=action, subject=f"{object_type} {system}.{field_name} values v{version}",
                details={
                    "object_type": object_type, "system": system, "field": field_name, "version": version,
                    "before": dict(before.values), "after": values, "changes": [c.describe() for c in changes],
                    "writes": dict(sorted(tally.records.items())), **(extra or {}),
                },
            )
        )
    return version, tally


def save_values(
    engine: Engine, system: str, object_type: str, field_name: str, values: Mapping[str, str], actor: str
) -> tuple[int, Tally]:
    """Store `values` as `system`'s value map of `field_name` in a new mapping version, audited; the
    records holding a value spelt anew there are written again with the new spelling."""
    return _save_values(engine, system, object_type, field_name, values, actor, VALUES_SAVED)


# -- history and roll back ------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyChange:
    """One saved change in the history: who, when, what (before and after), the writes it queued."""

    id: int
    at: datetime
    actor: str
    action: str
    kind: str  # "rules" or "values"
    version: int | None
    what: str  # the field, or "system.field" of a value map
    changes: tuple[str, ...]
    writes: dict[str, int]
    rolled_back_to: int | None


def _change(row: AuditLog) -> PolicyChange:
    details = row.details or {}
    kind = "values" if row.action.startswith("value_map.") else "rules"
    version = details.get("version")
    if version is None and " v" in row.subject:  # rows of the first saves carry the version in the subject only
        version = int(row.subject.rsplit(" v", 1)[1])
    what = f"{details.get('system')}.{details.get('field')}" if kind == "values" else "ownership rules"
    changes = details.get("changes")
    if changes is None:
        changes = [f"{name}: {spell(name, rule, owner)}" for name, rule, owner in details.get("rules", [])]
    back = details.get("rolled_back_to")
    return PolicyChange(
        id=int(row.id or 0), at=row.at, actor=row.actor, action=row.action, kind=kind,
        version=int(version) if version is not None else None, what=what, changes=tuple(str(c) for c in changes),
        writes={str(k): int(v) for k, v in (details.get("writes") or {}).items()},
        rolled_back_to=int(back) if back is not None else None,
    )  # fmt: skip


def spell(name: str, rule: str, owner: str | None) -> str:
    return policy_change.spell(FieldRule(name, Rule(rule), owner))


def history(engine: Engine, object_type: str, page: int = 1, page_size: int = 10) -> Page[PolicyChange]:
    """The saved changes of `object_type`'s rules and value maps, newest first, a page at a time."""
    page, page_size, offset = page_bounds(page, page_size)
    where = (
        col(AuditLog.action).in_(HISTORY_ACTIONS),
        col(AuditLog.subject).like(f"{object_type} %"),
    )
    with snapshot(engine) as session:
        total = int(session.scalar(select(func.count()).select_from(AuditLog).where(*where)) or 0)
        rows = session.scalars(
            select(AuditLog).where(*where).order_by(col(AuditLog.id).desc()).offset(offset).limit(page_size)
        ).all()
    return Page(tuple(_change(row) for row in rows), total, page, page_size)


@dataclass(frozen=True)
class _Restoration:
    """What rolling back to a history entry's version puts back."""

    entry: PolicyChange
    object_type: str
    rules: tuple[FieldRule, ...] = ()
    system: str = ""
    field: str = ""
    values: dict[str, str] | None = None


def _restoration(session: Session, change_id: int) -> _Restoration:
    row = session.get(AuditLog, change_id)
    if row is None or row.action not in HISTORY_ACTIONS:
        raise ValueError(f"there is no policy change {change_id}")
    entry = _change(row)
    details = dict(row.details or {})
    object_type = str(details.get("object_type") or row.subject.split(" ", 1)[0])
    if entry.version is None:
        raise ValueError(f"policy change {change_id} names no version")
    if entry.kind == "rules":
        rules = rules_at(session, object_type, entry.version)
        if not policy_change.diff_rules(load(session, object_type).rules, rules):
            raise ValueError(f"the rules of {object_type} are those of v{entry.version} already")
        return _Restoration(entry, object_type, tuple(rules))
    system, field_name = str(details["system"]), str(details["field"])
    old = session.scalar(
        select(FieldMapping).where(
            col(FieldMapping.version) == entry.version, col(FieldMapping.system) == system,
            col(FieldMapping.object_type) == object_type, col(FieldMapping.canonical) == field_name,
        )
    )
    if old is None:
        raise ValueError(f"mapping v{entry.version} has no {system} {object_type} field {field_name}")
    return _Restoration(entry, object_type, (), system, field_name, {str(k): str(v) for k, v in old.value_map.items()})


def preview_roll_back(engine: Engine, change_id: int) -> tuple[PolicyChange, list[str], Tally]:
    """What rolling back to a history entry's version would change: the entry, the changes, the overwrites."""
    with snapshot(engine) as session:
        back = _restoration(session, change_id)
    if back.values is None:
        rules = preview_rules(engine, back.object_type, back.rules)
        return back.entry, [c.describe() for c in rules.changes], rules.tally
    values = preview_values(engine, back.system, back.object_type, back.field, back.values)
    return back.entry, [c.describe() for c in values.changes], values.tally


def roll_back(engine: Engine, change_id: int, actor: str) -> tuple[PolicyChange, int, Tally]:
    """Make the version a history entry saved the current one again, as a new version (audited).

    Returns the entry, the new version and the writes queued."""
    with snapshot(engine) as session:
        back = _restoration(session, change_id)
    extra = {"rolled_back_to": back.entry.version, "rolled_back_change": change_id}
    if back.values is None:
        version, tally = _save_rules(engine, back.object_type, back.rules, actor, RULES_ROLLED_BACK, extra)
    else:
        version, tally = _save_values(
            engine, back.system, back.object_type, back.field, back.values, actor, VALUES_ROLLED_BACK, extra
        )
    return back.entry, version, tally
