"""The lead-to-cash view's figures on SQLite and PostgreSQL: funnel, cycle times against targets,
revenue at risk and the trend by day, over ledger rows as the flows leave them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from sync_core.domain.mapping import identity_mapping
from sync_core.domain.ownership import FieldRule, Rule
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import EntityLink, Hop, OutboundOp, Shadow, TraceSpan
from sync_core.services import closed_won, ledger_engine, policy, revenue

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WEEK_AGO = NOW - timedelta(days=7)


def _span(name: str, at: datetime) -> TraceSpan:
    return TraceSpan(correlation_id=str(uuid.uuid4()), name=name, system="sales", started_at=at, ended_at=at)


def _hop(hop: str, seconds: float, ended: datetime) -> Hop:
    return Hop(correlation_id=str(uuid.uuid4()), hop=hop, started_at=ended - timedelta(seconds=seconds),
               ended_at=ended, seconds=seconds)  # fmt: skip


def _contact(at: datetime, system: str = "marketing", canonical: str | None = None) -> EntityLink:
    return EntityLink(canonical_id=canonical or str(uuid.uuid4()), object_type="contact", system=system,
                      external_id=uuid.uuid4().hex, created_at=at)  # fmt: skip


def _erp_deal(overdue: float | None) -> Shadow:
    return Shadow(canonical_id=str(uuid.uuid4()), system="erp", object_type="deal", seen={"amount_overdue": overdue},
                  updated_at=NOW)  # fmt: skip


@pytest.fixture
def engine(ledger_url: str) -> Engine:
    engine = ledger_engine(ledger_url)
    policy.save_mappings(engine, [
        identity_mapping("sales", "deal", ("name", "amount", "stage")),
        identity_mapping("erp", "deal", ("order_number", "amount_overdue")),
    ], "test")  # fmt: skip
    policy.save_rules(engine, "deal", [
        FieldRule("stage", Rule.ALWAYS_OWNER, "sales"), FieldRule("amount", Rule.OWNER_UNLESS_BLANK, "sales"),
        FieldRule("order_number", Rule.ALWAYS_OWNER, "erp"),
    ], "test")  # fmt: skip
    day = timedelta(days=1)
    shared = str(uuid.uuid4())  # one person, linked in two systems: one contact
    rows = [
        *(_contact(NOW - 2 * day) for _ in range(9)), _contact(NOW - day, "marketing", shared),
        _contact(NOW - day, "sales", shared), _contact(NOW - 30 * day),
        *(_span("lead.qualified", NOW - 2 * day) for _ in range(5)),
        *(_span("lead.converted", NOW - day) for _ in range(4)),
        *(_span("deal.won", NOW - day) for _ in range(2)), _span("deal.won", NOW - 8 * day),
        _span("order.confirmed", NOW - timedelta(hours=2)),
        _hop("order_creation", 600, NOW - day), _hop("order_creation", 5000, NOW - day),
        _hop("order_creation", 100, NOW - 9 * day), _hop("lead_handoff", 30, NOW - day),
        _erp_deal(1200.5), _erp_deal(99.5), _erp_deal(0), _erp_deal(None),
    ]  # fmt: skip
    with transaction(engine) as session:
        session.add_all(rows)
        session.add(OutboundOp(
            idempotency_key=uuid.uuid4().hex, target_system="erp", object_type="deal", canonical_id=shared,
            source_system="sales", source_id="OPP-1", source_version="1", operation=closed_won.PLACE, payload={},
            status="dead", error_category="missing_product", next_attempt_at=NOW, correlation_id=shared,
            created_at=NOW, updated_at=NOW,
        ))  # fmt: skip
        session.add(Shadow(canonical_id=shared, system="sales", object_type="deal", seen={"amount": 4000},
                           updated_at=NOW))  # fmt: skip
    return engine


def test_the_funnel_counts_what_reached_each_step_in_the_period(engine: Engine) -> None:
    steps = revenue.funnel(engine, WEEK_AGO, NOW)
    assert [(s.key, s.count) for s in steps] == [
        ("contacts", 10), ("qualified", 5), ("opportunities", 4), ("won", 2), ("ordered", 1), ("invoiced", 0),
        ("paid", 0),
    ]  # fmt: skip
    assert [s.rate for s in steps] == [None, 0.5, 0.8, 0.5, 0.5, 0.0, None]


def test_cycle_times_measure_each_hop_against_its_target(engine: Engine) -> None:
    cycles = {c.hop: c for c in revenue.cycle_times(engine, WEEK_AGO, NOW)}
    order = cycles["order_creation"]  # target an hour: 600 s within, 5,000 s not; the 9-day-old one is outside
    assert (order.count, order.within, order.attainment, order.target_seconds) == (2, 1, 0.5, 3600.0)
    assert (order.p50, order.p95) == (600.0, 5000.0)
    assert cycles["lead_handoff"].attainment == 1.0
    assert cycles["time_to_cash"].count == 0
    assert cycles["time_to_cash"].attainment is None


def test_revenue_at_risk_sums_held_orders_and_overdue_invoices(engine: Engine) -> None:
    risk = revenue.revenue_at_risk(engine)
    assert (risk.held_deals, risk.held_amount) == (1, Decimal(4000))
    assert (risk.overdue_invoices, risk.overdue_amount) == (2, Decimal("1300.00"))


def test_by_day_lists_every_day_of_the_period(engine: Engine) -> None:
    days = revenue.by_day(engine, NOW - timedelta(days=3), NOW)
    assert [d.day.isoformat() for d in days] == ["2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"]
    assert [d.counts for d in days] == [
        {},
        {"contacts": 9, "qualified": 5},
        {"contacts": 1, "opportunities": 4, "won": 2},
        {"ordered": 1},
    ]
