"""Fakes shipped with the product: an in-memory system and its connector, and a frozen clock.

`InMemorySystem` holds records the way a CRM would (ids it assigns, a change feed, upserts
keyed on the canonical id Revline gives each record) and logs every write it applies, so
tests can count effects. Scripted failures make it fail whole calls or single records.
Several worker processes can share systems through `serve_systems` / `connect_systems`.
"""

from __future__ import annotations

import bisect
import itertools
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing import connection, managers
from multiprocessing.managers import BaseManager
from typing import Any

from sync_core.api_calls import ApiCalls
from sync_core.domain.changes import ChangePage, ScanPage, SourceRecord, WriteRequest, WriteResult
from sync_core.domain.errors import SyncError
from sync_core.domain.quota import ApiUsage


class FrozenClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class _Stored:
    external_id: str
    canonical_id: str | None
    fields: dict[str, Any]
    field_times: dict[str, datetime]
    version: int
    modified_at: datetime
    seq: int
    by_revline: bool = False


@dataclass(frozen=True)
class AppliedWrite:
    """One write the system applied: which keys asked for it and what it changed."""

    object_type: str
    external_id: str
    canonical_id: str
    idempotency_keys: tuple[str, ...]
    fields: Mapping[str, Any]
    created: bool


@dataclass
class _RecordFault:
    field: str
    value: Any
    error: SyncError
    remaining: int  # -1: for ever


