"""State of the Overview page: lanes, op and dead-letter counts, API budgets and the last hour's throughput."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

import plotly.graph_objects as go
import reflex as rx
from sqlalchemy.exc import SQLAlchemyError

from console.state.session import GuardedState, requires
from console.state.views import (
    OP_STATUS_LABELS,
    ApiUsageView,
    CountCard,
    LaneView,
    ThroughputView,
    ago,
    category_card,
    clock,
    iso,
    ledger_error,
    quota_color,
    quota_percent,
    quota_text,
)
from sync_core.domain.access import Role
from sync_core.services import ledger_engine, overview

THROUGHPUT_MINUTES = 60
# The chart counts a busy hour's ops row by row (~0.5 s for 500k ops on SQLite): redraw it less often
# than the counts, which are cheap grouped index scans.
THROUGHPUT_EVERY_SECONDS = 10.0


def _worker(lane: overview.LaneStatus) -> str:
    """Who holds the lane now, or else who ran it last."""
    if lane.state == "running" and lane.lease_owner:
        return lane.lease_owner
    return lane.last_run.worker_id if lane.last_run else ""


def _lane_view(lane: overview.LaneStatus, as_of: datetime) -> LaneView:
    return LaneView(
        id=lane.id,
        label=lane.label,
        system=lane.system,
        object_type=lane.object_type,
        direction=lane.direction,
        state=lane.state,
        last_run=ago(lane.last_run_at, as_of),
        last_run_at=iso(lane.last_run_at),
        last_status=lane.last_status or "",
        last_error=lane.last_error or "",
        pending="" if lane.pending_ops is None else str(lane.pending_ops),
        worker=_worker(lane),
    )


def _usage_view(usage: overview.ApiUsageStatus, as_of: datetime) -> ApiUsageView:
    interval = quota_percent(usage.window_remaining, usage.window_limit)
    daily = quota_percent(usage.daily_remaining, usage.daily_limit)
    return ApiUsageView(
        system=usage.system,
        calls=f"{usage.calls:,}",
        interval=quota_text(usage.window_remaining, usage.window_limit, usage.window_seconds),
        interval_percent=interval,
        interval_color=quota_color(interval),
        daily=quota_text(usage.daily_remaining, usage.daily_limit),
        daily_percent=daily,
        daily_color=quota_color(daily),
        held_until=clock(usage.held_until),
        held_until_at=iso(usage.held_until),
        updated=ago(usage.updated_at, as_of) if usage.updated_at else "",
        updated_at=iso(usage.updated_at),
    )


def _load(with_throughput: bool) -> tuple[overview.Status, list[overview.ThroughputPoint] | None]:
    engine = ledger_engine()
    points = overview.throughput(engine, minutes=THROUGHPUT_MINUTES) if with_throughput else None
    return overview.status(engine, cap=overview.COUNT_CAP), points


@dataclass(frozen=True)
class AlertView:
    system: str
    severity: str  # error | warning
    message: str


class OverviewState(GuardedState):
    """The overview's snapshot of the ledger, refreshed every two seconds while the page is open."""

    lanes: rx.Field[list[LaneView]] = rx.field(default_factory=list)
    op_cards: rx.Field[list[CountCard]] = rx.field(default_factory=list)
    dead_cards: rx.Field[list[CountCard]] = rx.field(default_factory=list)
    dead_total: rx.Field[int] = rx.field(0)
    api_usage: rx.Field[list[ApiUsageView]] = rx.field(default_factory=list)  # one row per connection
    alerts: rx.Field[list[AlertView]] = rx.field(default_factory=list)  # failing connections, budgets running low
    throughput: rx.Field[list[ThroughputView]] = rx.field(default_factory=list)
    throughput_total: rx.Field[int] = rx.field(0)
    as_of: rx.Field[str] = rx.field("")
    error: rx.Field[str] = rx.field("")
    loaded: rx.Field[bool] = rx.field(False)
    _busy: bool = False
    _throughput_at: float = 0.0  # monotonic time of the last throughput read

    @rx.var
    def throughput_figure(self) -> go.Figure:
        """Ops written per minute over the last hour, as bars."""
        figure = go.Figure(
            go.Bar(
                x=[point.minute for point in self.throughput],
                y=[point.done for point in self.throughput],
                marker_color="#3e63dd",
                hovertemplate="%{x}<br>%{y} ops done<extra></extra>",
            )
        )
        figure.update_layout(
            height=240,
            margin={"l": 40, "r": 10, "t": 10, "b": 30},
            plot_bgcolor="rgba(0,0,0,0)",
            paper_bgcolor="rgba(0,0,0,0)",
            bargap=0.15,
            xaxis={"type": "date", "showgrid": False},
            yaxis={"rangemode": "tozero", "gridcolor": "#eee"},
        )
        return figure

    @rx.event(background=True)  # type: ignore[operator]
    @requires(Role.VIEWER, background=True)
    async def refresh(self) -> None:
        """Re-read the ledger, at most one read in flight per tab (a slow database must not pile reads up)."""
        async with self:
            if self._busy:
                return
            self._busy = True
            with_throughput = time.monotonic() - self._throughput_at >= THROUGHPUT_EVERY_SECONDS
        try:
            current, points = await asyncio.to_thread(_load, with_throughput)
        except SQLAlchemyError as exc:
            async with self:
                self.error = ledger_error(exc)
            return
        finally:
            async with self:
                self._busy = False
        async with self:
            self.error = ""
            self.loaded = True
            self.as_of = iso(current.as_of)
            self.lanes = [_lane_view(lane, current.as_of) for lane in current.lanes]
            self.op_cards = [
                CountCard(
                    key=status, label=OP_STATUS_LABELS.get(status, status), count=count,
                    more=status in current.ops_capped,
                )
                for status, count in current.ops_by_status.items()
            ]
            self.dead_cards = [category_card(category, n) for category, n in current.dead_by_category.items()]
            self.dead_total = sum(current.dead_by_category.values())
            self.api_usage = [_usage_view(usage, current.as_of) for usage in current.api_usage]
            self.alerts = [AlertView(a.system, a.severity, a.message) for a in current.alerts]
            if points is not None:
                self._throughput_at = time.monotonic()
                self.throughput = [
                    ThroughputView(minute=point.minute.strftime("%Y-%m-%d %H:%M"), done=point.done) for point in points
                ]
                self.throughput_total = sum(point.done for point in points)
