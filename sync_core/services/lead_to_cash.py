"""Lead-to-cash metrics for the console and /metrics: hop times, hourly roll-ups, invoice sync
accuracy and the money held in the repair queue.

Hops are measured when their closing milestone is recorded (services/trace.py), one row per
deal and hop, so a period's figures read only that period's rows (index on hop, ended_at).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from statistics import fmean
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, select
from sqlmodel import col

from sync_core.persistence import ledger
from sync_core.persistence.database import snapshot
from sync_core.persistence.tables import Hop, OutboundOp, Shadow, op_status_is
from sync_core.services import closed_won, trace
from sync_core.services.policy import load

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
    """Every hop's count, median, 95th percentile and mean (seconds) for hops that ended in [since, until)."""
    with snapshot(engine) as session:
        rows = session.execute(
            select(col(Hop.hop), col(Hop.seconds)).where(col(Hop.ended_at) >= since, col(Hop.ended_at) < until)
        ).all()
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
    """The hop's count and mean duration per hour it ended in, oldest first (hours without any left out)."""
    with snapshot(engine) as session:
        rows = session.execute(
            select(col(Hop.ended_at), col(Hop.seconds)).where(
                col(Hop.hop) == hop, col(Hop.ended_at) >= since, col(Hop.ended_at) < until
            )
        ).all()
    buckets: dict[datetime, list[float]] = {}
    for ended, seconds in rows:
        buckets.setdefault(ended.replace(minute=0, second=0, microsecond=0), []).append(float(seconds))
    return [HourlyPoint(hour, len(values), fmean(values)) for hour, values in sorted(buckets.items())]


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
        held = session.execute(
            select(col(OutboundOp.canonical_id), col(OutboundOp.error_category)).where(
                op_status_is("dead"), col(OutboundOp.operation) == closed_won.PLACE
            )
        ).all()
        states = ledger.shadows(session, [str(cid) for cid, _ in held], found.sales)
    by_category: dict[str, Decimal] = {}
    for cid, category in held:
        shadow = states.get((str(cid), found.sales))
        amount = _decimal(shadow.seen.get("amount")) if shadow else Decimal(0)
        by_category[str(category)] = by_category.get(str(category), Decimal(0)) + amount
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