@dataclass
class InMemorySystem:
    """A thread-safe, in-memory stand-in for HubSpot, Salesforce or the ERP."""

    name: str
    clock: Any = field(default_factory=SystemClock)
    _records: dict[str, dict[str, _Stored]] = field(default_factory=dict)
    _by_canonical: dict[str, dict[str, str]] = field(default_factory=dict)
    # The change feed per object type: (seq, external id) in seq order; an entry whose record has
    # changed since (a later seq) is stale and skipped. Reading a page costs the page, not the table.
    _feed: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _call_faults: list[tuple[str | None, Exception]] = field(default_factory=list)
    _record_faults: list[_RecordFault] = field(default_factory=list)
    applied: list[AppliedWrite] = field(default_factory=list)
    calls: int = 0
    write_delay: float = 0.0  # seconds each write call takes after applying (a slow API)

    # -- what people do in the system ---------------------------------------------------------

    def put(self, object_type: str, fields: Mapping[str, Any], external_id: str | None = None) -> str:
        """Create or change a record as a user of the system would; returns its id."""
        with self._lock:
            return self._store(object_type, external_id, None, dict(fields)).external_id

    def put_many(self, object_type: str, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        with self._lock:
            return [self._store(object_type, None, None, dict(row)).external_id for row in rows]

    def get(self, object_type: str, external_id: str) -> dict[str, Any] | None:
        with self._lock:
            stored = self._records.get(object_type, {}).get(external_id)
            return dict(stored.fields) if stored else None

    def count(self, object_type: str) -> int:
        with self._lock:
            return len(self._records.get(object_type, {}))

    def all(self, object_type: str) -> dict[str, dict[str, Any]]:
        """Every record of `object_type`: external id -> fields."""
        with self._lock:
            return {k: dict(v.fields) for k, v in self._records.get(object_type, {}).items()}

    def canonical_ids(self, object_type: str) -> dict[str, str]:
        """canonical id -> external id for records Revline wrote or linked by upsert."""
        with self._lock:
            return dict(self._by_canonical.get(object_type, {}))

    def applied_writes(self) -> list[AppliedWrite]:
        with self._lock:
            return list(self.applied)

    def call_count(self) -> int:
        with self._lock:
            return self.calls

    # -- scripted failures --------------------------------------------------------------------

    def fail_next_calls(self, count: int, error: Exception, method: str | None = None) -> None:
        """The next `count` API calls (of `method`: changes, read or upsert; None: any) raise `error`."""
        with self._lock:
            self._call_faults.extend([(method, error)] * count)

    def fail_records(self, field_name: str, value: Any, error: SyncError, times: int = -1) -> None:
        """Writes whose `field_name` equals `value` fail with `error` (`times` times, -1: always)."""
        with self._lock:
            self._record_faults.append(_RecordFault(field_name, value, error, times))

    def slow_writes(self, seconds: float) -> None:
        """Each write call applies its records, then takes `seconds` to answer."""
        self.write_delay = seconds

    def clear_faults(self) -> None:
        with self._lock:
            self._call_faults.clear()
            self._record_faults.clear()

    # -- the API the connector calls ----------------------------------------------------------

    def changes(self, object_type: str, after: int, limit: int) -> tuple[list[SourceRecord], int, bool]:
        with self._lock:
            self._call("changes")
            table = self._records.get(object_type, {})
            feed = self._feed.get(object_type, [])
            page: list[_Stored] = []
            has_more = False
            for index in range(bisect.bisect_right(feed, after, key=lambda entry: entry[0]), len(feed)):
                seq, external_id = feed[index]
                stored = table.get(external_id)
                if stored is None or stored.seq != seq:
                    continue  # changed again since (a later entry has it), or deleted
                if len(page) == limit:
                    has_more = True
                    break
                page.append(stored)
            cursor = page[-1].seq if page else after
            return [self._source(s) for s in page], cursor, has_more

    def scan(self, object_type: str, after: str | None, limit: int) -> tuple[list[SourceRecord], str | None]:
        """Live records in id order (ids compare by their number), `limit` after the id `after`."""
        with self._lock:
            self._call("scan")
            table = self._records.get(object_type, {})
            order = sorted(table, key=_id_order)
            start = 0 if after is None else bisect.bisect_right(order, _id_order(after), key=_id_order)
            page = order[start:start + limit]
            more = start + limit < len(order)
            return [self._source(table[i]) for i in page], (page[-1] if page and more else None)

    def delete(self, object_type: str, external_id: str) -> None:
        """Remove a record, as a person deleting it in the system would."""
        with self._lock:
            stored = self._records.get(object_type, {}).pop(external_id)
            if stored.canonical_id is not None:
                self._by_canonical.get(object_type, {}).pop(stored.canonical_id, None)

    def read(self, object_type: str, ids: Sequence[str]) -> list[SourceRecord]:
        with self._lock:
            self._call("read")
            table = self._records.get(object_type, {})
            return [self._source(table[i]) for i in ids if i in table]

    def upsert(self, object_type: str, writes: Sequence[WriteRequest]) -> list[WriteResult]:
        results = self._upsert(object_type, writes)
        if self.write_delay:
            time.sleep(self.write_delay)
        return results

    def _upsert(self, object_type: str, writes: Sequence[WriteRequest]) -> list[WriteResult]:
        with self._lock:
            self._call("upsert")
            results = []
            for write in writes:
                fault = self._record_fault(write.fields)
                if fault is not None:
                    results.append(WriteResult(write.canonical_id, error=fault))
                    continue
                known = self._by_canonical.get(object_type, {}).get(write.canonical_id)
                external_id = known or write.external_id
                created = external_id is None or external_id not in self._records.get(object_type, {})
                stored = self._store(object_type, external_id, write.canonical_id, dict(write.fields))
                self.applied.append(
                    AppliedWrite(
                        object_type,
                        stored.external_id,
                        write.canonical_id,
                        write.idempotency_keys,
                        dict(write.fields),
                        created,
                    )
                )
                results.append(
                    WriteResult(write.canonical_id, stored.external_id, str(stored.version), created)
                )
            return results

    # -- internals ----------------------------------------------------------------------------

    def _call(self, method: str) -> None:
        self.calls += 1
        for index, (only, error) in enumerate(self._call_faults):
            if only in (None, method):
                del self._call_faults[index]
                raise error

    def _record_fault(self, fields: Mapping[str, Any]) -> SyncError | None:
        for fault in self._record_faults:
            if fault.remaining != 0 and fields.get(fault.field) == fault.value:
                if fault.remaining > 0:
                    fault.remaining -= 1
                return fault.error
        return None

    def _store(
        self, object_type: str, external_id: str | None, canonical_id: str | None, fields: dict[str, Any]
    ) -> _Stored:
        table = self._records.setdefault(object_type, {})
        now = self.clock.now()
        stored = table.get(external_id) if external_id else None
        if stored is None:
            external_id = external_id or f"{self.name[:2]}-{next(self._ids)}"
            stored = table[external_id] = _Stored(external_id, None, {}, {}, 0, now, 0)
        for key, value in fields.items():
            if stored.fields.get(key, _MISSING) != value:
                stored.field_times[key] = now
            stored.fields[key] = value
        if canonical_id is not None:
            stored.canonical_id = canonical_id
            self._by_canonical.setdefault(object_type, {})[canonical_id] = stored.external_id
        stored.version += 1
        stored.modified_at = now
        stored.seq = next(self._seq)
        self._feed.setdefault(object_type, []).append((stored.seq, stored.external_id))
        stored.by_revline = canonical_id is not None
        return stored

    @staticmethod
    def _source(stored: _Stored) -> SourceRecord:
        return SourceRecord(
            external_id=stored.external_id,
            fields=dict(stored.fields),
            version=str(stored.version),
            modified_at=stored.modified_at,
            field_times=dict(stored.field_times),
            canonical_id=stored.canonical_id,
            last_written_by_revline=stored.by_revline,
        )


_MISSING = object()


def _id_order(external_id: str) -> tuple[str, int]:
    prefix, _, number = external_id.rpartition("-")
    return (prefix, int(number)) if number.isdigit() else (external_id, -1)


class InMemoryConnector:
    """The Connector port over an InMemorySystem (or a proxy to one in another process)."""

    def __init__(self, system: InMemorySystem, max_batch_size: int = 100, name: str | None = None) -> None:
        self._system = system
        self.system = name or system.name
        self.max_batch_size = max_batch_size
        self._calls = ApiCalls()

    @property
    def api_calls(self) -> int:
        return self._calls.total

    @property
    def api_calls_in_thread(self) -> int:
        return self._calls.in_thread

    def usage(self) -> ApiUsage | None:
        return None  # in-memory systems have no quota

    def check(self) -> None:
        self._calls.add()

    def read_changes(self, object_type: str, cursor: str | None, limit: int) -> ChangePage:
        self._calls.add()
        records, last, has_more = self._system.changes(object_type, int(cursor or 0), limit)
        return ChangePage(tuple(records), str(last), has_more)

    def scan(self, object_type: str, after: str | None, limit: int) -> ScanPage:
        self._calls.add()
        records, last = self._system.scan(object_type, after, limit)
        return ScanPage(tuple(records), last)

    def read(self, object_type: str, ids: Sequence[str]) -> list[SourceRecord]:
        self._calls.add()
        return self._system.read(object_type, list(ids))

    def write_batch(self, object_type: str, writes: Sequence[WriteRequest]) -> list[WriteResult]:
        self._calls.add()
        return self._system.upsert(object_type, list(writes))


# -- sharing systems between processes ---------------------------------------------------------


def _no_delay(conn: connection.Connection) -> connection.Connection:
    """Send small writes at once on a TCP connection (TCP_NODELAY).

    A message over 16 KiB goes out as a header, then the body; with Nagle's algorithm on, the
    body's tail waits for the peer's delayed ACK (about 40 ms on Linux) on every large call.
    """
    with socket.socket(fileno=os.dup(conn.fileno())) as sock:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


class _Listener(connection.Listener):
    def accept(self) -> connection.Connection:
        return _no_delay(super().accept())


def _client(address: Any, family: str | None = None, authkey: bytes | None = None) -> connection.Connection:
    return _no_delay(connection.Client(address, family, authkey))


# The manager looks its transport up by serializer name, in the server process and in every proxy.
_SERIALIZER = "pickle-nodelay"
managers.listener_client[_SERIALIZER] = (_Listener, _client)  # type: ignore[attr-defined]


class SystemsManager(BaseManager):
    """Serves InMemorySystems to other processes (worker processes in tests and the demo)."""


_served: dict[str, InMemorySystem] = {}


def _get_system(name: str) -> InMemorySystem:
    return _served.setdefault(name, InMemorySystem(name))


SystemsManager.register("system", callable=_get_system)


def serve_systems(address: tuple[str, int] = ("127.0.0.1", 0), authkey: bytes = b"revline") -> SystemsManager:
    """Start a server process holding shared systems; `manager.address` tells where it listens."""
    manager = SystemsManager(address=address, authkey=authkey, serializer=_SERIALIZER)
    manager.start()
    return manager


def connect_systems(address: tuple[str, int], authkey: bytes = b"revline") -> Callable[[str], InMemorySystem]:
    """A function returning a proxy to the shared system of a given name."""
    manager = SystemsManager(address=address, authkey=authkey, serializer=_SERIALIZER)
    manager.connect()
    return manager.system  # type: ignore[attr-defined, no-any-return]
