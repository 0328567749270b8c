"""Lead-to-cash metrics for the console and /metrics: hop times, hourly roll-ups, invoice sync
accuracy and the money held in the repair queue.

Hops are measured when their closing milestone is recorded (services/trace.py), one row per
deal and hop, so a period's figures read only that period's rows (index on hop, ended_at).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from statistics import fmean
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, Engine, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core.persistence import ledger
from sync_core.persistence.database import snapshot
from sync_core.persistence.tables import Hop, OutboundOp, Shadow, op_status_is
from sync_core.services import closed_won, trace
from sync_core.services.policy import load

_SHADOWS = Shadow.__table__  # type: ignore[attr-defined]
# What a CRM shows of an invoice, compared with the ERP's for invoice sync accuracy.
INVOICE_FIELDS = ("invoice_number", "invoice_status", "payment_status", "amount_paid", "amount_overdue")


@dataclass(frozen=True)
class HopStats:
    """How long one hop took over a period."""

    hop: str
    count: int
    p50: float | None
    p95: float | None
    mean: float | None


@dataclass(frozen=True)
class HourlyPoint:
    hour: datetime
    count: int
    mean: float


def _quantile(ordered: Sequence[float], q: float) -> float | None:
    """The nearest-rank quantile of sorted values."""
    if not ordered:
        return None
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return ordered[rank - 1]


def hop_stats(engine: Engine, since: datetime, until: datetime) -> dict[str, HopStats]:
    """Every hop's count, median, 95th percentile and mean (seconds) for hops that ended in [since, until).

    PostgreSQL computes them (nearest-rank percentiles are its percentile_disc), so a month of a busy
    ledger's hops never leaves the database; on SQLite the durations are read and ranked here.
    """
    period = (col(Hop.ended_at) >= since, col(Hop.ended_at) < until)
    with snapshot(engine) as session:
        if session.get_bind().dialect.name == "postgresql":
            summed: Sequence[Any] = session.execute(
                select(
                    col(Hop.hop), func.count(), func.percentile_disc(0.5).within_group(col(Hop.seconds)),
                    func.percentile_disc(0.95).within_group(col(Hop.seconds)), func.avg(col(Hop.seconds)),
                ).where(*period).group_by(col(Hop.hop))
            ).all()  # fmt: skip
            found = {str(hop): HopStats(str(hop), int(n), float(p50), float(p95), float(mean))
                     for hop, n, p50, p95, mean in summed}  # fmt: skip
            return {hop: found.get(hop, HopStats(hop, 0, None, None, None)) for hop in trace.HOPS} | found
        rows = session.execute(select(col(Hop.hop), col(Hop.seconds)).where(*period)).all()
    by_hop: dict[str, list[float]] = {hop: [] for hop in trace.HOPS}
    for hop, seconds in rows:
        by_hop.setdefault(str(hop), []).append(float(seconds))
    result = {}
    for hop, values in by_hop.items():
        values.sort()
        result[hop] = HopStats(hop, len(values), _quantile(values, 0.5), _quantile(values, 0.95),
                               fmean(values) if values else None)  # fmt: skip
    return result


def hourly(engine: Engine, hop: str, since: datetime, until: datetime) -> list[HourlyPoint]:
    """The hop's count and mean duration per hour it ended in, oldest first (hours without any left out);
    grouped in SQL, one row per hour."""
    with snapshot(engine) as session:
        bucket = _hour(session).label("hour")
        rows: Sequence[Any] = session.execute(
            select(bucket, func.count(), func.avg(col(Hop.seconds)))
            .where(col(Hop.hop) == hop, col(Hop.ended_at) >= since, col(Hop.ended_at) < until)
            .group_by(bucket)
        ).all()
    points = [HourlyPoint(_as_hour(hour), int(n), float(mean)) for hour, n, mean in rows]
    return sorted(points, key=lambda point: point.hour)


def _hour(session: Session) -> ColumnElement[Any]:
    """`hop.ended_at` truncated to the hour, in UTC, on this database."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%d %H:00:00", col(Hop.ended_at))
    if dialect == "postgresql":
        return func.date_trunc("hour", col(Hop.ended_at), "UTC")
    raise NotImplementedError(f"hour buckets are not written for {dialect}")


