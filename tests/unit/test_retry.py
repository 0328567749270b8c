"""The retry policy as a table of decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_core.domain.errors import ErrorCategory, PermanentError, RetryableError
from sync_core.retry import DeadLetter, Decision, RetryAt, RetryPolicy

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
# random() == 0.5 makes the jitter factor exactly 1.
POLICY = RetryPolicy(random=lambda: 0.5)
TRANSIENT = ErrorCategory.TRANSIENT


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("error", "attempts", "expected"),
    [
        (RetryableError("timeout"), 1, RetryAt(at(2), 2)),
        (RetryableError("timeout"), 2, RetryAt(at(4), 3)),
        (RetryableError("timeout"), 5, RetryAt(at(32), 6)),
        (RetryableError("timeout"), 7, RetryAt(at(128), 8)),
        (RetryableError("timeout"), 8, DeadLetter(TRANSIENT, "gave up after 8 attempts: timeout")),
        (RetryableError("timeout"), 12, DeadLetter(TRANSIENT, "gave up after 12 attempts: timeout")),
        (RetryableError("429", retry_after=10), 1, RetryAt(at(10), 2)),
        (RetryableError("429", retry_after=1), 3, RetryAt(at(8), 4)),
        (RetryableError("429", retry_after=10), 8, DeadLetter(TRANSIENT, "gave up after 8 attempts: 429")),
        (PermanentError("dup", ErrorCategory.DUPLICATE), 1, DeadLetter(ErrorCategory.DUPLICATE, "dup")),
        (PermanentError("no field", ErrorCategory.MAPPING), 3, DeadLetter(ErrorCategory.MAPPING, "no field")),
        (KeyError("id"), 1, DeadLetter(ErrorCategory.UNEXPECTED, "KeyError: 'id'")),
        (RuntimeError("boom"), 4, DeadLetter(ErrorCategory.UNEXPECTED, "RuntimeError: boom")),
    ],
)
def test_decide(error: BaseException, attempts: int, expected: Decision) -> None:
    assert POLICY.decide(error, attempts, NOW) == expected


def test_delay_is_capped() -> None:
    policy = RetryPolicy(max_attempts=100, random=lambda: 0.5)
    assert policy.decide(RetryableError("x"), 40, NOW) == RetryAt(at(900), 41)


def test_huge_attempt_counts_do_not_overflow() -> None:
    policy = RetryPolicy(max_attempts=10_000, random=lambda: 0.5)
    assert policy.decide(RetryableError("x"), 5_000, NOW) == RetryAt(at(900), 5_001)


def test_retry_after_is_honoured_above_the_cap() -> None:
    decision = POLICY.decide(RetryableError("quota", retry_after=3600), 2, NOW)
    assert decision == RetryAt(at(3600), 3)


@pytest.mark.parametrize(("draw", "seconds"), [(0.0, 3.0), (1.0, 5.0)])
def test_jitter_extremes(draw: float, seconds: float) -> None:
    policy = RetryPolicy(random=lambda: draw)
    assert policy.decide(RetryableError("x"), 2, NOW) == RetryAt(at(seconds), 3)


@given(attempts=st.integers(min_value=1, max_value=7), draw=st.floats(min_value=0.0, max_value=1.0))
def test_jitter_stays_within_bounds(attempts: int, draw: float) -> None:
    decision = RetryPolicy(random=lambda: draw).decide(RetryableError("x"), attempts, NOW)
    assert isinstance(decision, RetryAt)
    nominal = min(900.0, 2.0 * 2.0 ** (attempts - 1))
    delay = (decision.at - NOW).total_seconds()
    assert nominal * 0.75 - 1e-6 <= delay <= nominal * 1.25 + 1e-6


@pytest.mark.parametrize("attempts", [0, -1])
def test_attempts_count_the_failed_one(attempts: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        POLICY.decide(RetryableError("x"), attempts, NOW)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        POLICY.decide(RetryableError("x"), 1, datetime(2024, 5, 1))  # noqa: DTZ001


def test_a_rate_limit_waits_for_its_window_and_spends_no_attempt() -> None:
    from sync_core.domain.errors import RateLimitedError

    now = datetime(2026, 1, 1, tzinfo=UTC)
    policy = RetryPolicy(max_attempts=3)
    decision = policy.decide(RateLimitedError("REQUEST_LIMIT_EXCEEDED", retry_after=3600), attempts=7, now=now)
    assert decision == RetryAt(now + timedelta(hours=1), 7)  # past max_attempts, still no dead letter


def test_a_write_waiting_for_a_queued_record_spends_no_attempt() -> None:
    from sync_core.domain.errors import WaitingError

    now = datetime(2026, 1, 1, tzinfo=UTC)
    policy = RetryPolicy(max_attempts=3)
    decision = policy.decide(WaitingError("erp has no company c-1 yet", retry_after=2.0), attempts=5, now=now)
    assert decision == RetryAt(now + timedelta(seconds=2), 5)
