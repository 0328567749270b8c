"""Records in memory, thread-safe, with indexes on keys and lookups and an undo journal for all-or-none requests."""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from connectors.salesforce.sandbox.ids import make_id
from connectors.salesforce.sandbox.schema import SOBJECTS, sobject_of_id


@dataclass(frozen=True)
class Record:
    """One stored record; never changed in place, so the journal can keep the previous one."""

    sobject: str
    values: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.values["Id"])

    @property
    def deleted(self) -> bool:
        return bool(self.values.get("IsDeleted"))


def _key(value: Any, case_sensitive: bool) -> Any:
    return value if case_sensitive or not isinstance(value, str) else value.lower()


class Transaction:
    """What a request changed, so an all-or-none request can take it back."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.undo: list[tuple[str, str, Record | None]] = []

    def rollback(self) -> None:
        for sobject, record_id, previous in reversed(self.undo):
            self._store._restore(sobject, record_id, previous)
        self.undo.clear()


class Store:
    """Every record of every sObject, deleted ones included (they stay in the recycle bin)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._tables: dict[str, dict[str, Record]] = {name: {} for name in SOBJECTS}
        self._numbers = itertools.count(1)
        # (sobject, field) -> key -> ids, for unique fields, external ids and lookups
        self._indexes: dict[tuple[str, str], dict[Any, set[str]]] = {}
        self._indexed = {
            name: tuple((f.name, f.case_sensitive) for f in t.fields if f.unique or f.external_id or f.reference_to)
            for name, t in SOBJECTS.items()
        }
        # sobject -> its ids, sorted (deleted ones too): a query on Id ranges or lists starts here, not at every row.
        # Ids are made in creation order (ids.make_id counts up), so Id order is also creation order.
        self._ids: dict[str, list[str]] = {name: [] for name in SOBJECTS}
        self._tx: Transaction | None = None

    def clear(self) -> None:
        with self.lock:
            for table in self._tables.values():
                table.clear()
            for ids in self._ids.values():
                ids.clear()
            self._indexes.clear()
            self._numbers = itertools.count(1)

    def new_id(self, sobject: str) -> str:
        with self.lock:
            return make_id(SOBJECTS[sobject].key_prefix, next(self._numbers))

    def get(self, record_id: str, include_deleted: bool = False) -> Record | None:
        """The record with this (18-character) id, whatever its sObject."""
        t = sobject_of_id(record_id)
        if t is None:
            return None
        with self.lock:
            record = self._tables[t.name].get(record_id)
        if record is None or (record.deleted and not include_deleted):
            return None
        return record

    def rows(self, sobject: str, include_deleted: bool = False) -> list[Record]:
        """The records of `sobject` in creation order."""
        with self.lock:
            return [r for r in self._tables[sobject].values() if include_deleted or not r.deleted]

    def rows_by_id(
        self, sobject: str, after: str | None = None, inclusive: bool = False, include_deleted: bool = False
    ) -> Iterator[Record]:
        """The records of `sobject` in Id order, from the first Id above `after` (or equal, when `inclusive`)."""
        with self.lock:
            ids = self._ids[sobject]
            start = 0 if after is None else (bisect.bisect_left if inclusive else bisect.bisect_right)(ids, after)
            chosen = ids[start:]
        table = self._tables[sobject]
        for record_id in chosen:
            record = table.get(record_id)
            if record is not None and (include_deleted or not record.deleted):
                yield record

    def rows_with_ids(self, sobject: str, ids: Collection[str], include_deleted: bool = False) -> list[Record]:
        """The records of `sobject` among `ids`, in Id order."""
        with self.lock:
            table = self._tables[sobject]
            found = [table[i] for i in sorted(ids) if i in table]
        return [r for r in found if include_deleted or not r.deleted]

    def find(self, sobject: str, field: str, value: Any) -> list[Record]:
        """Live records whose indexed `field` equals `value` (case-insensitively unless the field is case-sensitive)."""
        case_sensitive = dict(self._indexed[sobject]).get(field)
        if case_sensitive is None:
            raise KeyError(f"{sobject}.{field} is not indexed")
        with self.lock:
            ids = self._indexes.get((sobject, field), {}).get(_key(value, case_sensitive), set())
            found = [self._tables[sobject][i] for i in ids]
        return sorted((r for r in found if not r.deleted), key=lambda r: r.id)

    def put(self, record: Record) -> None:
        """Insert or replace `record`, journaled when inside `atomic()`."""
        with self.lock:
            previous = self._tables[record.sobject].get(record.id)
            if self._tx is not None:
                self._tx.undo.append((record.sobject, record.id, previous))
            self._restore(record.sobject, record.id, record)

    def _restore(self, sobject: str, record_id: str, record: Record | None) -> None:
        table = self._tables[sobject]
        previous = table.get(record_id)
        for name, case_sensitive in self._indexed[sobject]:
            index = self._indexes.setdefault((sobject, name), {})
            if previous is not None and previous.values.get(name) is not None:
                index.get(_key(previous.values[name], case_sensitive), set()).discard(record_id)
            if record is not None and record.values.get(name) is not None:
                index.setdefault(_key(record.values[name], case_sensitive), set()).add(record_id)
        ids = self._ids[sobject]
        if record is None:
            if table.pop(record_id, None) is not None:
                at = bisect.bisect_left(ids, record_id)
                if at < len(ids) and ids[at] == record_id:
                    del ids[at]
        else:
            if previous is None:
                if not ids or ids[-1] < record_id:
                    ids.append(record_id)
                else:
                    bisect.insort(ids, record_id)
            table[record_id] = record

    @contextmanager
    def atomic(self) -> Iterator[Transaction]:
        """Hold the lock for a whole request; everything put meanwhile can be rolled back."""
        with self.lock:
            if self._tx is not None:  # nested: the outermost request decides
                yield self._tx
                return
            tx = self._tx = Transaction(self)
            try:
                yield tx
            except BaseException:
                tx.rollback()
                raise
            finally:
                self._tx = None

    def count(self, sobject: str) -> int:
        with self.lock:
            return sum(1 for r in self._tables[sobject].values() if not r.deleted)
