"""What crosses the connector seam: records read from a system, writes sent to it, results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sync_core.domain.errors import SyncError


@dataclass(frozen=True)
class SourceRecord:
    """One record as a system holds it now, in that system's own field names."""

    external_id: str
    fields: Mapping[str, Any]
    version: str
    modified_at: datetime
    # Per-field modification times when the system knows them; fields missing here
    # count as modified at `modified_at` when their value changed.
    field_times: Mapping[str, datetime] = field(default_factory=dict)
    # The canonical id Revline stored on the record when it wrote it (an external-id
    # field in the vendor), so a record read back before its link is recorded still
    # resolves to the same canonical record.
    canonical_id: str | None = None
    # True when the system says Revline's own integration user made the latest change (HubSpot's
    # change source INTEGRATION, Salesforce's LastModifiedById): such a record is an echo.
    last_written_by_revline: bool = False
    deleted: bool = False
    # The record this one took over from in the same system (a Salesforce lead converted into
    # this contact): Revline's link moves from that record to this one, history and all.
    replaces: str | None = None


@dataclass(frozen=True)
class ChangePage:
    """A page of changed records and the cursor to resume after them."""

    records: tuple[SourceRecord, ...]
    cursor: str | None
    has_more: bool = False


@dataclass(frozen=True)
class ScanPage:
    """A page of a whole-table scan in the system's id order; `after` resumes it (None: the end)."""

    records: tuple[SourceRecord, ...]
    after: str | None


@dataclass(frozen=True)
class WriteRequest:
    """An upsert of `fields` (vendor names) keyed on the canonical id Revline gave the record."""

    canonical_id: str
    external_id: str | None
    fields: Mapping[str, Any]
    idempotency_keys: tuple[str, ...]


@dataclass(frozen=True)
class WriteResult:
    """The outcome of one WriteRequest; `error` is set exactly when the write failed."""

    canonical_id: str
    external_id: str | None = None
    version: str | None = None
    created: bool = False
    error: SyncError | None = None
    # Fields the system filled in itself, in its own names (its id for the new record, say), so
    # they reach the other systems without reading the record back.
    filled: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class ChangeNotice:
    """A system's word (a webhook) that one record changed; `dedupe_key` names the change, not the delivery."""

    system: str
    object_type: str
    external_id: str
    dedupe_key: str
    payload: Mapping[str, Any] = field(default_factory=dict)
