"""The log of requests the sandbox served, with counts per endpoint: benchmarks and tests count API calls with it."""

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
    endpoint: str
    status: int
    counted: bool  # counted against the daily API allocation
    user: str | None


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque[Entry] = deque(maxlen=_KEPT)
        self._counts: Counter[str] = Counter()
        self._total = 0
        self._api_calls = 0
        self.generation = 0  # moves on at each clear

    def add(self, entry: Entry, generation: int | None = None) -> None:
        """Log a request; one that arrived before the last clear (`generation` then) is not counted after it."""
        with self._lock:
            if generation is not None and generation != self.generation:
                return
            self._entries.append(entry)
            self._counts[entry.endpoint] += 1
            self._total += 1
            self._api_calls += int(entry.counted)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()
            self._counts.clear()
            self._total = self._api_calls = 0

    def snapshot(self, limit: int = 100) -> dict[str, Any]:
        """Totals, counts per endpoint, and the latest `limit` entries (oldest first)."""
        with self._lock:
            latest = list(self._entries)[-limit:] if limit > 0 else []
            return {
                "total": self._total,
                "api_calls": self._api_calls,
                "counts": dict(sorted(self._counts.items())),
                "requests": [asdict(e) for e in latest],
            }
