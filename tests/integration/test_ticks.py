"""Three tickers on one ledger fire each schedule once per firing."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from sync_core.persistence.database import transaction
from sync_core.persistence.tables import AuditLog, Tick
from sync_core.scheduling import Schedule, fire, fire_time
from sync_core.services import ledger_engine


def _record_firing(session: Session, at: datetime) -> None:
    session.add(AuditLog(at=at, actor="ticker", action="probe.fired", subject=at.isoformat(), details={}))


PROBE = Schedule("probe", 1.0, _record_firing)


_TICKER_PROCESS = """
import sys, time
from sync_core.persistence.tables import AuditLog
from sync_core.scheduling import Schedule, Ticker
from sync_core.services import ledger_engine

def record(session, at):
    session.add(AuditLog(at=at, actor=sys.argv[2], action="probe.fired", subject=at.isoformat(), details={}))

ticker = Ticker(ledger_engine(sys.argv[1]), [Schedule("probe", 1.0, record)], sys.argv[2])
ticker.start()
time.sleep(float(sys.argv[3]))
ticker.stop()
"""


def test_fire_time_names_the_same_firing_in_every_process() -> None:
    base = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert fire_time(5, base + timedelta(milliseconds=40)) == base
    assert fire_time(5, base - timedelta(milliseconds=40)) == base
    assert fire_time(5, base + timedelta(seconds=3)) == base + timedelta(seconds=5)


def test_a_firing_runs_once_however_many_workers_claim_it(ledger_url: str) -> None:
    engine = ledger_engine(ledger_url)
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    claimed = [fire(engine, PROBE, f"worker-{n}", now + timedelta(milliseconds=10 * n)) for n in range(3)]
    assert claimed == [True, False, False]
    with transaction(engine) as session:
        assert len(session.scalars(select(AuditLog)).all()) == 1


@pytest.mark.postgres
def test_three_worker_processes_fire_each_schedule_once(pg_database: str) -> None:
    from sync_core.persistence.migrate import upgrade

    upgrade(pg_database)
    processes = [
        subprocess.Popen([sys.executable, "-c", _TICKER_PROCESS, pg_database, f"w{n}", "4.5"]) for n in range(3)
    ]
    for process in processes:
        assert process.wait(30) == 0
    with transaction(ledger_engine(pg_database)) as session:
        ticks = session.execute(select(Tick.fire_at, Tick.worker_id).where(Tick.schedule == "probe")).all()
        fired = Counter(session.scalars(select(AuditLog.subject).where(AuditLog.action == "probe.fired")))
    assert len(ticks) >= 3
    assert set(fired.values()) == {1}, "a firing ran more than once"
    assert sorted(fired) == sorted(at.isoformat() for at, _ in ticks)
    assert len({at for at, _ in ticks}) == len(ticks)
