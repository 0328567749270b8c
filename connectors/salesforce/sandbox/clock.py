"""The sandbox's clock: the wall clock, shifted or frozen through the control API."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """UTC wall time plus an offset, or a frozen instant; tests share it with the connector."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        with self._lock:
            base = self._frozen if self._frozen is not None else datetime.now(UTC)
            return base + self._offset

    def advance(self, seconds: float) -> datetime:
        """Move time forward (or back, if negative) by `seconds`."""
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    def freeze(self, at: datetime | None = None) -> datetime:
        """Stop the clock at `at` (default: now); it then moves only through `advance`."""
        current = at or self.now()
        with self._lock:
            self._frozen, self._offset = current, timedelta(0)
        return current

    def unfreeze(self) -> datetime:
        """Run with the wall clock again, keeping no offset."""
        with self._lock:
            self._frozen, self._offset = None, timedelta(0)
        return self.now()

    @property
    def frozen(self) -> bool:
        return self._frozen is not None
