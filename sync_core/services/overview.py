"""Sync health at a glance: lane states, op and dead-letter counts, API budgets, throughput and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, Engine, func, literal, select
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core.persistence.database import db_now, snapshot
from sync_core.persistence.tables import ApiUsage, Lane, OutboundOp, SyncRun, op_status_is
from sync_core.services import lead_to_cash, reconciliation
from sync_core.services.dead_letters import dead_counts
from sync_core.services.runs import lane_label

OP_STATUSES = ("pending", "in_flight", "done", "dead", "superseded", "discarded")
RUN_STATUSES = ("running", "ok", "failed", "fenced")
LANE_STATES = ("running", "paused", "held", "failed", "idle")
OUTBOUND = "outbound"
METRICS_CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # what `metrics_text` is: text/plain; version=0.0.4
# The console's overview counts done, superseded and discarded ops only this far ("100,000+"): a count
# reads every index entry it counts, and a ledger holds millions of done ops. Pending and dead ops are
# counted exactly, from their own partial indexes.
COUNT_CAP = 100_000


@dataclass(frozen=True)
class LastRun:
    """The newest sync run of one lane."""

    id: int
    status: str
    worker_id: str
    started_at: datetime
    finished_at: datetime | None
    records_read: int
    ops_done: int
    ops_dead: int
    error: str | None


@dataclass(frozen=True)
class LaneStatus:
    """One lane: what it is doing now and how its last run went."""

    id: int
    system: str
    object_type: str
    direction: str
    state: str  # running | paused | held | failed | idle
    paused: bool
    lease_owner: str | None
    lease_expires_at: datetime | None
    due_at: datetime | None
    last_run_at: datetime | None
    last_status: str | None
    last_error: str | None
    pending_ops: int | None  # outbound lanes only: ops waiting to be written
    last_run: LastRun | None

    @property
    def label(self) -> str:
        return lane_label(self.system, self.object_type, self.direction)


@dataclass(frozen=True)
class ApiUsageStatus:
    """One connection's API budget: the calls Revline made and the quota the system last reported.

    A limit or remaining figure is None when the system does not report it; `held_until` is set
    while the quota is spent and every lane of the system waits (no worker claims them).
    """

    system: str
    calls: int
    window_limit: int | None
    window_remaining: int | None
    window_seconds: float | None
    daily_limit: int | None
    daily_remaining: int | None
    updated_at: datetime | None  # None: held, but no usage recorded yet
    held_until: datetime | None

    @property
    def held(self) -> bool:
        return self.held_until is not None


LOW_BUDGET = 0.10  # a connection's budget runs low below this share of its limit


@dataclass(frozen=True)
class Alert:
    """Something a person should look at now: a connection failing, or its API budget running out."""

    system: str
    severity: str  # error | warning
    message: str


def alerts(lanes: Sequence[LaneStatus], usage: Sequence[ApiUsageStatus], now: datetime) -> tuple[Alert, ...]:
    """The alerts the health of `lanes` and `usage` raises, failures first, one per connection and cause."""
    found: list[Alert] = []
    failed: dict[str, list[LaneStatus]] = {}
    for lane in lanes:
        if lane.state == "failed":
            failed.setdefault(lane.system, []).append(lane)
    for system, broken in sorted(failed.items()):
        error = next((lane.last_error for lane in broken if lane.last_error), None)
        names = ", ".join(lane.label for lane in broken)
        found.append(Alert(system, "error", f"{system} is failing: the last run of {names} failed"
                                            + (f" ({error})" if error else "") + "."))  # fmt: skip
    for budget in usage:
        if budget.held_until is not None:
            wait = max(0, round((budget.held_until - now).total_seconds()))
            found.append(Alert(budget.system, "warning", f"{budget.system}'s API quota is spent: its lanes wait "
                                                         f"{wait} s, until {budget.held_until:%H:%M:%S} UTC."))
            continue
        for remaining, limit, what in (
            (budget.daily_remaining, budget.daily_limit, "daily"),
            (budget.window_remaining, budget.window_limit, "per-window"),
        ):
            if remaining is not None and limit and remaining / limit < LOW_BUDGET:
                found.append(Alert(budget.system, "warning", f"{budget.system}'s {what} API budget runs low: "
                                                             f"{remaining:,} of {limit:,} calls left."))
                break
    return tuple(found)


@dataclass(frozen=True)
class Status:
    """The ledger's health as of one moment of the database clock."""

    as_of: datetime
    lanes: tuple[LaneStatus, ...]
    ops_by_status: Mapping[str, int]
    dead_by_category: Mapping[str, int]
    api_usage: tuple[ApiUsageStatus, ...]
    ops_capped: frozenset[str] = frozenset()  # statuses with more ops than `ops_by_status` says (the cap)

    @property
    def alerts(self) -> tuple[Alert, ...]:
        return alerts(self.lanes, self.api_usage, self.as_of)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: the body of `GET /api/status`."""
        return {
            "as_of": self.as_of.isoformat(),
            "lanes": [_lane_json(lane) for lane in self.lanes],
            "ops_by_status": dict(self.ops_by_status),
            "dead_letters_by_category": dict(self.dead_by_category),
            "last_run_by_lane": {
                lane.label: _run_json(lane.last_run) if lane.last_run else None for lane in self.lanes
            },
            "api_usage": [_usage_json(usage) for usage in self.api_usage],
            "alerts": [{"system": a.system, "severity": a.severity, "message": a.message} for a in self.alerts],
        }


@dataclass(frozen=True)
class ThroughputPoint:
    """How many ops were written (reached `done`) in one minute."""

    minute: datetime
    done: int


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _run_json(run: LastRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "status": run.status,
        "worker_id": run.worker_id,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "records_read": run.records_read,
        "ops_done": run.ops_done,
        "ops_dead": run.ops_dead,
        "error": run.error,
    }


def _lane_json(lane: LaneStatus) -> dict[str, Any]:
    return {
        "id": lane.id,
        "lane": lane.label,
        "system": lane.system,
        "object_type": lane.object_type,
        "direction": lane.direction,
        "state": lane.state,
        "paused": lane.paused,
        "lease_owner": lane.lease_owner,
        "lease_expires_at": _iso(lane.lease_expires_at),
        "due_at": _iso(lane.due_at),
        "last_run_at": _iso(lane.last_run_at),
        "last_status": lane.last_status,
        "last_error": lane.last_error,
        "pending_ops": lane.pending_ops,
    }


def _usage_json(usage: ApiUsageStatus) -> dict[str, Any]:
    return {
        "system": usage.system,
        "calls": usage.calls,
        "window_limit": usage.window_limit,
        "window_remaining": usage.window_remaining,
        "window_seconds": usage.window_seconds,
        "daily_limit": usage.daily_limit,
        "daily_remaining": usage.daily_remaining,
        "updated_at": _iso(usage.updated_at),
        "held": usage.held,
        "held_until": _iso(usage.held_until),
    }


def _outbound(lane: Lane) -> bool:
    return lane.direction == OUTBOUND


def lane_state(lane: Lane, now: datetime) -> str:
    """running while a live lease is held, else paused, else held (its system's API quota is spent),
    else failed after a failed run, else idle."""
    if lane.lease_owner and lane.lease_expires_at is not None and lane.lease_expires_at > now:
        return "running"
    if lane.paused:
        return "paused"
    if lane.held_until is not None and lane.held_until > now:
        return "held"
    if lane.last_status == "failed":
        return "failed"
    return "idle"


def _ops_by_status(session: Session) -> dict[str, int]:
    query = select(col(OutboundOp.status), func.count()).group_by(col(OutboundOp.status))
    counts = dict.fromkeys(OP_STATUSES, 0)
    counts.update({status: int(n) for status, n in session.execute(query).all()})
    return counts


def _capped_ops_by_status(
    session: Session, cap: int, pending: Mapping[tuple[str, str], int], dead: Mapping[str, int]
) -> tuple[dict[str, int], frozenset[str]]:
    """Ops by status, each status counted up to `cap` + 1 in one statement (pending and dead are given);
    the statuses that reached it come back capped at `cap` and named."""
    counted = [s for s in OP_STATUSES if s not in ("pending", "dead")]
    limited = [
        select(func.count()).select_from(
            select(literal(1)).select_from(OutboundOp).where(op_status_is(status)).limit(cap + 1).subquery()
        ).scalar_subquery()
        for status in counted
    ]
    row: Sequence[Any] = session.execute(select(*limited)).one()
    counts = dict.fromkeys(OP_STATUSES, 0)
    counts.update({status: int(n) for status, n in zip(counted, row, strict=True)})
    counts["pending"] = sum(pending.values())
    counts["dead"] = sum(dead.values())
    over = frozenset(status for status, n in counts.items() if n > cap and status in counted)
    counts.update(dict.fromkeys(over, cap))
    return counts, over


def _pending_by_target(session: Session) -> dict[tuple[str, str], int]:
    query = (
        select(col(OutboundOp.target_system), col(OutboundOp.object_type), func.count())
        .where(op_status_is("pending"))
        .group_by(col(OutboundOp.target_system), col(OutboundOp.object_type))
    )
    return {(system, object_type): int(n) for system, object_type, n in session.execute(query).all()}


def _last_runs(session: Session) -> dict[int, LastRun]:
    # A correlated max(id) per lane: an index probe each on SQLite's (lane_id, rowid) index.
    newest = (
        select(func.max(col(SyncRun.id)))
        .where(col(SyncRun.lane_id) == col(Lane.id))
        .correlate(Lane)
        .scalar_subquery()
    )
    newest_ids: Sequence[int | None] = session.execute(select(newest).select_from(Lane)).scalars().all()
    run_ids = [run_id for run_id in newest_ids if run_id is not None]
    if not run_ids:
        return {}
    runs = session.execute(select(SyncRun).where(col(SyncRun.id).in_(run_ids))).scalars().all()
    return {
        run.lane_id: LastRun(
            id=run.id or 0,
            status=run.status,
            worker_id=run.worker_id,
            started_at=run.started_at,
            finished_at=run.finished_at,
            records_read=run.records_read,
            ops_done=run.ops_done,
            ops_dead=run.ops_dead,
            error=run.error,
        )
        for run in runs
    }


def _api_usage(session: Session, lanes: Sequence[Lane], now: datetime) -> tuple[ApiUsageStatus, ...]:
    """One row per connection (api_usage holds one row per system), with its lanes' latest live hold."""
    held: dict[str, datetime] = {}
    for lane in lanes:
        until = lane.held_until
        if until is not None and until > now:
            held[lane.system] = max(until, held.get(lane.system, until))
    rows = {row.system: row for row in session.execute(select(ApiUsage)).scalars().all()}
    result = [
        ApiUsageStatus(
            system=row.system,
            calls=row.calls,
            window_limit=row.window_limit,
            window_remaining=row.window_remaining,
            window_seconds=row.window_seconds,
            daily_limit=row.daily_limit,
            daily_remaining=row.daily_remaining,
            updated_at=row.updated_at,
            held_until=held.get(row.system),
        )
        for row in rows.values()
    ]
    # A hold is written with the usage, in one transaction; a held system without a row still shows.
    result.extend(
        ApiUsageStatus(system, 0, None, None, None, None, None, None, until)
        for system, until in held.items()
        if system not in rows
    )
    return tuple(sorted(result, key=lambda usage: usage.system))


def status(engine: Engine, cap: int | None = None) -> Status:
    """Every lane with its state and last run, ops by status and dead letters by category.

    With `cap`, done, superseded and discarded ops are counted up to it (named in `ops_capped` when
    there are more): what a page refreshed every few seconds asks for. Without, every count is exact.
    """
    with snapshot(engine) as session:
        now = db_now(session)
        lanes = (
            session.execute(
                select(Lane).order_by(col(Lane.system), col(Lane.object_type), col(Lane.direction))
            )
            .scalars()
            .all()
        )
        pending = _pending_by_target(session)
        last_runs = _last_runs(session)
        dead = dead_counts(session)
        if cap is None:
            ops, capped = _ops_by_status(session), frozenset[str]()
        else:
            ops, capped = _capped_ops_by_status(session, cap, pending, dead)
        api_usage = _api_usage(session, lanes, now)
    lane_rows = tuple(
        LaneStatus(
            id=lane.id or 0,
            system=lane.system,
            object_type=lane.object_type,
            direction=lane.direction,
            state=lane_state(lane, now),
            paused=lane.paused,
            lease_owner=lane.lease_owner,
            lease_expires_at=lane.lease_expires_at,
            due_at=lane.due_at,
            last_run_at=lane.last_run_at,
            last_status=lane.last_status,
            last_error=lane.last_error,
            pending_ops=pending.get((lane.system, lane.object_type), 0) if _outbound(lane) else None,
            last_run=last_runs.get(lane.id or 0),
        )
        for lane in lanes
    )
    return Status(as_of=now, lanes=lane_rows, ops_by_status=ops, dead_by_category=dead, api_usage=api_usage,
                  ops_capped=capped)


def _minute_bucket(session: Session) -> ColumnElement[Any]:
    """A SQL expression truncating `sync_run.started_at` to the minute on this database."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%d %H:%M:00", col(SyncRun.started_at))
    if dialect == "postgresql":
        return func.date_trunc("minute", col(SyncRun.started_at))
    raise NotImplementedError(f"minute buckets are not written for {dialect}")


def _as_minute(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite hands back text, in UTC
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def throughput(engine: Engine, minutes: int = 60) -> list[ThroughputPoint]:
    """Writes completed per minute over the last `minutes` minutes, oldest first, zero-filled.

    Counted from the outbound runs (a few rows a minute), not from the ops themselves, so
    the chart costs the same with a million ops in the ledger.
    """
    minutes = max(1, minutes)
    with snapshot(engine) as session:
        now = db_now(session).replace(second=0, microsecond=0)
        since = now - timedelta(minutes=minutes - 1)
        bucket = _minute_bucket(session).label("minute")
        query = (
            select(bucket, func.sum(col(SyncRun.ops_done)))
            .where(col(SyncRun.direction) == "outbound", col(SyncRun.started_at) >= since)
            .group_by(bucket)
        )
        counts: dict[datetime, int] = {}
        for minute, n in session.execute(query).all():
            counts[_as_minute(minute)] = int(cast("int", n or 0))
    return [
        ThroughputPoint(minute=minute, done=counts.get(minute, 0))
        for minute in (since + timedelta(minutes=i) for i in range(minutes))
    ]


def _runs_by_status(session: Session) -> dict[str, int]:
    query = select(col(SyncRun.status), func.count()).group_by(col(SyncRun.status))
    counts = dict.fromkeys(RUN_STATUSES, 0)
    counts.update({run_status: int(n) for run_status, n in session.execute(query).all()})
    return counts


class _LedgerCollector(Collector):
    """Yields one snapshot of the ledger as metric families (no `_created` samples, nothing cached)."""

    def __init__(self, current: Status, runs: Mapping[str, int]) -> None:
        self.current = current
        self.runs = runs

    def collect(self) -> Iterator[Metric]:
        ops = GaugeMetricFamily("revline_ops", "Outbound ops by status.", labels=["status"])
        for op_status, n in self.current.ops_by_status.items():
            ops.add_metric([op_status], n)
        yield ops
        dead = GaugeMetricFamily(
            "revline_dead_letters", "Dead letters by error category.", labels=["category"]
        )
        for category, n in self.current.dead_by_category.items():
            dead.add_metric([category], n)
        yield dead
        last_run = GaugeMetricFamily(
            "revline_lane_last_run_timestamp_seconds", "Unix time of each lane's last run.", labels=["lane"]
        )
        state = GaugeMetricFamily(
            "revline_lane_state", "1 for the state each lane is in.", labels=["lane", "state"]
        )
        pending = GaugeMetricFamily(
            "revline_lane_pending_ops", "Ops waiting to be written per outbound lane.", labels=["lane"]
        )
        for lane in self.current.lanes:
            if lane.last_run_at is not None:
                last_run.add_metric([lane.label], lane.last_run_at.timestamp())
            for lane_state_name in LANE_STATES:
                state.add_metric([lane.label, lane_state_name], 1 if lane.state == lane_state_name else 0)
            if lane.pending_ops is not None:
                pending.add_metric([lane.label], lane.pending_ops)
        yield from (last_run, state, pending)
        yield from self._api_usage()
        runs = CounterMetricFamily(
            "revline_runs", "Sync runs recorded in the ledger, by status.", labels=["status"]
        )
        for run_status, n in self.runs.items():
            runs.add_metric([run_status], n)
        yield runs


    def _api_usage(self) -> Iterator[Metric]:
        calls = CounterMetricFamily(
            "revline_api_calls", "API calls Revline made to each connected system.", labels=["system"]
        )
        remaining = GaugeMetricFamily(
            "revline_api_remaining",
            "API calls left in the quota window the system last reported (interval or daily).",
            labels=["system", "window"],
        )
        held = GaugeMetricFamily(
            "revline_api_held", "1 while the system's API quota is spent and its lanes wait.", labels=["system"]
        )
        for usage in self.current.api_usage:
            calls.add_metric([usage.system], usage.calls)
            if usage.window_remaining is not None:
                remaining.add_metric([usage.system, "interval"], usage.window_remaining)
            if usage.daily_remaining is not None:
                remaining.add_metric([usage.system, "daily"], usage.daily_remaining)
            held.add_metric([usage.system], 1 if usage.held else 0)
        yield from (calls, remaining, held)


def metrics_text(engine: Engine) -> str:
    """The ledger's metrics in Prometheus text format 0.0.4, from a fresh registry per call."""
    current = status(engine)
    with snapshot(engine) as session:
        runs = _runs_by_status(session)
    registry = CollectorRegistry()
    registry.register(_LedgerCollector(current, runs))
    registry.register(lead_to_cash.LeadToCashCollector(engine, datetime.now(UTC)))
    registry.register(reconciliation.FindingsCollector(engine))
    return generate_latest(registry).decode()
