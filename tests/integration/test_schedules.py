"""Running tickers follow the schedule table: pause, resume, a new interval and run now, once across workers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core.domain.schedules import EPOCH
from sync_core.persistence.database import snapshot
from sync_core.persistence.tables import AuditLog, Tick
from sync_core.scheduling import Schedule, Ticker, fire
from sync_core.services import ledger_engine, schedules

T = TypeVar("T")
FOLLOW = 0.2  # the tickers here look at the table five times a second


def _record_firing(session: Session, at: datetime) -> None:
    session.add(AuditLog(at=at, actor="ticker", action="probe.fired", subject=at.isoformat(), details={}))


def _fail(_session: Session, _at: datetime) -> None:
    raise RuntimeError("the probe broke")


PROBE = Schedule("probe", 1.0, _record_firing)


def _ticks(engine: Engine, name: str = "probe") -> list[Tick]:
    with snapshot(engine) as session:
        return list(session.scalars(select(Tick).where(col(Tick.schedule) == name).order_by(col(Tick.fire_at))))


def _fired(engine: Engine) -> list[str]:
    with snapshot(engine) as session:
        return list(session.scalars(select(AuditLog.subject).where(col(AuditLog.action) == "probe.fired")))


def _wait_for(what: str, found: Callable[[], T], timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while not (value := found()):
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f}s for {what}")
        time.sleep(0.1)
    return value


@pytest.fixture
def engine(ledger_url: str) -> Engine:
    return ledger_engine(ledger_url)


@pytest.fixture
def tickers(engine: Engine) -> Iterator[Callable[[str], Ticker]]:
    started: list[Ticker] = []

    def start(worker: str) -> Ticker:
        ticker = Ticker(engine, [PROBE], worker, follow_seconds=FOLLOW)
        ticker.start()
        started.append(ticker)
        return ticker

    yield start
    for ticker in started:
        ticker.stop()


def _audits(engine: Engine, action: str) -> list[AuditLog]:
    with snapshot(engine) as session:
        return list(session.scalars(select(AuditLog).where(col(AuditLog.action) == action)))


def test_a_running_ticker_pauses_resumes_and_takes_a_new_interval(
    engine: Engine, tickers: Callable[[str], Ticker]
) -> None:
    tickers("w1")
    assert schedules.settings(engine)["probe"].seconds == 1.0  # seeded from the code's default
    _wait_for("two firings", lambda: len(_ticks(engine)) >= 2)

    assert schedules.pause(engine, "probe", "ada")
    assert not schedules.pause(engine, "probe", "ada")  # paused already: nothing to do, nothing audited
    time.sleep(3 * FOLLOW + 0.5)  # the ticker's next look at the table (and a firing under way then)
    paused_at = len(_ticks(engine))
    time.sleep(2.5)
    assert len(_ticks(engine)) == paused_at, "a paused schedule fired"

    assert schedules.resume(engine, "probe", "ada")
    _wait_for("firings after the resume", lambda: len(_ticks(engine)) >= paused_at + 2)

    assert schedules.set_interval(engine, "probe", 2.0, "ada")
    time.sleep(3 * FOLLOW + 0.5)
    changed_at = datetime.now(UTC)
    later = _wait_for(
        "two firings on the new interval", lambda: [t.fire_at for t in _ticks(engine) if t.fire_at > changed_at][:2]
        if len([t for t in _ticks(engine) if t.fire_at > changed_at]) >= 2 else None, timeout=10,
    )  # fmt: skip
    assert later[1] - later[0] == timedelta(seconds=2)
    assert all((at - EPOCH).total_seconds() % 2 == 0 for at in later)
    assert all(t.outcome == "ok" and t.worker_id == "w1" for t in _ticks(engine))
    assert len(_fired(engine)) == len(_ticks(engine))  # every firing ran its action once

    paused, resumed = _audits(engine, "schedule.paused"), _audits(engine, "schedule.resumed")
    interval = _audits(engine, "schedule.interval_changed")
    assert [(a.actor, a.subject, a.details) for a in paused] == [
        ("ada", "schedule:probe", {"before": {"paused": False}, "after": {"paused": True}})
    ]
    assert [a.details for a in resumed] == [{"before": {"paused": True}, "after": {"paused": False}}]
    assert [a.details for a in interval] == [{"before": {"seconds": 1.0}, "after": {"seconds": 2.0}}]


def test_run_now_fires_once_across_two_tickers_and_a_paused_schedule_stays_paused(
    engine: Engine, tickers: Callable[[str], Ticker]
) -> None:
    schedules.seed(engine, {"probe": 1.0})
    assert schedules.pause(engine, "probe", "ada")  # before any ticker starts: they start paused
    tickers("w1")
    tickers("w2")
    time.sleep(1.5)
    assert _ticks(engine) == []

    assert schedules.run_now(engine, "probe", "grace")
    assert not schedules.run_now(engine, "probe", "grace")  # one request at a time
    ticks = _wait_for("the run-now firing", lambda: _ticks(engine))
    time.sleep(6 * FOLLOW + 1.0)  # both tickers have looked at the table several times since
    ticks = _ticks(engine)
    assert len(ticks) == 1
    assert ticks[0].requested_by == "grace"
    assert ticks[0].outcome == "ok"
    assert ticks[0].worker_id in {"w1", "w2"}
    assert len(_fired(engine)) == 1
    setting = schedules.settings(engine)["probe"]
    assert setting.run_requested_at is None
    assert setting.paused
    [asked] = _audits(engine, "schedule.run_requested")
    assert (asked.actor, asked.subject) == ("grace", "schedule:probe")

    status = {s.name: s for s in schedules.list_schedules(engine)}["probe"]
    assert status.last_requested_by == "grace"
    assert status.last_outcome == "ok"
    assert status.paused
    assert status.next_run_at is None


def test_a_failed_firing_keeps_its_error_and_the_listing_shows_it(engine: Engine) -> None:
    broken = Schedule("broken", 60.0, _fail)
    schedules.seed(engine, {"broken": 60.0})
    now = datetime(2026, 11, 28, 7, 0, 0, tzinfo=UTC)
    assert fire(engine, broken, "w1", now)
    assert not fire(engine, broken, "w2", now)  # the failed firing counts as run: no second attempt
    assert fire(engine, Schedule("broken", 60.0, lambda s, at: None), "w1", now + timedelta(minutes=1))

    [status] = schedules.list_schedules(engine, now + timedelta(minutes=1, seconds=10))
    assert status.name == "broken"
    assert status.interval == "every 1 min"
    assert status.last_outcome == "ok"
    assert status.last_fire_at == now + timedelta(minutes=1)
    assert status.last_failure_at == now
    assert status.last_failure_error == "RuntimeError: the probe broke"
    assert status.next_run_at == now + timedelta(minutes=2)


def test_people_cannot_set_what_no_worker_could_follow(engine: Engine) -> None:
    schedules.seed(engine, {"probe": 1.0})
    with pytest.raises(ValueError, match="at least 1 second"):
        schedules.set_interval(engine, "probe", 0.1, "ada")
    with pytest.raises(ValueError, match="no schedule 'nope'"):
        schedules.pause(engine, "nope", "ada")
    assert not schedules.set_interval(engine, "probe", 1.0, "ada")  # unchanged: nothing audited
    assert _audits(engine, "schedule.interval_changed") == []
    schedules.seed(engine, {"probe": 30.0})  # a restart with other defaults keeps the table's setting
    assert schedules.settings(engine)["probe"].seconds == 1.0
