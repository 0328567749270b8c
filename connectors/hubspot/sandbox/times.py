"""HubSpot's time formats: epoch milliseconds on the wire inside, ISO 8601 with a `Z` outside."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from functools import lru_cache


def now_ms() -> int:
    """The wall clock in epoch milliseconds, as HubSpot stamps `hs_lastmodifieddate`."""
    return time.time_ns() // 1_000_000


def iso_ms(ms: int) -> str:
    """`2024-05-01T12:00:00.123Z`: the form HubSpot uses for createdAt, updatedAt and datetime properties."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@lru_cache(maxsize=65536)
def parse_ms(value: str) -> int | None:
    """Epoch milliseconds from `1714564800000`, `2024-05-01T12:00:00Z`/`...123Z`/`+00:00` or `2024-05-01`."""
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)
