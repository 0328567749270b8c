"""The log of requests the sandbox served, with counts per endpoint: tests and benchmarks count API calls with it."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any

_KEPT = 10_000  # entries kept for inspection; the counts cover every request


@dataclass(frozen=True)
class Entry:
    at: str
    method: str
    path: str
    # "POST /json/2/sale.order/create", "POST /jsonrpc object.execute_kw sale.order.create", "GET /web/version"
    endpoint: str
    status: int
    error: str | None  # the Odoo exception's name, when the call failed


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque[Entry] = deque(maxlen=_KEPT)
        self._counts: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._total = 0

    def add(self, entry: Entry) -> None:
        with self._lock:
            self._entries.append(entry)
            self._counts[entry.endpoint] += 1
            if entry.error:
                self._errors[entry.error] += 1
            self._total += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._counts.clear()
            self._errors.clear()
            self._total = 0

    def snapshot(self, limit: int = 100) -> dict[str, Any]:
        """Totals, counts per endpoint and per error, and the latest `limit` entries (oldest first)."""
        with self._lock:
            latest = list(self._entries)[-limit:] if limit > 0 else []
            return {
                "total": self._total,
                "counts": dict(sorted(self._counts.items())),
                "errors": dict(sorted(self._errors.items())),
                "requests": [asdict(e) for e in latest],
            }
