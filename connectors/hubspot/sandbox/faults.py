"""Fault profiles set through the control API: limits, 5xx, latency, timeouts after writes, webhook chaos."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from connectors.hubspot.sandbox.ratelimit import SEARCH_PER_SECOND, TIERS, Limits


@dataclass
class FaultProfile:
    """What can go wrong, as `POST /__sandbox__/faults` sets it (JSON keys are these field names)."""

    tier: str = "professional"  # starter | professional | enterprise: the rate limits applied
    # Overrides the tier's limits: {"per_interval": 10, "interval_ms": 10000, "daily": 1000}.
    rate_limit: dict[str, int] | None = None
    search_per_second: int = SEARCH_PER_SECOND  # 0 switches search limiting off
    error_rate: float = 0.0  # probability that an API request answers `error_status` before doing anything
    error_status: int = 503
    # Statuses the next API requests answer with, in order, before anything else (0 lets one through).
    error_sequence: list[int] = field(default_factory=list)
    latency_ms: int = 0  # added before every API request is handled
    # The next N write requests are applied, then answered only after `hang_ms`: the client times out
    # without knowing whether the write happened.
    timeout_after_write: int = 0
    hang_ms: int = 3000
    missing_scopes: list[str] = field(default_factory=list)  # requests needing these answer 403 MISSING_SCOPES
    # "partial": batches answer 207 and apply the good inputs; "reject": one bad input fails the batch (400).
    batch_errors: str = "partial"
    webhook_duplicate_rate: float = 0.0  # probability that an event is delivered twice
    webhook_reorder: bool = False  # shuffle events within and across batches
    seed: int = 0  # for the random choices above

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> FaultProfile:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(body) - known)
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        profile = cls(**dict(body))
        if profile.tier not in TIERS:
            raise ValueError(f"unknown tier {profile.tier!r} (known: {', '.join(TIERS)})")
        if profile.batch_errors not in ("partial", "reject"):
            raise ValueError("batch_errors is 'partial' or 'reject'")
        if profile.rate_limit is not None:
            try:
                Limits(**profile.rate_limit)
            except TypeError as error:
                raise ValueError(f"rate_limit needs per_interval, interval_ms and daily: {error}") from None
        return profile

    def limits(self) -> Limits:
        return Limits(**self.rate_limit) if self.rate_limit is not None else TIERS[self.tier]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Faults:
    """The active profile and the state it consumes (sequences, counters, the seeded RNG)."""

    def __init__(self, profile: FaultProfile | None = None) -> None:
        self._lock = threading.Lock()
        self.profile = profile or FaultProfile()
        self._random = random.Random(self.profile.seed)

    def set(self, profile: FaultProfile) -> None:
        with self._lock:
            self.profile = profile
            self._random = random.Random(profile.seed)

    def error_for_next_request(self) -> int | None:
        """The 5xx this request should answer with, if any."""
        with self._lock:
            if self.profile.error_sequence:
                status = self.profile.error_sequence.pop(0)
                return status or None
            if self.profile.error_rate and self._random.random() < self.profile.error_rate:
                return self.profile.error_status
            return None

    def hang_after_write(self) -> float:
        """Seconds to hold this write's answer back (0: answer at once)."""
        with self._lock:
            if self.profile.timeout_after_write <= 0:
                return 0.0
            self.profile.timeout_after_write -= 1
            return self.profile.hang_ms / 1000

    def missing(self, scope: str) -> bool:
        return scope in self.profile.missing_scopes

    def duplicate_event(self) -> bool:
        with self._lock:
            rate = self.profile.webhook_duplicate_rate
            return bool(rate) and self._random.random() < rate

    def shuffle(self, items: list[Any]) -> None:
        with self._lock:
            if self.profile.webhook_reorder:
                self._random.shuffle(items)
