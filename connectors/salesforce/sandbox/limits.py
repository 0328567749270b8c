"""The org's rolling 24-hour API request allocation, reported in Sforce-Limit-Info and the limits resource."""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from sync_core.ports import Clock

# Developer Edition's allocation; Enterprise orgs get 100,000 plus 1,000 per licence.
# https://developer.salesforce.com/docs/atlas.en-us.salesforce_app_limits_cheatsheet.meta/salesforce_app_limits_cheatsheet/salesforce_app_limits_platform_api.htm
DEFAULT_DAILY_REQUESTS = 15_000
WINDOW = timedelta(hours=24)


class DailyAllocation:
    """Counts API requests over the last 24 hours; once `maximum` are used, requests are refused."""

    def __init__(self, clock: Clock, maximum: int = DEFAULT_DAILY_REQUESTS) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: deque[datetime] = deque()
        self.maximum = maximum

    def _expire(self, now: datetime) -> None:
        while self._calls and self._calls[0] <= now - WINDOW:
            self._calls.popleft()

    def used(self) -> int:
        with self._lock:
            self._expire(self._clock.now())
            return len(self._calls)

    def consume(self) -> bool:
        """Count one request; False (nothing counted) when the allocation is spent."""
        now = self._clock.now()
        with self._lock:
            self._expire(now)
            if len(self._calls) >= self.maximum:
                return False
            self._calls.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()

    def header(self) -> str:
        """The Sforce-Limit-Info value every REST response carries."""
        return f"api-usage={self.used()}/{self.maximum}"

    def resource(self) -> dict[str, Any]:
        """The body of GET /limits/ (the parts a connector looks at, and a few neighbours)."""
        used = self.used()
        return {
            "DailyApiRequests": {"Max": self.maximum, "Remaining": max(0, self.maximum - used)},
            "DailyBulkApiBatches": {"Max": 15_000, "Remaining": 15_000},
            "DailyBulkV2QueryJobs": {"Max": 10_000, "Remaining": 10_000},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976_562, "Remaining": 976_562},
            "DataStorageMB": {"Max": 5, "Remaining": 5},
            "FileStorageMB": {"Max": 20, "Remaining": 20},
            "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
            "HourlyODataCallout": {"Max": 10_000, "Remaining": 10_000},
        }
