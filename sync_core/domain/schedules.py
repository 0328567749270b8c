"""Schedules as people set them, and what a worker's ticker must change to follow them.

The `schedule` table says how often each schedule fires, whether it is paused, and whether a person
asked to run it now. Every worker's ticker compares that with the jobs it runs and carries out the
changes `ticker_changes` returns; it decides nothing itself.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

# Fire times count from this instant in every process, so all workers name a firing the same way
# (and a daily schedule fires at midnight UTC).
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)

MIN_SECONDS = 1.0
MAX_SECONDS = 7 * 86_400.0


@dataclass(frozen=True)
class Setting:
    """One schedule as the table holds it."""

    seconds: float
    paused: bool = False
    run_requested_at: datetime | None = None
    run_requested_by: str | None = None


@dataclass(frozen=True)
class Job:
    """One schedule as a ticker runs it now."""

    seconds: float
    paused: bool = False


@dataclass(frozen=True)
class Reschedule:
    """Fire every `seconds` from now on (paused or not as before)."""

    name: str
    seconds: float


@dataclass(frozen=True)
class Pause:
    name: str


@dataclass(frozen=True)
class Resume:
    name: str


@dataclass(frozen=True)
class RunNow:
    """Fire once, as the firing at `requested_at` (the tick row makes it once across workers)."""

    name: str
    requested_at: datetime
    requested_by: str | None = None


Change = Reschedule | Pause | Resume | RunNow


def ticker_changes(
    table: Mapping[str, Setting],
    jobs: Mapping[str, Job],
    handed_out: Collection[tuple[str, datetime]] = (),
) -> list[Change]:
    """What a ticker running `jobs` must change to follow `table`, in order.

    Only schedules the ticker runs are considered (the table may name others); a schedule missing
    from the table keeps running as it does. A run-now request already handed out (`handed_out`:
    name and requested time) is not handed out again.
    """
    changes: list[Change] = []
    for name in sorted(jobs):
        job, wanted = jobs[name], table.get(name)
        if wanted is None:
            continue
        if wanted.seconds != job.seconds:
            changes.append(Reschedule(name, wanted.seconds))
        if wanted.paused and not job.paused:
            changes.append(Pause(name))
        elif job.paused and not wanted.paused:
            changes.append(Resume(name))
        at = wanted.run_requested_at
        if at is not None and (name, at) not in handed_out:
            changes.append(RunNow(name, at, wanted.run_requested_by))
    return changes


def fire_time(seconds: float, now: datetime) -> datetime:
    """The firing `now` belongs to: the nearest multiple of the interval since EPOCH."""
    steps = round((now - EPOCH).total_seconds() / seconds)
    return datetime.fromtimestamp(EPOCH.timestamp() + steps * seconds, UTC)


def next_fire(seconds: float, now: datetime) -> datetime:
    """The first firing strictly after `now` of a schedule running every `seconds`."""
    steps = int((now - EPOCH).total_seconds() // seconds) + 1
    return datetime.fromtimestamp(EPOCH.timestamp() + steps * seconds, UTC)


def interval_problem(seconds: float) -> str | None:
    """Why `seconds` cannot be a schedule's interval, or None when it can."""
    if not math.isfinite(seconds):
        return "an interval needs a number of seconds"
    if seconds < MIN_SECONDS:
        return f"an interval must be at least {MIN_SECONDS:g} second"
    if seconds > MAX_SECONDS:
        return "an interval can be at most 7 days"
    return None


def parse_interval(text: str) -> float:
    """Seconds from what a person types: `90`, `90s`, `5m`, `2h`, `1d` (ValueError otherwise)."""
    cleaned = text.strip().lower().replace(" ", "")
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
    factor = 1.0
    if cleaned[-1:] in units:
        factor, cleaned = units[cleaned[-1]], cleaned[:-1]
    try:
        seconds = float(cleaned) * factor
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not an interval: type seconds, or a number with s, m, h or d") from None
    problem = interval_problem(seconds)
    if problem is not None:
        raise ValueError(problem)
    return seconds


def interval_text(seconds: float) -> str:
    """`every 2s`, `every 5 min`, `every 1.5 h`, `every day`: the largest unit that reads well."""
    for size, unit in ((86_400.0, "d"), (3600.0, "h"), (60.0, "min")):
        if seconds >= size and (seconds / size) * 2 == int((seconds / size) * 2):
            amount = seconds / size
            if unit == "d" and amount == 1:
                return "every day"
            return f"every {amount:g} {unit}"
    return f"every {seconds:g}s"
