"""Creates, updates, upserts and deletes of single records, checked and stamped the way Salesforce does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.salesforce.sandbox import rules
from connectors.salesforce.sandbox.api_errors import RecordRejectedError, SfError
from connectors.salesforce.sandbox.ids import normalize
from connectors.salesforce.sandbox.schema import CASCADES, SOBJECTS, SObjectType
from connectors.salesforce.sandbox.store import Record, Store
from connectors.salesforce.sandbox.validation import (
    check_required,
    check_unique,
    check_values,
    not_writable,
    unknown_field,
)
from connectors.salesforce.sandbox.values import BULK_NULL, coerce, stamp
from sync_core.ports import Clock

_AUDIT = ("CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp")


class MultipleMatchesError(Exception):
    """An upsert key that several records hold (the REST API answers 300 with their urls)."""

    def __init__(self, ids: list[str]) -> None:
        super().__init__(f"{len(ids)} records match")
        self.ids = ids


@dataclass(frozen=True)
class Upserted:
    record: Record
    created: bool


def missing(record_id: str) -> RecordRejectedError:
    return RecordRejectedError([SfError("NOT_FOUND", "The requested resource does not exist")], status=404)


def deleted() -> RecordRejectedError:
    return RecordRejectedError([SfError("ENTITY_IS_DELETED", "entity is deleted")], status=404)


class Writer:
    """Applies writes to the store; every method raises RecordRejectedError for a record Salesforce would refuse."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    # -- the four operations -----------------------------------------------------------------

    def create(
        self, t: SObjectType, body: Mapping[str, Any], user: str, csv: bool = False, at: datetime | None = None
    ) -> Record:
        if any(k.lower() == "id" and v not in (None, "") for k, v in body.items()):
            raise RecordRejectedError([SfError("INVALID_FIELD", "cannot specify Id in an insert call", ("Id",))])
        given = self._read(t, body, creating=True, csv=csv)
        merged: dict[str, Any] = {f.name: None for f in t.fields}
        for f in t.fields:
            if f.type == "boolean":
                merged[f.name] = f.default if isinstance(f.default, bool) else False
            elif f.default is not None:
                merged[f.name] = user if f.default == "$user" else f.default
        merged.update(given)
        with self.store.atomic():
            self._check(t, merged, given, None)
            now = stamp(at or self.clock.now())
            record_id = self.store.new_id(t.name)
            merged.update(Id=record_id, IsDeleted=False, CreatedDate=now, CreatedById=user)
            merged.update(LastModifiedDate=now, LastModifiedById=user, SystemModstamp=now)
            record = Record(t.name, merged)
            self.store.put(record)
            self._ripple(record, user, now)
        return record

    def update(self, t: SObjectType, record_id: str, body: Mapping[str, Any], user: str, csv: bool = False) -> Record:
        with self.store.atomic():
            existing = self.find(t, record_id)
            body = {k: v for k, v in body.items() if not (k.lower() == "id" and normalize(str(v)) == existing.id)}
            given = self._read(t, body, creating=False, csv=csv)
            merged = dict(existing.values) | given
            self._check(t, merged, given, existing)
            now = stamp(self.clock.now())
            merged.update(LastModifiedDate=now, LastModifiedById=user, SystemModstamp=now)
            record = Record(t.name, merged)
            self.store.put(record)
            self._ripple(record, user, now)
        return record

    def upsert(
        self, t: SObjectType, key_field: str, value: Any, body: Mapping[str, Any], user: str, csv: bool = False
    ) -> Upserted:
        """Update the record whose `key_field` holds `value`, or create one holding it."""
        key = t.field(key_field)
        if key is None or not (key.external_id or key.name == "Id"):
            raise RecordRejectedError(
                [SfError("NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {key_field}")],
                status=404,
            )
        rest = {k: v for k, v in body.items() if k.lower() != key.name.lower()}
        with self.store.atomic():
            if key.name == "Id":
                if value in (None, ""):
                    return Upserted(self.create(t, rest, user, csv), True)
                return Upserted(self.update(t, str(value), rest, user, csv), False)
            if value in (None, ""):
                raise RecordRejectedError([SfError("MISSING_ARGUMENT", f"{key.name} not specified", (key.name,))])
            matches = self.store.find(t.name, key.name, str(value))
            if len(matches) > 1:
                raise MultipleMatchesError([r.id for r in matches])
            if matches:
                return Upserted(self.update(t, matches[0].id, rest, user, csv), False)
            return Upserted(self.create(t, {**rest, key.name: value}, user, csv), True)

    def delete(self, t: SObjectType | None, record_id: str, user: str) -> None:
        with self.store.atomic():
            record = self.find(t, record_id)
            now = stamp(self.clock.now())
            self._delete(record, user, now)

    def touch(self, record_id: str, changes: Mapping[str, Any], user: str, now: datetime) -> None:
        """Apply a change Salesforce makes on its own (a roll-up), stamped like any other."""
        record = self.store.get(record_id)
        if record is not None:
            values = dict(record.values) | dict(changes)
            values.update(LastModifiedDate=now, LastModifiedById=user, SystemModstamp=now)
            self.store.put(Record(record.sobject, values))

    # -- helpers -------------------------------------------------------------------------------

    def find(self, t: SObjectType | None, record_id: str) -> Record:
        """The live record `record_id` of type `t`; NOT_FOUND or ENTITY_IS_DELETED otherwise."""
        full = normalize(record_id)
        if full is None:
            raise RecordRejectedError([SfError("MALFORMED_ID", f"malformed id {record_id}", ())], status=400)
        record = self.store.get(full, include_deleted=True)
        if record is None or (t is not None and record.sobject != t.name):
            raise missing(record_id)
        if record.deleted:
            raise deleted()
        return record

    def _delete(self, record: Record, user: str, now: datetime) -> None:
        for parent, child in CASCADES:
            if parent != record.sobject:
                continue
            for f in SOBJECTS[child].fields:
                if parent in f.reference_to and f.name not in ("CreatedById", "LastModifiedById"):
                    for dependant in self.store.find(child, f.name, record.id):
                        self._delete(dependant, user, now)
        values = dict(record.values)
        values.update(IsDeleted=True, LastModifiedDate=now, LastModifiedById=user, SystemModstamp=now)
        gone = Record(record.sobject, values)
        self.store.put(gone)
        self._ripple(gone, user, now)

    def _ripple(self, record: Record, user: str, now: datetime) -> None:
        for other, changes in rules.after_write(record, self.store).items():
            self.touch(other, changes, user, now)

    def _check(self, t: SObjectType, merged: dict[str, Any], given: Mapping[str, Any], existing: Record | None) -> None:
        errors = check_values(t, given, self.store)
        if not errors:
            required = check_required(t, merged)
            errors = [required] if required else []
        if not errors:
            errors = rules.derive(t.name, merged, given, existing, self.store)
        if not errors:
            written = {k: merged.get(k) for k in given}
            errors = check_unique(t, written, self.store, existing.id if existing else None)
        if errors:
            raise RecordRejectedError(errors)

    def _read(self, t: SObjectType, body: Mapping[str, Any], creating: bool, csv: bool) -> dict[str, Any]:
        """Typed values of a JSON body or CSV row; parent references by external id become ids."""
        values: dict[str, Any] = {}
        unknown: list[SfError] = []
        locked: list[str] = []
        for key, raw in body.items():
            if key == "attributes":
                continue
            if csv and raw == "":
                continue  # an empty CSV cell leaves the field as it is
            if csv and raw == BULK_NULL:
                raw = None
            f = t.field(key)
            if f is None:
                reference = self._reference(t, key, raw)
                if isinstance(reference, SfError):
                    unknown.append(reference)
                else:
                    values[reference[0]] = reference[1]
                continue
            if not (f.createable if creating else f.updateable):
                locked.append(f.name)
                continue
            values[f.name] = coerce(f, raw)
            if f.type in ("reference", "id") and values[f.name] is not None:
                values[f.name] = normalize(values[f.name]) or values[f.name]
        if unknown:
            raise RecordRejectedError(unknown)
        if locked:
            raise RecordRejectedError([not_writable(locked)])
        return values

    def _reference(self, t: SObjectType, key: str, raw: Any) -> tuple[str, str | None] | SfError:
        """A parent named by one of its external ids: {"Account": {"Revline_Id__c": "x"}} or Account.Revline_Id__c."""
        if "." in key:
            relationship, _, parent_key = key.partition(".")
            spec: Any = {parent_key: raw}
        else:
            relationship, spec = key, raw
        lookup = t.relationship(relationship)
        if lookup is None or not isinstance(spec, Mapping):
            return unknown_field(t, key)
        parent = SOBJECTS[lookup.reference_to[0]]
        keys = [(k, v) for k, v in spec.items() if k != "attributes"]
        key_field = parent.field(keys[0][0]) if len(keys) == 1 else None
        if key_field is None or not key_field.external_id:
            return SfError("INVALID_FIELD", f"Invalid foreign key relationship name {relationship}", ())
        value = keys[0][1]
        if value in (None, ""):
            return (lookup.name, None)
        matches = self.store.find(parent.name, key_field.name, str(value))
        if not matches:
            return SfError(
                "INVALID_FIELD",
                f"Foreign key external ID: {value} not found for field {key_field.name} in entity {parent.name}",
                (),
            )
        if len(matches) > 1:
            return SfError(
                "DUPLICATE_EXTERNAL_ID",
                f"{key_field.name}: more than one record found for external id field: {[r.id for r in matches]}",
                (),
            )
        return (lookup.name, matches[0].id)
