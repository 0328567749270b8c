"""What a ticker must change to follow the schedule table, and how intervals are read and shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sync_core.domain.schedules import (
    Job,
    Pause,
    Reschedule,
    Resume,
    RunNow,
    Setting,
    interval_problem,
    interval_text,
    next_fire,
    parse_interval,
    ticker_changes,
)

AT = datetime(2026, 11, 28, 7, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("table", "jobs", "expected"),
    [
        ({"poll": Setting(2)}, {"poll": Job(2)}, []),
        ({"poll": Setting(2, paused=True)}, {"poll": Job(2)}, [Pause("poll")]),
        ({"poll": Setting(2)}, {"poll": Job(2, paused=True)}, [Resume("poll")]),
        ({"poll": Setting(10)}, {"poll": Job(2)}, [Reschedule("poll", 10)]),
        ({"poll": Setting(10, paused=True)}, {"poll": Job(2)}, [Reschedule("poll", 10), Pause("poll")]),
        ({"poll": Setting(10)}, {"poll": Job(2, paused=True)}, [Reschedule("poll", 10), Resume("poll")]),
        # a schedule this ticker does not run is none of its business
        ({"other": Setting(1, paused=True)}, {"poll": Job(2)}, []),
        # a schedule the table does not name yet keeps running as it does
        ({}, {"poll": Job(2, paused=True)}, []),
        (
            {"poll": Setting(2, run_requested_at=AT, run_requested_by="ada")},
            {"poll": Job(2)},
            [RunNow("poll", AT, "ada")],
        ),
        # run now fires a paused schedule too, and it stays paused
        (
            {"poll": Setting(2, paused=True, run_requested_at=AT)},
            {"poll": Job(2, paused=True)},
            [RunNow("poll", AT)],
        ),
    ],
)
def test_ticker_changes(table: dict[str, Setting], jobs: dict[str, Job], expected: list[object]) -> None:
    assert ticker_changes(table, jobs) == expected


def test_a_request_handed_out_is_not_handed_out_again_but_a_newer_one_is() -> None:
    jobs = {"poll": Job(2), "drain": Job(5)}
    table = {"poll": Setting(2, run_requested_at=AT), "drain": Setting(5)}
    assert ticker_changes(table, jobs, {("poll", AT)}) == []
    later = AT + timedelta(seconds=30)
    table = {"poll": Setting(2, run_requested_at=later), "drain": Setting(5)}
    assert ticker_changes(table, jobs, {("poll", AT)}) == [RunNow("poll", later)]


def test_changes_come_in_name_order() -> None:
    jobs = {"b": Job(1), "a": Job(1)}
    table = {"a": Setting(1, paused=True), "b": Setting(1, paused=True)}
    assert ticker_changes(table, jobs) == [Pause("a"), Pause("b")]


def test_next_fire_is_the_next_multiple_of_the_interval() -> None:
    assert next_fire(5, AT) == AT + timedelta(seconds=5)
    assert next_fire(5, AT + timedelta(seconds=1.5)) == AT + timedelta(seconds=5)
    assert next_fire(86_400, AT) == datetime(2026, 11, 29, tzinfo=UTC)  # daily: midnight UTC


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), (" 5 m", 300), ("2h", 7200), ("1d", 86_400), ("1.5", 1.5)]
)
def test_parse_interval(text: str, seconds: float) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize(("text", "why"), [("", "not an interval"), ("soon", "not an interval"),
                                           ("0.5", "at least 1"), ("8d", "at most 7 days"), ("nan", "a number")])
def test_parse_interval_refuses(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_interval(text)


def test_interval_problem() -> None:
    assert interval_problem(1) is None
    assert interval_problem(float("inf")) is not None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(2, "every 2s"), (90, "every 1.5 min"), (300, "every 5 min"), (5400, "every 1.5 h"), (86_400, "every day"),
     (172_800, "every 2 d"), (61, "every 61s")],
)
def test_interval_text(seconds: float, text: str) -> None:
    assert interval_text(seconds) == text
