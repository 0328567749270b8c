"""The sandbox's clock: business time running at a pace (1 = the wall clock's), stepped by the control API."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """Business time, timezone-aware UTC. `pace` business seconds pass per real second (0: stopped)."""

    def __init__(self, pace: float = 1.0, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._anchor = start or datetime.now(UTC)
        self._anchored_at = time.monotonic()
        self._pace = pace

    def now(self) -> datetime:
        with self._lock:
            return self._now()

    def _now(self) -> datetime:
        return self._anchor + timedelta(seconds=(time.monotonic() - self._anchored_at) * self._pace)

    @property
    def pace(self) -> float:
        return self._pace

    def set_pace(self, pace: float) -> None:
        """Run at `pace` from now on, without a jump."""
        if pace < 0:
            raise ValueError("pace must be >= 0")
        with self._lock:
            self._anchor, self._anchored_at, self._pace = self._now(), time.monotonic(), pace

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._anchor += timedelta(seconds=seconds)
            return self._now()

    def set(self, moment: datetime) -> None:
        """Jump to `moment` (timezone-aware)."""
        with self._lock:
            self._anchor, self._anchored_at = moment.astimezone(UTC), time.monotonic()

    def reset(self, pace: float = 1.0) -> None:
        """Back to the wall clock at `pace`."""
        with self._lock:
            self._anchor, self._anchored_at, self._pace = datetime.now(UTC), time.monotonic(), pace
