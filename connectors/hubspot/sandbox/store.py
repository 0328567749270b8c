"""The sandbox's records in memory: objects, unique-value indexes and associations, behind one lock."""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.hubspot.sandbox.errors import (
    ApiError,
    Problem,
    conflict,
    invalid_properties,
    not_found,
    validation,
)
from connectors.hubspot.sandbox.owners import OWNER_PROPERTY, Owners
from connectors.hubspot.sandbox.schema import (
    DEFAULT_ASSOCIATION_TYPES,
    DEFAULT_PROPERTIES,
    MODIFIED_PROPERTY,
    OBJECT_TYPES,
    PRIMARY_ASSOCIATION_TYPES,
    SCHEMAS,
    SINGULAR,
    UNIQUE_PROPERTIES,
)
from connectors.hubspot.sandbox.times import iso_ms, now_ms
from connectors.hubspot.sandbox.validation import normalise

FIRST_ID = 10_001  # record ids are numeric strings, as in HubSpot
SERVER_KEPT = ("hs_object_id", "createdate", "hs_lastmodifieddate", "lastmodifieddate")

# Who made a change, as webhooks report it in `changeSource`.
INTEGRATION = "INTEGRATION"  # a request authenticated with the private-app token
CRM_UI = "CRM_UI"  # a person in HubSpot (the control API's user changes)


@dataclass
class StoredObject:
    """One CRM record; every property value is a string, as HubSpot returns them."""

    object_type: str
    id: str
    properties: dict[str, str]
    created_ms: int
    updated_ms: int
    archived_ms: int | None = None

    def to_json(self, wanted: Sequence[str] | None = None) -> dict[str, Any]:
        """The record as the v3 objects API returns it, with the asked-for properties (null when unset)."""
        schema = SCHEMAS[self.object_type]
        names = [name for name in (wanted or DEFAULT_PROPERTIES[self.object_type]) if name in schema]
        # HubSpot always adds the id and the two timestamps.
        for name in ("hs_object_id", "createdate", MODIFIED_PROPERTY[self.object_type], "hs_lastmodifieddate"):
            if name not in names and name in schema:
                names.append(name)
        body: dict[str, Any] = {
            "id": self.id,
            "properties": {name: self.properties.get(name) for name in names},
            "createdAt": iso_ms(self.created_ms),
            "updatedAt": iso_ms(self.updated_ms),
            "archived": self.archived_ms is not None,
        }
        if self.archived_ms is not None:
            body["archivedAt"] = iso_ms(self.archived_ms)
        return body


@dataclass(frozen=True)
class Change:
    """Something that happened to a record; the webhook dispatcher turns these into events."""

    object_type: str
    object_id: str
    kind: str  # creation | propertyChange | deletion
    occurred_ms: int
    source: str
    property_name: str | None = None
    property_value: str | None = None


@dataclass
class _Index:
    by_value: dict[str, str] = field(default_factory=dict)  # normalised value -> record id


def _key(name: str, value: str) -> str:
    return value.lower() if name == "email" else value


