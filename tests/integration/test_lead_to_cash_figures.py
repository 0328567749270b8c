"""The lead-to-cash figures (hop times, hourly trends, money held) from known rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine

from console.presets import install_lead_to_cash
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import Hop, OutboundOp, Shadow
from sync_core.services import closed_won, lead_to_cash, ledger_engine

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def _nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(q * len(ordered)) - 1]


def _hops(engine: Engine, hop: str, ends: list[tuple[datetime, float]]) -> None:
    with transaction(engine) as session:
        session.add_all(
            Hop(correlation_id=str(uuid.uuid4()), hop=hop, started_at=end - timedelta(seconds=seconds), ended_at=end,
                seconds=seconds)
            for end, seconds in ends
        )  # fmt: skip


def test_hop_times_are_counts_nearest_rank_percentiles_and_means_of_the_period(ledger_url: str) -> None:
    engine = ledger_engine(ledger_url)
    handoff = [float(s) for s in (12, 3, 45, 7, 7, 30, 1, 90, 18, 5, 60, 2, 9, 14, 21, 33, 4, 8, 600, 11, 6)]
    _hops(engine, "lead_handoff", [(T0 + timedelta(minutes=i), s) for i, s in enumerate(handoff)])
    _hops(engine, "order_creation", [(T0 + timedelta(minutes=1), 120.0), (T0 + timedelta(minutes=2), 360.0)])
    _hops(engine, "lead_handoff", [(T0 - timedelta(days=2), 5000.0), (T0 + timedelta(days=2), 7000.0)])  # outside

    stats = lead_to_cash.hop_stats(engine, T0 - timedelta(hours=1), T0 + timedelta(days=1))

    assert list(stats)[:5] == ["lead_handoff", "lead_response", "order_creation", "time_to_invoice", "time_to_cash"]
    handoff_stats = stats["lead_handoff"]
    assert handoff_stats.count == len(handoff)
    assert handoff_stats.p50 == _nearest_rank(handoff, 0.5) == 11.0
    assert handoff_stats.p95 == _nearest_rank(handoff, 0.95) == 90.0
    assert handoff_stats.mean is not None
    assert math.isclose(handoff_stats.mean, sum(handoff) / len(handoff))
    orders = stats["order_creation"]
    assert (orders.count, orders.p50, orders.p95) == (2, 120.0, 360.0)
    assert stats["time_to_cash"] == lead_to_cash.HopStats("time_to_cash", 0, None, None, None)


def test_hourly_trend_has_one_point_per_hour_with_hops_in_utc(ledger_url: str) -> None:
    engine = ledger_engine(ledger_url)
    _hops(engine, "order_creation", [
        (T0 + timedelta(minutes=5), 100.0), (T0 + timedelta(minutes=59, seconds=59), 300.0),
        (T0 + timedelta(hours=1, minutes=10), 50.0), (T0 + timedelta(hours=3), 10.0),
    ])  # fmt: skip
    _hops(engine, "lead_handoff", [(T0 + timedelta(minutes=5), 9.0)])

    points = lead_to_cash.hourly(engine, "order_creation", T0, T0 + timedelta(hours=3))

    assert [(p.hour, p.count, p.mean) for p in points] == [
        (T0, 2, 200.0), (T0 + timedelta(hours=1), 1, 50.0)
    ]  # the hop ending at 13:00 is outside [10:00, 13:00)
    assert all(p.hour.tzinfo is not None and p.hour.utcoffset() == timedelta(0) for p in points)


def test_money_held_sums_the_sales_amounts_of_held_orders_by_category(ledger_url: str) -> None:
    engine = ledger_engine(ledger_url)
    install_lead_to_cash(engine)
    deals = [str(uuid.uuid4()) for _ in range(4)]
    with transaction(engine) as session:
        for n, (cid, status, category) in enumerate([
            (deals[0], "dead", "approval_required"), (deals[1], "dead", "mapping"), (deals[2], "dead", "mapping"),
            (deals[3], "done", None),
        ]):  # fmt: skip
            session.add(OutboundOp(
                idempotency_key=uuid.uuid4().hex, target_system="erp", object_type="deal", canonical_id=cid,
                operation=closed_won.PLACE, source_system="salesforce", source_id=f"006{n}", source_version="1",
                status=status, next_attempt_at=T0, error_category=category, correlation_id=cid, created_at=T0,
                updated_at=T0,
            ))  # fmt: skip
        amounts = {deals[0]: 2000, deals[1]: "1250.50", deals[3]: 999}  # deals[2]: no shadow in sales yet
        for cid, amount in amounts.items():
            session.add(Shadow(canonical_id=cid, system="salesforce", object_type="deal",
                               seen={"name": "Deal", "amount": amount}, updated_at=T0))  # fmt: skip
            session.add(Shadow(canonical_id=cid, system="hubspot", object_type="deal", seen={"amount": 1},
                               updated_at=T0))  # fmt: skip

    held = lead_to_cash.money_held(engine)

    assert held.deals == 3
    assert held.by_category == {"approval_required": Decimal(2000), "mapping": Decimal("1250.50")}
    assert held.amount == Decimal("3250.50")