def _as_hour(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite hands back text, in UTC
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class InvoiceAccuracy:
    """Of the ERP's invoiced orders, how many show the same invoice state in every CRM."""

    invoiced: int
    matching: int

    @property
    def share(self) -> float | None:
        return self.matching / self.invoiced if self.invoiced else None


def invoice_sync_accuracy(engine: Engine, batch: int = 1000) -> InvoiceAccuracy:
    """Compare every invoiced ERP order's invoice fields with the deal in each CRM, in pages."""
    with snapshot(engine) as session:
        found = closed_won.roles(load(session, "deal"))
        if found is None:
            return InvoiceAccuracy(0, 0)
        crms = [s for s in load(session, "deal").systems if s != found.erp]
        invoiced = matching = 0
        after = ""
        while True:
            page = session.execute(
                select(col(Shadow.canonical_id), col(Shadow.seen)).where(
                    col(Shadow.system) == found.erp, col(Shadow.object_type) == "deal", col(Shadow.canonical_id) > after
                ).order_by(col(Shadow.canonical_id)).limit(batch)
            ).all()  # fmt: skip
            if not page:
                break
            after = str(page[-1][0])
            erp = {str(cid): seen for cid, seen in page if isinstance(seen, dict) and seen.get("invoice_number")}
            others = ledger.shadows(session, list(erp))
            for cid, values in erp.items():
                invoiced += 1
                wanted = {f: values.get(f) for f in INVOICE_FIELDS if f in values}
                shown = [others.get((cid, crm)) for crm in crms]
                if all(s is not None and all(_same(s.seen.get(f), v) for f, v in wanted.items()) for s in shown):
                    matching += 1
        return InvoiceAccuracy(invoiced, matching)


def _same(a: Any, b: Any) -> bool:
    return (a in (None, "") and b in (None, "")) or a == b


@dataclass(frozen=True)
class MoneyHeld:
    """Deals whose order waits in the repair queue, and the sum of their amounts, per reason."""

    deals: int
    amount: Decimal
    by_category: dict[str, Decimal]


def money_held(engine: Engine) -> MoneyHeld:
    """The amounts of won deals whose order is held (a dead letter), as sales has them."""
    with snapshot(engine) as session:
        found = closed_won.roles(load(session, "deal"))
        if found is None:
            return MoneyHeld(0, Decimal(0), {})
        # The held orders come from an index of dead ops alone; each brings only its deal's amount along.
        shadow = _SHADOWS
        its_deal = (shadow.c.canonical_id == col(OutboundOp.canonical_id)) & (shadow.c.system == found.sales)
        held = session.execute(
            select(col(OutboundOp.error_category), shadow.c.seen["amount"].as_string())
            .select_from(OutboundOp)
            .outerjoin(shadow, its_deal)
            .where(op_status_is("dead"), col(OutboundOp.operation) == closed_won.PLACE)
        ).all()
    by_category: dict[str, Decimal] = {}
    for category, amount in held:
        by_category[str(category)] = by_category.get(str(category), Decimal(0)) + _decimal(amount)
    return MoneyHeld(len(held), sum(by_category.values(), Decimal(0)), by_category)


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


class LeadToCashCollector(Collector):
    """Lead-to-cash figures as Prometheus metric families (the last 24 hours for hop times)."""

    def __init__(self, engine: Engine, now: datetime) -> None:
        self.engine = engine
        self.now = now

    def collect(self) -> Iterator[Metric]:
        stats = hop_stats(self.engine, self.now - timedelta(days=1), self.now + timedelta(seconds=1))
        seconds = GaugeMetricFamily("revline_hop_seconds", "Lead-to-cash hop durations over the last 24 hours.",
                                    labels=["hop", "quantile"])  # fmt: skip
        count = GaugeMetricFamily("revline_hops", "Lead-to-cash hops completed in the last 24 hours.", labels=["hop"])
        for hop, figures in stats.items():
            count.add_metric([hop], figures.count)
            for label, value in (("0.5", figures.p50), ("0.95", figures.p95)):
                if value is not None:
                    seconds.add_metric([hop, label], value)
        yield from (seconds, count)
        accuracy = invoice_sync_accuracy(self.engine)
        share = GaugeMetricFamily("revline_invoice_sync_accuracy",
                                  "Share of invoiced ERP orders whose invoice state matches in every CRM.")
        if accuracy.share is not None:
            share.add_metric([], accuracy.share)
        yield share
        held = money_held(self.engine)
        money = GaugeMetricFamily("revline_repair_money_held", "Sum of deal amounts whose order is held for repair.",
                                  labels=["category"])  # fmt: skip
        for category, amount in held.by_category.items():
            money.add_metric([category], float(amount))
        yield money

