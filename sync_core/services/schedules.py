"""Schedules: the table every worker's ticker follows, and what people change in it (audited).

A schedule's row says how often it fires and whether it is paused; tickers re-read it every few
seconds. "Run now" leaves a request on the row that the first ticker to claim it fires and clears.
Each firing is a tick row with its outcome, so the last run and the last failure come from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, literal_column, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core.domain.schedules import Setting, interval_problem, interval_text, next_fire
from sync_core.persistence import statements
from sync_core.persistence.database import snapshot, transaction
from sync_core.persistence.tables import AuditLog, ScheduleSetting, Tick

SEEDED_BY = "revline"  # who a row seeded from the code's defaults was last updated by

ABOUT = {
    "poll": "Marks every inbound lane due, so the workers read what changed in each system.",
    "drain": "Marks every outbound lane due, so retries and waiting writes are sent.",
    "reconcile": "Starts an incremental reconciliation pass over the records that changed.",
    "reconcile-full": "Starts a full reconciliation pass that compares every record.",
}


def seed(engine: Engine, defaults: Mapping[str, float], now: datetime | None = None) -> None:
    """Give every schedule in `defaults` (name -> seconds) a row unless it has one: the table wins
    over the code once a row exists, so an admin's change outlives restarts."""
    now = now or datetime.now(UTC)
    rows = [
        {"name": name, "seconds": float(seconds), "paused": False, "updated_at": now, "updated_by": SEEDED_BY}
        for name, seconds in defaults.items()
    ]
    if rows:
        with transaction(engine) as session:
            statements.insert_ignore_counted(session, ScheduleSetting.__table__, rows, ["name"])  # type: ignore[attr-defined]


def settings(engine: Engine) -> dict[str, Setting]:
    """Every schedule's row, as a ticker follows it."""
    with snapshot(engine) as session:
        rows = session.scalars(select(ScheduleSetting)).all()
    return {row.name: Setting(row.seconds, row.paused, row.run_requested_at, row.run_requested_by) for row in rows}


def clear_request(session: Session, name: str, requested_at: datetime) -> None:
    """The run-now request fired at `requested_at` is done (a newer request stays)."""
    session.execute(
        update(ScheduleSetting)
        .where(col(ScheduleSetting.name) == name, col(ScheduleSetting.run_requested_at) == requested_at)
        .values(run_requested_at=None, run_requested_by=None)
    )


@dataclass(frozen=True)
class ScheduleStatus:
    """One schedule as the Schedules page shows it."""

    name: str
    about: str
    seconds: float
    interval: str
    paused: bool
    next_run_at: datetime | None  # None while paused
    run_requested_at: datetime | None
    run_requested_by: str | None
    updated_at: datetime
    updated_by: str
    last_fire_at: datetime | None
    last_outcome: str | None  # ok | failed, None before the first firing
    last_error: str | None
    last_worker: str | None
    last_requested_by: str | None  # who asked for the last firing (None: the clock)
    last_failure_at: datetime | None
    last_failure_error: str | None


def _failed() -> Any:
    # Inlined, so SQLite's planner can use the partial index on failed firings (ix_tick_failed).
    return literal_column("tick.outcome") == literal_column("'failed'")


def list_schedules(engine: Engine, now: datetime | None = None) -> list[ScheduleStatus]:
    """Every schedule by name, with its next run and its last firing and failure (two index lookups each)."""
    now = now or datetime.now(UTC)
    found = []
    with snapshot(engine) as session:
        for row in session.scalars(select(ScheduleSetting).order_by(col(ScheduleSetting.name))).all():
            ticks = select(Tick).where(col(Tick.schedule) == row.name).order_by(col(Tick.fire_at).desc()).limit(1)
            last = session.scalars(ticks).first()
            failure = session.scalars(ticks.where(_failed())).first()
            found.append(
                ScheduleStatus(
                    name=row.name, about=ABOUT.get(row.name, ""), seconds=row.seconds,
                    interval=interval_text(row.seconds), paused=row.paused,
                    next_run_at=None if row.paused else next_fire(row.seconds, now),
                    run_requested_at=row.run_requested_at, run_requested_by=row.run_requested_by,
                    updated_at=row.updated_at, updated_by=row.updated_by,
                    last_fire_at=last.fire_at if last else None, last_outcome=last.outcome if last else None,
                    last_error=last.error if last else None, last_worker=last.worker_id if last else None,
                    last_requested_by=last.requested_by if last else None,
                    last_failure_at=failure.fire_at if failure else None,
                    last_failure_error=failure.error if failure else None,
                )
            )  # fmt: skip
    return found


def _row(session: Session, name: str) -> ScheduleSetting:
    row = session.scalars(
        select(ScheduleSetting).where(col(ScheduleSetting.name) == name).with_for_update()
    ).first()
    if row is None:
        raise ValueError(f"There is no schedule {name!r}.")
    return row


def _audit(session: Session, at: datetime, actor: str, action: str, name: str, details: dict[str, Any]) -> None:
    session.add(AuditLog(at=at, actor=actor, action=action, subject=f"schedule:{name}", details=details))


def pause(engine: Engine, name: str, actor: str) -> bool:
    """Stop `name` firing in every worker until resumed; False when it was paused already."""
    return _set_paused(engine, name, True, actor)


def resume(engine: Engine, name: str, actor: str) -> bool:
    """Let `name` fire again on its interval; False when it was not paused."""
    return _set_paused(engine, name, False, actor)


def _set_paused(engine: Engine, name: str, paused: bool, actor: str) -> bool:
    now = datetime.now(UTC)
    with transaction(engine) as session:
        row = _row(session, name)
        if row.paused == paused:
            return False
        row.paused, row.updated_at, row.updated_by = paused, now, actor
        action = "schedule.paused" if paused else "schedule.resumed"
        _audit(session, now, actor, action, name, {"before": {"paused": not paused}, "after": {"paused": paused}})
    return True


def set_interval(engine: Engine, name: str, seconds: float, actor: str) -> bool:
    """Fire `name` every `seconds` from the workers' next look at the table; False when unchanged."""
    problem = interval_problem(seconds)
    if problem is not None:
        raise ValueError(problem[0].upper() + problem[1:] + ".")
    now = datetime.now(UTC)
    with transaction(engine) as session:
        row = _row(session, name)
        before = row.seconds
        if before == seconds:
            return False
        row.seconds, row.updated_at, row.updated_by = float(seconds), now, actor
        _audit(
            session, now, actor, "schedule.interval_changed", name,
            {"before": {"seconds": before}, "after": {"seconds": float(seconds)}},
        )  # fmt: skip
    return True


def run_now(engine: Engine, name: str, actor: str) -> bool:
    """Ask the workers to fire `name` once, now (paused or not); False when a request is still waiting."""
    now = datetime.now(UTC)
    with transaction(engine) as session:
        row = _row(session, name)
        if row.run_requested_at is not None:
            return False
        row.run_requested_at, row.run_requested_by = now, actor
        _audit(session, now, actor, "schedule.run_requested", name, {"requested_at": now.isoformat()})
    return True
