"""HubSpot's API limits: a rolling ten-second window and a daily count per tier, and search's own limit."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime


@dataclass(frozen=True)
class Limits:
    """Requests allowed per rolling interval and per day."""

    per_interval: int
    interval_ms: int
    daily: int


# https://developers.hubspot.com/docs/api/usage-details#rate-limits (private apps, per account)
TIERS: dict[str, Limits] = {
    "starter": Limits(100, 10_000, 250_000),
    "professional": Limits(190, 10_000, 625_000),
    "enterprise": Limits(190, 10_000, 1_000_000),
}

# The search endpoints allow about five requests per second per account and send no limit headers.
SEARCH_PER_SECOND = 5


@dataclass(frozen=True)
class Verdict:
    """Whether a request may proceed, which policy refused it, and the headers to answer with."""

    allowed: bool
    policy: str | None
    headers: dict[str, str]


class RateLimiter:
    """Counts requests in the rolling window and the current (UTC) day."""

    def __init__(
        self,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._today = today
        self._lock = threading.Lock()
        self._window: deque[float] = deque()
        self._day = today()
        self._daily_used = 0

    def admit(self) -> Verdict:
        """Count one request if the limits allow it."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            if self._daily_used >= self.limits.daily:
                return Verdict(False, "DAILY", self._headers())
            if len(self._window) >= self.limits.per_interval:
                return Verdict(False, "TEN_SECONDLY_ROLLING", self._headers())
            self._window.append(now)
            self._daily_used += 1
            return Verdict(True, None, self._headers())

    def _expire(self, now: float) -> None:
        horizon = now - self.limits.interval_ms / 1000
        while self._window and self._window[0] <= horizon:
            self._window.popleft()
        today = self._today()
        if today != self._day:
            self._day, self._daily_used = today, 0

    def _headers(self) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Max": str(self.limits.per_interval),
            "X-HubSpot-RateLimit-Remaining": str(max(0, self.limits.per_interval - len(self._window))),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(self.limits.interval_ms),
            "X-HubSpot-RateLimit-Daily": str(self.limits.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.limits.daily - self._daily_used)),
        }


class SearchLimiter:
    """At most `per_second` search requests in any one-second window (0: unlimited)."""

    def __init__(self, per_second: int = SEARCH_PER_SECOND, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self._clock = clock
        self._lock = threading.Lock()
        self._window: deque[float] = deque()

    def admit(self) -> bool:
        if self.per_second <= 0:
            return True
        with self._lock:
            now = self._clock()
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            if len(self._window) >= self.per_second:
                return False
            self._window.append(now)
            return True
