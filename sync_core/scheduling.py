"""The ticker: APScheduler 3 in each worker process, a tick row per firing so N workers fire once.

Every worker runs the same schedules with an in-memory job store. A firing inserts a
`tick` row unique on (schedule, fire_at); only the worker whose insert lands runs the
action, so a schedule fires once however many workers run. Fire times are rounded to the
schedule's interval, so every process names the same firing the same way.

The `schedule` table is what the tickers follow: each re-reads it every few seconds and
pauses, resumes or re-times its jobs as `sync_core.domain.schedules.ticker_changes` says, and
fires a "run now" request as the firing at the moment it was asked for (once across workers,
by the same tick uniqueness). Each firing's tick keeps its outcome: ok, or failed with the error.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from sync_core.domain.schedules import (
    EPOCH,
    Change,
    Job,
    Pause,
    Reschedule,
    Resume,
    RunNow,
    fire_time,
    ticker_changes,
)
from sync_core.persistence import lanes, statements
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import Tick
from sync_core.services import reconciliation, schedules

log = logging.getLogger(__name__)

FOLLOW_SECONDS = 2.0  # how often a ticker re-reads the schedule table
ERROR_CHARS = 2000  # a failed firing's error, as kept in its tick

__all__ = ["Schedule", "Ticker", "default_schedules", "fire", "fire_requested", "fire_time"]


@dataclass(frozen=True)
class Schedule:
    """A named action run every `seconds` (the code's default: the schedule table may say otherwise),
    once across all workers."""

    name: str
    seconds: float
    action: Callable[[Session, datetime], None]


def fire(
    engine: Engine, schedule: Schedule, worker: str, now: datetime | None = None, seconds: float | None = None
) -> bool:
    """Claim this firing of `schedule` (every `seconds`, default its own) and run its action; False when
    another worker has it."""
    fire_at = fire_time(seconds or schedule.seconds, now or datetime.now(UTC))
    return _run_once(engine, schedule, fire_at, worker, None)


def fire_requested(
    engine: Engine, schedule: Schedule, requested_at: datetime, requested_by: str | None, worker: str
) -> bool:
    """Claim the run-now request made at `requested_at`, run the action and clear the request; False when
    another worker has it."""
    return _run_once(engine, schedule, requested_at, worker, requested_by or "")


def _run_once(engine: Engine, schedule: Schedule, fire_at: datetime, worker: str, requested_by: str | None) -> bool:
    """The claim, the action and (for a request) its clearing in one transaction; a failed action leaves a
    tick with its error instead, so the firing counts as run and the page can say why it failed."""
    table = Tick.__table__  # type: ignore[attr-defined]
    row = {
        "schedule": schedule.name, "fire_at": fire_at, "worker_id": worker, "created_at": datetime.now(UTC),
        "outcome": "ok", "error": None, "requested_by": requested_by,
    }  # fmt: skip
    try:
        with transaction(engine) as session:
            if not statements.insert_returning_new(session, table, row, ["schedule", "fire_at"]):
                return False
            schedule.action(session, fire_at)
            if requested_by is not None:
                schedules.clear_request(session, schedule.name, fire_at)
        return True
    except Exception as exc:
        log.exception("schedule %s failed", schedule.name)
        error = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
    try:
        with transaction(engine) as session:
            failed = {**row, "outcome": "failed", "error": error, "created_at": datetime.now(UTC)}
            statements.insert_returning_new(session, table, failed, ["schedule", "fire_at"])
            if requested_by is not None:
                schedules.clear_request(session, schedule.name, fire_at)
    except Exception:
        log.exception("could not record the failure of schedule %s", schedule.name)
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


def _trigger(seconds: float) -> IntervalTrigger:
    return IntervalTrigger(seconds=seconds, start_date=EPOCH, timezone=UTC)


def _grace(seconds: float) -> int:
    return max(1, int(seconds))


class Ticker:
    """An APScheduler background scheduler firing `schedules` through tick rows, as the schedule table says."""

    FOLLOW_JOB = "__follow_schedule_table__"

    def __init__(
        self, engine: Engine, schedules: Sequence[Schedule], worker: str, follow_seconds: float = FOLLOW_SECONDS
    ) -> None:
        self.engine = engine
        self.worker = worker
        self.follow_seconds = follow_seconds
        self.schedules = {schedule.name: schedule for schedule in schedules}
        self.jobs = {schedule.name: Job(schedule.seconds) for schedule in schedules}  # as the scheduler runs them
        self._handed_out: set[tuple[str, datetime]] = set()  # run-now requests given to the scheduler
        self._lock = threading.Lock()
        self.scheduler = BackgroundScheduler(timezone=UTC)

    def start(self) -> None:
        """Seed the table with the code's defaults, take its settings, and start firing."""
        try:
            schedules.seed(self.engine, {name: job.seconds for name, job in self.jobs.items()})
            table = schedules.settings(self.engine)
        except Exception:
            log.exception("cannot read the schedule table; starting on the code's defaults")
            table = {}
        for name, job in self.jobs.items():
            wanted = table.get(name)
            if wanted is not None:
                job = self.jobs[name] = Job(wanted.seconds, wanted.paused)
            self.scheduler.add_job(
                self._fire, _trigger(job.seconds), args=[name], id=name, max_instances=1, coalesce=True,
                misfire_grace_time=_grace(job.seconds), **({"next_run_time": None} if job.paused else {}),
            )  # fmt: skip
        self.scheduler.add_job(
            self.follow, IntervalTrigger(seconds=self.follow_seconds, timezone=UTC), id=self.FOLLOW_JOB,
            max_instances=1, coalesce=True,
        )  # fmt: skip
        self.scheduler.start()
        self._follow_quietly()  # a run-now request waiting since before the start is not held up

    def _follow_quietly(self) -> None:
        try:
            self.follow()
        except Exception:
            log.exception("cannot follow the schedule table")

    def follow(self) -> list[Change]:
        """Read the schedule table and carry out what changed; the changes made."""
        table = schedules.settings(self.engine)
        with self._lock:
            changes = ticker_changes(table, self.jobs, self._handed_out)
            waiting = {(name, s.run_requested_at) for name, s in table.items() if s.run_requested_at is not None}
            self._handed_out &= waiting  # fired and cleared: forget them
            for change in changes:
                self._apply(change)
        for change in changes:
            log.info("schedule table: %s", change)
        return changes

    def _apply(self, change: Change) -> None:
        if isinstance(change, Reschedule):
            job = self.jobs[change.name]
            # APScheduler computes the next run on a reschedule, which would also resume a paused job.
            self.scheduler.reschedule_job(change.name, trigger=_trigger(change.seconds))
            self.scheduler.modify_job(change.name, misfire_grace_time=_grace(change.seconds))
            if job.paused:
                self.scheduler.pause_job(change.name)
            self.jobs[change.name] = Job(change.seconds, job.paused)
        elif isinstance(change, Pause):
            self.scheduler.pause_job(change.name)
            self.jobs[change.name] = Job(self.jobs[change.name].seconds, True)
        elif isinstance(change, Resume):
            self.scheduler.resume_job(change.name)
            self.jobs[change.name] = Job(self.jobs[change.name].seconds, False)
        elif isinstance(change, RunNow):
            self._handed_out.add((change.name, change.requested_at))
            self.scheduler.add_job(
                self._fire_requested, args=[change.name, change.requested_at, change.requested_by],
                misfire_grace_time=None,
            )  # fmt: skip

    def _fire(self, name: str) -> None:
        try:
            fire(self.engine, self.schedules[name], self.worker, seconds=self.jobs[name].seconds)
        except Exception:
            log.exception("schedule %s failed", name)

    def _fire_requested(self, name: str, requested_at: datetime, requested_by: str | None) -> None:
        try:
            fire_requested(self.engine, self.schedules[name], requested_at, requested_by, self.worker)
        except Exception:
            log.exception("schedule %s (run now) failed", name)

    def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