class Store:
    """Thread-safe record storage; every write validates, applies and reports its changes atomically."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._listeners: list[Callable[[list[Change]], None]] = []
        self._objects: dict[str, dict[str, StoredObject]] = {}
        self._archived: dict[str, dict[str, StoredObject]] = {}
        self._unique: dict[tuple[str, str], _Index] = {}
        self._links: dict[tuple[str, str, str], dict[str, set[int]]] = {}
        self._ids: Iterator[int] = itertools.count(FIRST_ID)
        self.owners = Owners()
        self.reset()

    def reset(self) -> None:
        self.owners.reset()
        with self._lock:
            self._objects = {name: {} for name in OBJECT_TYPES}
            self._archived = {name: {} for name in OBJECT_TYPES}
            self._unique = {(name, prop): _Index() for name in OBJECT_TYPES for prop in UNIQUE_PROPERTIES[name]}
            self._links = {}
            self._ids = itertools.count(FIRST_ID)

    def subscribe(self, listener: Callable[[list[Change]], None]) -> None:
        """Call `listener` with the changes of every write (under the store's lock: keep it quick)."""
        self._listeners.append(listener)

    # -- reads --------------------------------------------------------------------------------

    def get(self, object_type: str, object_id: str, id_property: str | None = None) -> StoredObject | None:
        with self._lock:
            return self._find(object_type, object_id, id_property)

    def get_archived(self, object_type: str, object_id: str) -> StoredObject | None:
        with self._lock:
            return self._archived[object_type].get(object_id)

    def snapshot(self, object_type: str, archived: bool = False) -> list[StoredObject]:
        """The live (or archived) records of a type, oldest id first."""
        with self._lock:
            table = self._archived if archived else self._objects
            return list(table[object_type].values())

    def page(self, object_type: str, first_id: int, limit: int, archived: bool = False) -> list[StoredObject]:
        """Up to `limit` live (or archived) records of a type with ids from `first_id` on, in id order."""
        with self._lock:
            table = self._archived if archived else self._objects
            ids = list(table[object_type])
            if archived:  # the recycle bin is in archiving order; live records are in creation (id) order
                ids.sort(key=int)
            start = bisect.bisect_left(ids, first_id, key=int)
            return [table[object_type][i] for i in ids[start:start + limit]]

    def count(self, object_type: str) -> int:
        with self._lock:
            return len(self._objects[object_type])

    def associations(self, from_type: str, from_id: str, to_type: str) -> dict[str, set[int]]:
        """to-record id -> association type ids."""
        with self._lock:
            return {k: set(v) for k, v in self._links.get((from_type, from_id, to_type), {}).items()}

    # -- writes -------------------------------------------------------------------------------

    def create(
        self,
        object_type: str,
        properties: Mapping[str, Any],
        source: str,
        *,
        server: bool = False,
        at_ms: int | None = None,
    ) -> StoredObject:
        """A new record; `server` allows read-only properties (seeding), `at_ms` backdates it."""
        with self._lock:
            values = self._validated(object_type, properties, server=server)
            self._check_unique(object_type, None, values)
            ms = now_ms() if at_ms is None else at_ms
            record_id = str(next(self._ids))
            record = StoredObject(object_type, record_id, {}, ms, ms)
            self._objects[object_type][record_id] = record
            changes = [Change(object_type, record_id, "creation", ms, source)]
            changes += self._apply(record, values, ms, source, created=True)
            self._notify(changes)
            return record

    def update(
        self,
        object_type: str,
        object_id: str,
        properties: Mapping[str, Any],
        source: str,
        *,
        id_property: str | None = None,
        server: bool = False,
        at_ms: int | None = None,
    ) -> StoredObject:
        with self._lock:
            record = self._find(object_type, object_id, id_property)
            if record is None:
                raise not_found(object_type, object_id)
            values = self._validated(object_type, properties, server=server)
            self._check_unique(object_type, record.id, values)
            changes = self._apply(record, values, now_ms() if at_ms is None else at_ms, source)
            self._notify(changes)
            return record

    def upsert(
        self, object_type: str, id_property: str, id_value: str, properties: Mapping[str, Any], source: str
    ) -> tuple[StoredObject, bool]:
        """Update the record whose unique `id_property` equals `id_value`, or create it; (record, created)."""
        with self._lock:
            if id_property != "hs_object_id" and id_property not in UNIQUE_PROPERTIES[object_type]:
                raise validation(
                    f"{id_property} is not a unique property of {object_type}; it cannot be used as idProperty",
                    idProperty=[id_property],
                )
            existing = self._find(object_type, id_value, id_property)
            if existing is not None:
                return self.update(object_type, existing.id, properties, source), False
            if id_property == "hs_object_id":
                raise not_found(object_type, id_value)
            return self.create(object_type, {**properties, id_property: id_value}, source), True

    def archive(self, object_type: str, object_id: str, source: str) -> bool:
        """Move a record to the recycle bin; False if there was no such live record."""
        with self._lock:
            record = self._objects[object_type].pop(object_id, None)
            if record is None:
                return False
            ms = now_ms()
            record.archived_ms = ms
            self._archived[object_type][object_id] = record
            for prop in UNIQUE_PROPERTIES[object_type]:
                value = record.properties.get(prop)
                if value is not None:
                    self._unique[(object_type, prop)].by_value.pop(_key(prop, value), None)
            for (from_type, from_id, to_type), targets in list(self._links.items()):
                if from_type == object_type and from_id == object_id:
                    for to_id in targets:
                        self._links.get((to_type, to_id, from_type), {}).pop(object_id, None)
                    del self._links[(from_type, from_id, to_type)]
            self._notify([Change(object_type, object_id, "deletion", ms, source)])
            return True

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str, type_ids: Sequence[int] = ()) -> int:
        """Associate two records (both directions); returns the default type id used from `from_type`."""
        with self._lock:
            default = DEFAULT_ASSOCIATION_TYPES.get((from_type, to_type))
            inverse = DEFAULT_ASSOCIATION_TYPES.get((to_type, from_type))
            if default is None or inverse is None:
                raise validation(f"{from_type} cannot be associated with {to_type}")
            for object_type, object_id in ((from_type, from_id), (to_type, to_id)):
                if object_id not in self._objects[object_type]:
                    raise not_found(object_type, object_id)
            forward = {default, *type_ids}
            backward = {inverse}
            primary = PRIMARY_ASSOCIATION_TYPES.get((from_type, to_type))
            if primary is not None and primary in forward:
                backward.add(PRIMARY_ASSOCIATION_TYPES[(to_type, from_type)])
            self._links.setdefault((from_type, from_id, to_type), {}).setdefault(to_id, set()).update(forward)
            self._links.setdefault((to_type, to_id, from_type), {}).setdefault(from_id, set()).update(backward)
            return default

    def disassociate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        with self._lock:
            self._links.get((from_type, from_id, to_type), {}).pop(to_id, None)
            self._links.get((to_type, to_id, from_type), {}).pop(from_id, None)

    # -- internals ----------------------------------------------------------------------------

    def _find(self, object_type: str, value: str, id_property: str | None) -> StoredObject | None:
        table = self._objects[object_type]
        if not id_property or id_property == "hs_object_id":
            return table.get(value)
        index = self._unique.get((object_type, id_property))
        if index is None:
            raise validation(
                f"{id_property} is not a unique property of {object_type}; it cannot be used as idProperty",
                idProperty=[id_property],
            )
        record_id = index.by_value.get(_key(id_property, value))
        return table.get(record_id) if record_id else None

    def _validated(self, object_type: str, properties: Mapping[str, Any], *, server: bool) -> dict[str, str | None]:
        values, problems = normalise(object_type, properties, server=server)
        owner = values.get(OWNER_PROPERTY)
        if owner is not None and not self.owners.assignable(owner):
            problems.append(Problem(OWNER_PROPERTY, "INVALID_OWNER_ID", f"{owner} is not a valid owner id"))
        if problems:
            raise invalid_properties(problems)
        return values

    def _check_unique(self, object_type: str, record_id: str | None, values: Mapping[str, str | None]) -> None:
        for prop in UNIQUE_PROPERTIES[object_type]:
            value = values.get(prop)
            if value is None:
                continue
            holder = self._unique[(object_type, prop)].by_value.get(_key(prop, value))
            if holder is not None and holder != record_id:
                raise _duplicate(object_type, prop, value, holder)

    def _apply(
        self, record: StoredObject, values: Mapping[str, str | None], ms: int, source: str, created: bool = False
    ) -> list[Change]:
        object_type = record.object_type
        changes: list[Change] = []
        for name, value in values.items():
            old = record.properties.get(name)
            if old == value:
                continue
            if name in UNIQUE_PROPERTIES[object_type]:
                index = self._unique[(object_type, name)].by_value
                if old is not None:
                    index.pop(_key(name, old), None)
                if value is not None:
                    index[_key(name, value)] = record.id
            if value is None:
                record.properties.pop(name, None)
            else:
                record.properties[name] = value
            changes.append(Change(object_type, record.id, "propertyChange", ms, source, name, value))
        self._calculate(record)
        if changes or created:
            # HubSpot stamps wall-clock milliseconds: two writes in one millisecond share a stamp.
            record.updated_ms = ms
            record.properties["hs_object_id"] = record.id
            record.properties["createdate"] = iso_ms(record.created_ms)
            record.properties["hs_lastmodifieddate"] = iso_ms(ms)
            if object_type == "contacts":
                record.properties["lastmodifieddate"] = iso_ms(ms)
        company = values.get("associatedcompanyid")
        if object_type == "contacts" and company and company in self._objects["companies"]:
            primary = PRIMARY_ASSOCIATION_TYPES[("contacts", "companies")]
            self.associate("contacts", record.id, "companies", company, (primary,))
        return changes

    @staticmethod
    def _calculate(record: StoredObject) -> None:
        # Line items: HubSpot calculates the net price from quantity, unit price and unit discount.
        if record.object_type != "line_items":
            return
        try:
            quantity = float(record.properties.get("quantity", "0"))
            price = float(record.properties.get("price", "0"))
            discount = float(record.properties.get("discount", "0"))
        except ValueError:
            return
        record.properties["amount"] = f"{quantity * (price - discount):.2f}"

    def _notify(self, changes: list[Change]) -> None:
        for listener in self._listeners:
            listener(changes)


def _duplicate(object_type: str, prop: str, value: str, holder: str) -> ApiError:
    if prop == "email":
        error = conflict(f"Contact already exists. Existing ID: {holder}")
        error.errors = [{"message": f"A contact with email {value} already exists. Existing ID: {holder}",
                         "in": "email"}]
        return error
    error = conflict(f'A {SINGULAR[object_type]} with {prop} "{value}" already exists. Existing ID: {holder}')
    error.errors = [{"message": error.message, "in": prop}]
    return error
