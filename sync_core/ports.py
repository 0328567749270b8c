"""The seam between the engine and the outside world: Connector and Clock protocols."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sync_core.domain.changes import ChangePage, ScanPage, SourceRecord, WriteRequest, WriteResult
from sync_core.domain.quota import ApiUsage


class Connector(Protocol):
    """One external system, spoken to in canonical seam types.

    Every method raises only `RetryableError` or `PermanentError`; anything else is a bug
    in the connector and is dead-lettered as `unexpected`.
    """

    system: str
    max_batch_size: int

    @property
    def api_calls(self) -> int:
        """How many API calls this connector has made since it was built."""
        ...

    @property
    def api_calls_in_thread(self) -> int:
        """How many of them the calling thread made: a lane's own calls, when lane threads share the connector."""
        ...

    def usage(self) -> ApiUsage | None:
        """The quota the system reported on its last response (None: it reports none)."""
        ...

    def check(self) -> None:
        """Raise if the system cannot be reached or the credentials are refused."""

    def read_changes(self, object_type: str, cursor: str | None, limit: int) -> ChangePage:
        """Records changed since `cursor` (None: from the beginning), oldest first."""
        ...

    def read(self, object_type: str, ids: Sequence[str]) -> list[SourceRecord]:
        """The current state of the given records; missing ids are left out."""
        ...

    def scan(self, object_type: str, after: str | None, limit: int) -> ScanPage:
        """Every live record of the type in the system's id order, starting after the position `after`
        (None: from the first); the page's `after` resumes the scan, None when it is done. The connector
        may return fewer than `limit` (its own page maximum) and pages at its own maximum when `limit` is larger."""
        ...

    def write_batch(self, object_type: str, writes: Sequence[WriteRequest]) -> list[WriteResult]:
        """Upsert up to `max_batch_size` records, one result per request, in order."""
        ...


class Clock(Protocol):
    """Where the engine gets the time from, so tests can freeze it."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...
