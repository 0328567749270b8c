"""API usage per connection: the figures the console shows next to each system."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from sync_core.domain.quota import ApiUsage
from sync_core.persistence import statements
from sync_core.persistence.tables import ApiUsage as ApiUsageRow

_USAGE = ApiUsageRow.__table__  # type: ignore[attr-defined]


def record_usage(session: Session, system: str, calls: int, usage: ApiUsage | None, now: datetime) -> None:
    """Add `calls` to the system's count and keep the quota figures it last reported."""
    statements.insert_ignore(session, _USAGE, [{"system": system, "calls": 0, "updated_at": now}], ["system"])
    values: dict[str, Any] = {"calls": _USAGE.c.calls + calls, "updated_at": now}
    if usage is not None:
        values.update(
            window_limit=usage.window_limit,
            window_remaining=usage.window_remaining,
            window_seconds=usage.window_seconds,
            daily_limit=usage.daily_limit,
            daily_remaining=usage.daily_remaining,
        )
    session.execute(update(_USAGE).where(_USAGE.c.system == system).values(**values))
