"""The ticker: APScheduler 3 in each worker process, a tick row per firing so N workers fire once.

Every worker runs the same schedules with an in-memory job store. A firing inserts a
`tick` row unique on (schedule, fire_at); only the worker whose insert lands runs the
action, so a schedule fires once however many workers run. Fire times are rounded to the
schedule's interval, so every process names the same firing the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from sync_core.persistence import lanes, statements
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import Tick
from sync_core.services import reconciliation

log = logging.getLogger(__name__)

_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Schedule:
    """A named action run every `seconds`, once across all workers."""

    name: str
    seconds: float
    action: Callable[[Session, datetime], None]


def fire_time(seconds: float, now: datetime) -> datetime:
    """The firing `now` belongs to: the nearest multiple of the interval since a fixed epoch."""
    steps = round((now - _EPOCH).total_seconds() / seconds)
    return datetime.fromtimestamp(_EPOCH.timestamp() + steps * seconds, UTC)


def fire(engine: Engine, schedule: Schedule, worker: str, now: datetime | None = None) -> bool:
    """Claim this firing of `schedule` and run its action; False when another worker has it."""
    fire_at = fire_time(schedule.seconds, now or datetime.now(UTC))
    with transaction(engine) as session:
        row = {"schedule": schedule.name, "fire_at": fire_at, "worker_id": worker, "created_at": fire_at}
        if not statements.insert_returning_new(session, Tick.__table__, row, ["schedule", "fire_at"]):  # type: ignore[attr-defined]
            return False
        schedule.action(session, fire_at)
    return True


def _poll(session: Session, _at: datetime) -> None:
    lanes.mark_all_due(session, lanes.INBOUND)


def _drain(session: Session, _at: datetime) -> None:
    lanes.mark_all_due(session, lanes.OUTBOUND)


def default_schedules(
    poll_seconds: float, reconcile_seconds: float = 300.0, full_reconcile_seconds: float = 86_400.0
) -> list[Schedule]:
    """Poll every inbound lane; sweep outbound lanes so retries and orphaned ops are sent; reconcile
    what changed every few minutes and everything nightly (at midnight UTC: fire times count from it)."""
    return [
        Schedule("poll", poll_seconds, _poll),
        Schedule("drain", max(poll_seconds, 5.0), _drain),
        Schedule("reconcile", reconcile_seconds, reconciliation.scheduled(reconciliation.INCREMENTAL)),
        Schedule("reconcile-full", full_reconcile_seconds, reconciliation.scheduled(reconciliation.FULL)),
    ]


class Ticker:
    """An APScheduler background scheduler firing `schedules` through tick rows."""

    def __init__(self, engine: Engine, schedules: Sequence[Schedule], worker: str) -> None:
        self.engine = engine
        self.worker = worker
        self.scheduler = BackgroundScheduler(timezone=UTC)
        for schedule in schedules:
            self.scheduler.add_job(
                self._fire,
                IntervalTrigger(seconds=schedule.seconds, start_date=_EPOCH, timezone=UTC),
                args=[schedule],
                id=schedule.name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(schedule.seconds)),
            )

    def _fire(self, schedule: Schedule) -> None:
        try:
            fire(self.engine, schedule, self.worker)
        except Exception:
            log.exception("schedule %s failed", schedule.name)

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
