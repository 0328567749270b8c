"""Ownership rules and field mappings: versioned, audited, read by the sync loop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core.domain.mapping import FieldMap, ObjectMapping
from sync_core.domain.ownership import FieldRule, Rule
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import AuditLog, FieldMapping, OwnershipRule


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


def save_rules(engine: Engine, object_type: str, rules: Sequence[FieldRule], actor: str) -> int:
    """Store `rules` for `object_type` as a new policy version (other objects carried over)."""
    now = datetime.now(UTC)
    with transaction(engine) as session:
        current = _latest(session, col(OwnershipRule.version))
        version = (current or 0) + 1
        if current is not None:
            for old in session.scalars(
                select(OwnershipRule).where(
                    col(OwnershipRule.version) == current, col(OwnershipRule.object_type) != object_type
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
        session.add(
            AuditLog(
                at=now, actor=actor, action="ownership.saved", subject=f"{object_type} v{version}",
                details={"rules": [[r.field, r.rule.value, r.owner] for r in rules]},
            )
        )
    return version


def save_mappings(engine: Engine, mappings: Sequence[ObjectMapping], actor: str) -> int:
    """Store `mappings` as a new mapping version, replacing those of the same system and object."""
    now = datetime.now(UTC)
    replaced = {(m.system, m.object_type) for m in mappings}
    with transaction(engine) as session:
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
        session.add(
            AuditLog(
                at=now, actor=actor, action="mapping.saved", subject=f"mappings v{version}",
                details={"replaced": sorted(f"{s}/{o}" for s, o in replaced)},
            )
        )
    return version
