"""State of the Lead-to-cash page: a period's funnel, cycle times against targets, revenue at risk, trends."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import plotly.graph_objects as go
import reflex as rx
from sqlalchemy.exc import SQLAlchemyError

from console.state.session import GuardedState, requires
from console.state.views import iso, ledger_error, money, span
from sync_core.domain.access import Role
from sync_core.services import ledger_engine, reconciliation, revenue

PERIODS: dict[str, tuple[str, timedelta]] = {
    "1d": ("Last 24 hours", timedelta(days=1)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
    "90d": ("Last 90 days", timedelta(days=90)),
}
DEFAULT_PERIOD = "7d"
STEP_COLORS = ("#8e8c99", "#6e56cf", "#3e63dd", "#0090ff", "#12a594", "#30a46c", "#46a758")


@dataclass(frozen=True)
class StepView:
    key: str
    label: str
    value: int
    count: str  # the value as people read it: 12,400
    rate: str  # "42% of qualified leads", or ""


@dataclass(frozen=True)
class CycleView:
    hop: str
    label: str
    target: str
    count: int
    p50: str
    p95: str
    attainment: str
    color: str  # green at or above 95% within target, amber from 80%, red below; gray with nothing measured


@dataclass(frozen=True)
class Loaded:
    steps: list[revenue.FunnelStep]
    cycles: list[revenue.CycleTime]
    risk: revenue.RevenueAtRisk
    days: list[revenue.DayCounts]
    mismatches: list[tuple[datetime, int]]


def _load(period: str) -> Loaded:
    engine = ledger_engine()
    until = datetime.now(UTC)
    since = until - PERIODS[period][1]
    return Loaded(
        revenue.funnel(engine, since, until), revenue.cycle_times(engine, since, until),
        revenue.revenue_at_risk(engine), revenue.by_day(engine, since, until),
        reconciliation.open_over_time(engine, since),
    )  # fmt: skip


def attainment_color(share: float | None) -> str:
    if share is None:
        return "gray"
    return "green" if share >= 0.95 else "amber" if share >= 0.8 else "red"


def _step(step: revenue.FunnelStep, before: str) -> StepView:
    rate = f"{step.rate:.0%} of {before.lower()}" if step.rate is not None else ""
    return StepView(step.key, step.label, step.count, f"{step.count:,}", rate)


def _cycle(cycle: revenue.CycleTime) -> CycleView:
    share = cycle.attainment
    return CycleView(
        hop=cycle.hop, label=cycle.label, target=span(cycle.target_seconds), count=cycle.count, p50=span(cycle.p50),
        p95=span(cycle.p95), attainment=f"{share:.0%}" if share is not None else "—",
        color=attainment_color(share),
    )  # fmt: skip


class LeadToCashState(GuardedState):
    """The period on screen and what the ledger says of it."""

    period: rx.Field[str] = rx.field(DEFAULT_PERIOD)
    steps: rx.Field[list[StepView]] = rx.field(default_factory=list)
    cycles: rx.Field[list[CycleView]] = rx.field(default_factory=list)
    held_deals: rx.Field[int] = rx.field(0)
    held_amount: rx.Field[str] = rx.field("")
    overdue_invoices: rx.Field[int] = rx.field(0)
    overdue_amount: rx.Field[str] = rx.field("")
    day_labels: rx.Field[list[str]] = rx.field(default_factory=list)
    day_series: rx.Field[dict[str, list[int]]] = rx.field(default_factory=dict)
    mismatch_at: rx.Field[list[str]] = rx.field(default_factory=list)
    mismatch_open: rx.Field[list[int]] = rx.field(default_factory=list)
    error: rx.Field[str] = rx.field("")
    loaded: rx.Field[bool] = rx.field(False)

    @rx.var
    def funnel_figure(self) -> go.Figure:
        """The funnel as horizontal bars, widest first, each labelled with its count."""
        labels = [step.label for step in self.steps][::-1]
        counts = [step.value for step in self.steps][::-1]
        figure = go.Figure(go.Bar(
            x=counts, y=labels, orientation="h", text=[f"{n:,}" for n in counts], textposition="auto",
            marker_color=list(STEP_COLORS[: len(counts)])[::-1], hovertemplate="%{y}: %{x}<extra></extra>",
        ))  # fmt: skip
        figure.update_layout(
            height=300, margin={"l": 120, "r": 20, "t": 10, "b": 30}, plot_bgcolor="rgba(0,0,0,0)",
            paper_bgcolor="rgba(0,0,0,0)", xaxis={"rangemode": "tozero", "gridcolor": "#eee"}, bargap=0.25,
        )  # fmt: skip
        return figure

    @rx.var
    def trend_figure(self) -> go.Figure:
        """Records reaching won, ordered, invoiced and paid per day."""
        figure = go.Figure()
        for step in self.steps:
            if step.key in ("won", "ordered", "invoiced", "paid"):
                figure.add_trace(go.Scatter(
                    x=self.day_labels, y=self.day_series.get(step.key, []), name=step.label, mode="lines+markers",
                    hovertemplate="%{x}<br>%{y} " + step.label.lower() + "<extra></extra>",
                ))  # fmt: skip
        figure.update_layout(
            height=260, margin={"l": 40, "r": 10, "t": 10, "b": 30}, plot_bgcolor="rgba(0,0,0,0)",
            paper_bgcolor="rgba(0,0,0,0)", xaxis={"type": "date", "showgrid": False},
            yaxis={"rangemode": "tozero", "gridcolor": "#eee"}, legend={"orientation": "h", "y": -0.2},
        )  # fmt: skip
        return figure

    @rx.var
    def mismatch_figure(self) -> go.Figure:
        figure = go.Figure(go.Scatter(
            x=self.mismatch_at, y=self.mismatch_open, mode="lines", line={"color": "#e5484d", "shape": "hv"},
            hovertemplate="%{x}<br>%{y} open<extra></extra>",
        ))  # fmt: skip
        figure.update_layout(
            height=180, margin={"l": 40, "r": 10, "t": 10, "b": 30}, plot_bgcolor="rgba(0,0,0,0)",
            paper_bgcolor="rgba(0,0,0,0)", xaxis={"type": "date", "showgrid": False},
            yaxis={"rangemode": "tozero", "gridcolor": "#eee"},
        )  # fmt: skip
        return figure

    @rx.var
    def period_label(self) -> str:
        return PERIODS.get(self.period, PERIODS[DEFAULT_PERIOD])[0]

    async def _fetch(self) -> None:
        try:
            loaded = await asyncio.to_thread(_load, self.period)
        except SQLAlchemyError as exc:
            self.error = ledger_error(exc)
            return
        self.error, self.loaded = "", True
        labels = [step.label for step in loaded.steps]
        self.steps = [_step(step, labels[i - 1] if i else "") for i, step in enumerate(loaded.steps)]
        self.cycles = [_cycle(cycle) for cycle in loaded.cycles]
        risk = loaded.risk
        self.held_deals, self.held_amount = risk.held_deals, money(float(risk.held_amount)) or "0"
        self.overdue_invoices, self.overdue_amount = risk.overdue_invoices, money(float(risk.overdue_amount)) or "0"
        self.day_labels = [day.day.isoformat() for day in loaded.days]
        self.day_series = {
            key: [day.counts.get(key, 0) for day in loaded.days] for key, _, _ in revenue.FUNNEL
        }
        self.mismatch_at = [iso(at) for at, _ in loaded.mismatches]
        self.mismatch_open = [n for _, n in loaded.mismatches]

    @rx.event
    @requires(Role.VIEWER)
    async def on_load(self) -> None:
        wanted = str(self.router.url.query_parameters.get("period", "") or DEFAULT_PERIOD)
        self.period = wanted if wanted in PERIODS else DEFAULT_PERIOD
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def refresh(self) -> None:
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def set_period(self, period: str) -> None:
        self.period = period if period in PERIODS else DEFAULT_PERIOD
        await self._fetch()
