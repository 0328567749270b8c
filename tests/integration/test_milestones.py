"""Milestones and the hops they measure, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from sync_core.persistence.database import snapshot, transaction
from sync_core.persistence.tables import Hop, TraceSpan
from sync_core.services import ledger_engine, trace

T = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def test_a_milestone_is_recorded_once_and_measures_its_hop(ledger_url: str) -> None:
    engine = ledger_engine(ledger_url)
    with transaction(engine) as session:
        assert trace.milestone(session, "story-1", "deal.won", "sales", T)
        assert trace.milestone(session, "story-1", "order.confirmed", "erp", T + timedelta(seconds=90))
        assert not trace.milestone(session, "story-1", "order.confirmed", "erp", T + timedelta(seconds=99))
    with snapshot(engine) as session:
        (hop,) = session.execute(select(Hop)).scalars()
    assert (hop.hop, hop.seconds) == ("order_creation", 90.0)


def test_a_step_another_system_stamps_before_the_one_it_follows_ends_when_that_began(ledger_url: str) -> None:
    """Sales' clock may run behind ours: a lead worked 'before' Revline saw it created is worked then."""
    engine = ledger_engine(ledger_url)
    with transaction(engine) as session:
        trace.milestone(session, "story-2", "lead.created", "sales", T)
        trace.milestone(session, "story-2", "lead.first_activity", "sales", T - timedelta(seconds=3))
    with snapshot(engine) as session:
        spans = session.execute(select(TraceSpan.name, TraceSpan.started_at).order_by(TraceSpan.id)).all()
        (hop,) = session.execute(select(Hop)).scalars()
    assert [tuple(span) for span in spans] == [("lead.created", T), ("lead.first_activity", T)]
    assert (hop.hop, hop.seconds) == ("lead_response", 0.0)
