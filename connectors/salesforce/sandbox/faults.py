"""The fault profile: 5xx answers, locked rows, latency, expiring sessions and timeouts after a write was applied.

Profile (JSON, POST /__sandbox__/faults merges the keys it names; DELETE clears):

    {
      "seed": 0,                                   # random faults are reproducible
      "latency_ms": 0,                             # added before every API answer
      "server_errors": {"rate": 0.0, "sequence": []},   # sequence: statuses the next calls answer, in order
      "lock_row": {"rate": 0.0, "next": 0},        # writes refused with UNABLE_TO_LOCK_ROW
      "timeout_after_write": {"rate": 0.0, "next": 0, "hold_ms": 2000},  # write applied, answer held back
      "expire_sessions": false,                    # true: every token issued so far stops working now
      "session_ttl_seconds": null,                 # tokens stop working this long after they were issued
      "daily_limit": 15000                         # DailyApiRequests allocation over a rolling 24 h
    }
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_KEYS = {
    "seed",
    "latency_ms",
    "server_errors",
    "lock_row",
    "timeout_after_write",
    "expire_sessions",
    "session_ttl_seconds",
    "daily_limit",
}


@dataclass
class _Trigger:
    """Fires for the next `next` eligible calls, then at random with probability `rate`."""

    rate: float = 0.0
    next: int = 0

    def fire(self, rng: random.Random) -> bool:
        if self.next > 0:
            self.next -= 1
            return True
        return self.rate > 0 and rng.random() < self.rate


@dataclass
class FaultProfile:
    seed: int = 0
    latency_ms: float = 0.0
    server_error_rate: float = 0.0
    server_error_sequence: list[int] = field(default_factory=list)
    lock_row: _Trigger = field(default_factory=_Trigger)
    timeout: _Trigger = field(default_factory=_Trigger)
    timeout_hold_ms: float = 2000.0
    session_ttl_seconds: float | None = None


def _number(value: Any, name: str, low: float = 0.0, high: float | None = None) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value < low
        or (high is not None and value > high)
    ):
        raise ValueError(f"{name} must be a number >= {low}" + (f" and <= {high}" if high is not None else ""))
    return float(value)


class FaultInjector:
    """Decides, call by call, which fault (if any) the sandbox plays."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.profile = FaultProfile()
        self._rng = random.Random(0)

    def clear(self) -> None:
        with self._lock:
            self.profile = FaultProfile()
            self._rng = random.Random(0)

    def configure(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Merge the keys of `body` into the profile; ValueError names a bad key or value."""
        unknown = set(body) - _KEYS
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))} (known: {', '.join(sorted(_KEYS))})")
        with self._lock:
            p = self.profile
            if "seed" in body:
                p.seed = int(_number(body["seed"], "seed"))
                self._rng = random.Random(p.seed)
            if "latency_ms" in body:
                p.latency_ms = _number(body["latency_ms"], "latency_ms")
            if "server_errors" in body:
                spec = dict(body["server_errors"])
                p.server_error_rate = _number(spec.get("rate", 0.0), "server_errors.rate", 0.0, 1.0)
                sequence = [int(s) for s in spec.get("sequence", [])]
                if any(s < 500 or s > 599 for s in sequence):
                    raise ValueError("server_errors.sequence holds 5xx statuses only")
                p.server_error_sequence = sequence
            if "lock_row" in body:
                p.lock_row = self._trigger(body["lock_row"], "lock_row")
            if "timeout_after_write" in body:
                spec = dict(body["timeout_after_write"])
                p.timeout = self._trigger(spec, "timeout_after_write")
                p.timeout_hold_ms = _number(spec.get("hold_ms", 2000.0), "timeout_after_write.hold_ms")
            if "session_ttl_seconds" in body:
                ttl = body["session_ttl_seconds"]
                p.session_ttl_seconds = None if ttl is None else _number(ttl, "session_ttl_seconds")
        return self.describe()

    @staticmethod
    def _trigger(spec: Any, name: str) -> _Trigger:
        spec = dict(spec)
        return _Trigger(
            _number(spec.get("rate", 0.0), f"{name}.rate", 0.0, 1.0), int(_number(spec.get("next", 0), f"{name}.next"))
        )

    def describe(self) -> dict[str, Any]:
        with self._lock:
            p = self.profile
            return {
                "seed": p.seed,
                "latency_ms": p.latency_ms,
                "server_errors": {"rate": p.server_error_rate, "sequence": list(p.server_error_sequence)},
                "lock_row": {"rate": p.lock_row.rate, "next": p.lock_row.next},
                "timeout_after_write": {"rate": p.timeout.rate, "next": p.timeout.next, "hold_ms": p.timeout_hold_ms},
                "session_ttl_seconds": p.session_ttl_seconds,
            }

    # -- decisions, one per call ------------------------------------------------------------------

    def latency(self) -> float:
        return self.profile.latency_ms / 1000.0

    def server_error(self) -> int | None:
        """The 5xx status this call answers, if any (the call is then not applied)."""
        with self._lock:
            p = self.profile
            if p.server_error_sequence:
                return p.server_error_sequence.pop(0)
            if p.server_error_rate > 0 and self._rng.random() < p.server_error_rate:
                return 503
            return None

    def lock_row(self) -> bool:
        with self._lock:
            return self.profile.lock_row.fire(self._rng)

    def timeout_after_write(self) -> float:
        """Seconds to hold the answer of a write that was applied (0: answer at once)."""
        with self._lock:
            return self.profile.timeout_hold_ms / 1000.0 if self.profile.timeout.fire(self._rng) else 0.0
