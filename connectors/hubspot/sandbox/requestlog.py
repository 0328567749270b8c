"""The request log: every CRM API call the sandbox answered, counted per endpoint for tests and benchmarks."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from connectors.hubspot.sandbox.times import iso_ms


@dataclass(frozen=True)
class LoggedRequest:
    at_ms: int
    method: str
    path: str
    endpoint: str  # e.g. "POST /crm/v3/objects/contacts/batch/upsert", ids left as {objectId}
    status: int
    duration_ms: float

    def to_json(self) -> dict[str, Any]:
        return {"at": iso_ms(self.at_ms), "method": self.method, "path": self.path, "endpoint": self.endpoint,
                "status": self.status, "durationMs": round(self.duration_ms, 2)}


class RequestLog:
    """Counts are kept for ever (until cleared); only the latest `keep` requests are kept in full."""

    def __init__(self, keep: int = 5000) -> None:
        self._lock = threading.Lock()
        self._recent: deque[LoggedRequest] = deque(maxlen=keep)
        self._by_endpoint: Counter[str] = Counter()
        self._by_status: Counter[int] = Counter()
        self._cleared_at = time.monotonic()

    def record(self, entry: LoggedRequest, arrived: float) -> None:
        """Count a request answered now; `arrived` (time.monotonic) is when it came in."""
        with self._lock:
            if arrived < self._cleared_at:
                return  # it came in before the log was cleared (a slow answer): it belongs to the old log
            self._recent.append(entry)
            self._by_endpoint[entry.endpoint] += 1
            self._by_status[entry.status] += 1

    def clear(self) -> None:
        with self._lock:
            self._cleared_at = time.monotonic()
            self._recent.clear()
            self._by_endpoint.clear()
            self._by_status.clear()

    def to_json(self, limit: int = 100) -> dict[str, Any]:
        with self._lock:
            recent = list(self._recent)[-limit:] if limit > 0 else []
            return {
                "total": sum(self._by_endpoint.values()),
                "byEndpoint": dict(sorted(self._by_endpoint.items())),
                "byStatus": {str(k): v for k, v in sorted(self._by_status.items())},
                "requests": [r.to_json() for r in recent],
            }
