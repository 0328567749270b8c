"""The retry policy: a pure decision, retry at a time or dead-letter, for one failed attempt."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from random import random as _random
from typing import TypeAlias

from sync_core.domain.errors import ErrorCategory, PermanentError, RateLimitedError, RetryableError, WaitingError


@dataclass(frozen=True)
class RetryAt:
    """Try again at `at`; `attempt` is the number of that next attempt."""

    at: datetime
    attempt: int


@dataclass(frozen=True)
class DeadLetter:
    """Stop retrying; a person has to look at it."""

    category: ErrorCategory
    reason: str


Decision: TypeAlias = RetryAt | DeadLetter


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter, honouring the vendor's retry-after hint."""

    base_seconds: float = 2.0
    factor: float = 2.0
    cap_seconds: float = 900.0
    max_attempts: int = 8
    jitter: float = 0.25  # +/- fraction of the delay
    random: Callable[[], float] = _random  # injected so decide() is reproducible in tests

    def decide(self, error: BaseException, attempts: int, now: datetime) -> Decision:
        """What to do after `attempts` attempts (the failed one included) ended in `error`."""
        if attempts < 1:
            raise ValueError(f"attempts counts the failed attempt, so it is at least 1, not {attempts}")
        if now.tzinfo is None:
            raise ValueError("decide() needs a timezone-aware `now`")
        if isinstance(error, PermanentError):
            return DeadLetter(error.category, error.message)
        if not isinstance(error, RetryableError):
            return DeadLetter(ErrorCategory.UNEXPECTED, f"{type(error).__name__}: {error}")
        if isinstance(error, RateLimitedError | WaitingError):
            # A quota says nothing about the record, nor does another record's queued write: wait for
            # the window or for that write, and the attempt is not spent.
            wait = error.retry_after if error.retry_after is not None else self.base_seconds
            return RetryAt(now + timedelta(seconds=max(wait, 0.0)), attempts)
        if attempts >= self.max_attempts:
            return DeadLetter(ErrorCategory.TRANSIENT, f"gave up after {attempts} attempts: {error.message}")
        delay = self._backoff(attempts) * (1 + self.jitter * (2 * self.random() - 1))
        if error.retry_after is not None:
            # The vendor knows when its window reopens; that beats the cap.
            delay = max(delay, error.retry_after)
        return RetryAt(now + timedelta(seconds=max(delay, 0.0)), attempts + 1)

    def _backoff(self, attempts: int) -> float:
        try:
            return min(self.cap_seconds, self.base_seconds * self.factor ** (attempts - 1))
        except OverflowError:
            return self.cap_seconds
