"""The fault profile: 5xx answers, latency, timeouts after the call was applied, ValidationErrors on chosen records.

Profile (JSON; POST /__sandbox__/faults merges the keys it names, DELETE clears):

    {
      "seed": 0,                                         # random faults are reproducible
      "latency_ms": 0,                                   # inside each call's transaction: write_date is the
                                                         # start, the commit comes this much later
      "server_errors": {"rate": 0.0, "sequence": []},    # sequence: statuses (5xx) the next calls answer, in
                                                         # order; such calls are not applied
      "timeout_after_write": {"rate": 0.0, "next": 0, "hold_ms": 2000},  # create/write/action_*: applied,
                                                         # then the answer is held back past the client's timeout
      "validation_errors": [                             # writes to matching records fail with a ValidationError
        {"model": "res.partner", "ids": [12], "values": {"ref": "c-1"}, "message": "..."}
      ]
    }

A validation rule matches a write to one of its `ids`, or a create or write whose resulting values
hold every one of its `values`.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_KEYS = {"seed", "latency_ms", "server_errors", "timeout_after_write", "validation_errors"}


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


@dataclass(frozen=True)
class Rejection:
    model: str
    ids: frozenset[int] = frozenset()
    values: Mapping[str, Any] = field(default_factory=dict)
    message: str = "The record was rejected by a validation rule."

    def matches(self, model: str, record_id: int | None, values: Mapping[str, Any]) -> bool:
        if model != self.model:
            return False
        if record_id is not None and record_id in self.ids:
            return True
        return bool(self.values) and all(values.get(k) == v for k, v in self.values.items())

    def describe(self) -> dict[str, Any]:
        return {"model": self.model, "ids": sorted(self.ids), "values": dict(self.values), "message": self.message}


@dataclass
class FaultProfile:
    seed: int = 0
    latency_ms: float = 0.0
    server_error_rate: float = 0.0
    server_error_sequence: list[int] = field(default_factory=list)
    timeout: _Trigger = field(default_factory=_Trigger)
    timeout_hold_ms: float = 2000.0
    rejections: list[Rejection] = field(default_factory=list)


def _number(value: Any, name: str, low: float = 0.0, high: float | None = None) -> float:
    bad = isinstance(value, bool) or not isinstance(value, int | float)
    if bad or value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be a number >= {low}" + (f" and <= {high}" if high is not None else ""))
    return float(value)


def _rejection(spec: Any) -> Rejection:
    if not isinstance(spec, Mapping) or not isinstance(spec.get("model"), str):
        raise ValueError("each validation_errors entry needs a model")
    ids = spec.get("ids", [])
    values = spec.get("values", {})
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids) or not isinstance(values, Mapping):
        raise ValueError("validation_errors: ids is a list of ids, values an object")
    if not ids and not values:
        raise ValueError("validation_errors: name the records by ids or values")
    message = str(spec.get("message") or Rejection.message)
    return Rejection(str(spec["model"]), frozenset(ids), dict(values), message)


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
            if "timeout_after_write" in body:
                spec = dict(body["timeout_after_write"])
                p.timeout = _Trigger(
                    _number(spec.get("rate", 0.0), "timeout_after_write.rate", 0.0, 1.0),
                    int(_number(spec.get("next", 0), "timeout_after_write.next")),
                )
                p.timeout_hold_ms = _number(spec.get("hold_ms", 2000.0), "timeout_after_write.hold_ms")
            if "validation_errors" in body:
                specs = body["validation_errors"]
                if not isinstance(specs, list):
                    raise ValueError("validation_errors is a list")
                p.rejections = [_rejection(s) for s in specs]
        return self.describe()

    def describe(self) -> dict[str, Any]:
        with self._lock:
            p = self.profile
            return {
                "seed": p.seed,
                "latency_ms": p.latency_ms,
                "server_errors": {"rate": p.server_error_rate, "sequence": list(p.server_error_sequence)},
                "timeout_after_write": {"rate": p.timeout.rate, "next": p.timeout.next, "hold_ms": p.timeout_hold_ms},
                "validation_errors": [r.describe() for r in p.rejections],
            }

    # -- decisions, one per call -----------------------------------------------------------------------

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

    def timeout_after_write(self) -> float:
        """Seconds to hold the answer of a write that was applied (0: answer at once)."""
        with self._lock:
            return self.profile.timeout_hold_ms / 1000.0 if self.profile.timeout.fire(self._rng) else 0.0

    def rejection(self, model: str, record_id: int | None, values: Mapping[str, Any]) -> str | None:
        with self._lock:
            rules = list(self.profile.rejections)
        for rule in rules:
            if rule.matches(model, record_id, values):
                return rule.message
        return None
