"""API calls a connector made: in all, and by each thread, so a lane counts its own when threads share one."""

from __future__ import annotations

import threading


class ApiCalls:
    """A connector's call counter. Lane threads of one worker share their connectors; a lane's share of the
    calls is what its own thread made (`in_thread`), not the change in the total, which other lanes move too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0
        self._mine = threading.local()

    def add(self, count: int = 1) -> None:
        """Count calls the calling thread made."""
        with self._lock:
            self._total += count
        self._mine.count = getattr(self._mine, "count", 0) + count

    @property
    def total(self) -> int:
        return self._total

    @property
    def in_thread(self) -> int:
        """The calls the calling thread made."""
        count: int = getattr(self._mine, "count", 0)
        return count
