"""The lead-to-cash view for executives: the funnel of a period, cycle times against their SLA targets,
revenue at risk, and the trend by day.

Every figure is a grouped count over an indexed, small row per event (milestone spans, measured hops,
links), so a period's view costs the same with a million operations in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, Float, case, cast, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from sync_core.persistence.database import snapshot
from sync_core.persistence.tables import EntityLink, Hop, Shadow, TraceSpan
from sync_core.services import closed_won, lead_to_cash
from sync_core.services.policy import load

# The funnel's steps: (key, label, the milestone a record reaches it by; None: a contact Revline first linked).
FUNNEL: tuple[tuple[str, str, str | None], ...] = (
    ("contacts", "Contacts", None),
    ("qualified", "Qualified leads", "lead.qualified"),
    ("opportunities", "Opportunities", "lead.converted"),
    ("won", "Won", "deal.won"),
    ("ordered", "Ordered", "order.confirmed"),
    ("invoiced", "Invoiced", "invoice.posted"),
    ("paid", "Paid", "payment.received"),
)
# Each hop's target: the time it should take, and what it measures.
SLA_TARGETS: dict[str, tuple[float, str]] = {
    "lead_handoff": (300.0, "Qualified in marketing to lead in sales"),
    "lead_response": (3600.0, "Lead in sales to the first activity on it"),
    "order_creation": (3600.0, "Deal won to confirmed order"),
    "time_to_invoice": (2 * 86400.0, "Order confirmed to invoice posted"),
    "time_to_cash": (30 * 86400.0, "Invoice posted to payment received"),
}


@dataclass(frozen=True)
class FunnelStep:
    key: str
    label: str
    count: int
    rate: float | None  # of the step before; None for the first step or after an empty one


@dataclass(frozen=True)
class CycleTime:
    """One hop over the period: how many ended, how long they took, how many within the target."""

    hop: str
    label: str
    target_seconds: float
    count: int
    within: int
    p50: float | None
    p95: float | None

    @property
    def attainment(self) -> float | None:
        return self.within / self.count if self.count else None


@dataclass(frozen=True)
class RevenueAtRisk:
    held_deals: int
    held_amount: Decimal  # won deals whose order waits in the repair queue
    overdue_invoices: int
    overdue_amount: Decimal  # open invoice amounts past their due date, as the ERP has them


@dataclass(frozen=True)
class DayCounts:
    day: date
    counts: dict[str, int]  # funnel key -> records that reached it that day


def funnel(engine: Engine, since: datetime, until: datetime) -> list[FunnelStep]:
    """How many records reached each step in [since, until), and the rate from the step before."""
    milestones = [m for _, _, m in FUNNEL if m]
    with snapshot(engine) as session:
        reached = dict(
            session.execute(
                select(col(TraceSpan.name), func.count()).where(
                    col(TraceSpan.name).in_(milestones), col(TraceSpan.started_at) >= since,
                    col(TraceSpan.started_at) < until,
                ).group_by(col(TraceSpan.name))
            ).all()
        )  # fmt: skip
        contacts = session.execute(
            select(func.count(func.distinct(col(EntityLink.canonical_id)))).where(
                col(EntityLink.object_type) == "contact", col(EntityLink.created_at) >= since,
                col(EntityLink.created_at) < until,
            )
        ).scalar_one()  # fmt: skip
    steps: list[FunnelStep] = []
    before: int | None = None
    for key, label, milestone in FUNNEL:
        count = int(contacts) if milestone is None else int(reached.get(milestone, 0))
        steps.append(FunnelStep(key, label, count, count / before if before else None))
        before = count
    return steps


def cycle_times(engine: Engine, since: datetime, until: datetime) -> list[CycleTime]:
    """Each hop that ended in [since, until): count, median, 95th percentile and attainment of its target."""
    stats = lead_to_cash.hop_stats(engine, since, until)
    targets = case(*((col(Hop.hop) == hop, seconds) for hop, (seconds, _) in SLA_TARGETS.items()), else_=None)
    with snapshot(engine) as session:
        within = dict(
            session.execute(
                select(col(Hop.hop), func.count()).where(
                    col(Hop.ended_at) >= since, col(Hop.ended_at) < until, col(Hop.seconds) <= targets
                ).group_by(col(Hop.hop))
            ).all()
        )  # fmt: skip
    return [
        CycleTime(hop, label, seconds, stats[hop].count, int(within.get(hop, 0)), stats[hop].p50, stats[hop].p95)
        for hop, (seconds, label) in SLA_TARGETS.items()
        if hop in stats
    ]


def revenue_at_risk(engine: Engine) -> RevenueAtRisk:
    """Money the flow is holding back now: orders blocked in repair, and invoices overdue in the ERP."""
    held = lead_to_cash.money_held(engine)
    with snapshot(engine) as session:
        found = closed_won.roles(load(session, "deal"))
        count, amount = (0, None) if found is None else _overdue(session, found.erp)
    return RevenueAtRisk(held.deals, held.amount, count, Decimal(str(amount or 0)).quantize(Decimal("0.01")))


def _overdue(session: Session, erp: str) -> tuple[int, float | None]:
    overdue = cast(col(Shadow.seen)["amount_overdue"].as_string(), Float)
    row = session.execute(
        select(func.count(), func.sum(overdue)).where(
            col(Shadow.system) == erp, col(Shadow.object_type) == "deal", overdue > 0
        )
    ).one()
    return int(row[0]), row[1]


def by_day(engine: Engine, since: datetime, until: datetime) -> list[DayCounts]:
    """Records reaching each step per day in [since, until), every day listed, oldest first."""
    milestones = {m: key for key, _, m in FUNNEL if m}
    counts: dict[date, dict[str, int]] = {}
    with snapshot(engine) as session:
        day = _day(session, col(TraceSpan.started_at)).label("day")
        rows = session.execute(
            select(day, col(TraceSpan.name), func.count()).where(
                col(TraceSpan.name).in_(list(milestones)), col(TraceSpan.started_at) >= since,
                col(TraceSpan.started_at) < until,
            ).group_by(day, col(TraceSpan.name))
        ).all()  # fmt: skip
        link_day = _day(session, col(EntityLink.created_at)).label("day")
        contacts = session.execute(
            select(link_day, func.count(func.distinct(col(EntityLink.canonical_id)))).where(
                col(EntityLink.object_type) == "contact", col(EntityLink.created_at) >= since,
                col(EntityLink.created_at) < until,
            ).group_by(link_day)
        ).all()  # fmt: skip
    for when, name, n in rows:
        counts.setdefault(_as_day(when), {})[milestones[str(name)]] = int(str(n))
    for when, n in contacts:
        counts.setdefault(_as_day(when), {})["contacts"] = int(str(n))
    first, last = since.astimezone(UTC).date(), (until - timedelta(microseconds=1)).astimezone(UTC).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [DayCounts(d, counts.get(d, {})) for d in days]


def _day(session: Session, column: Any) -> ColumnElement[Any]:
    """`column` truncated to its UTC day on this database."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%d", column)
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    raise NotImplementedError(f"day buckets are not written for {dialect}")


def _as_day(value: Any) -> date:
    return date.fromisoformat(str(value)[:10])
