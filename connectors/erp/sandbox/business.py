"""The business clock: what happens to a confirmed order as the days go by, as in a real company's ERP.

A confirmed order's outgoing picking is reserved (assigned) within hours and delivered (done) a
day or a few later; delivery creates and posts the invoice, due after the partner's payment term;
then the customer pays as customers do: most on time, some part before the due date and the rest
weeks late, some late, a few never, so some invoices become overdue. Each customer's habit
(`on_time`, `partial`, `late`, `never`) is drawn from the seed or set through the control API.

Events are kept in time order and applied when business time reaches them, each in its own
transaction stamped with the event's time (so write_date reads like the history it is).
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from connectors.erp.sandbox import sales
from connectors.erp.sandbox.clock import SandboxClock
from connectors.erp.sandbox.orm import Env
from connectors.erp.sandbox.store import Transaction

BEHAVIOURS = ("on_time", "partial", "late", "never")
_WEIGHTS = (65, 15, 12, 8)
# Habits dealt to the seeded customers, the longest-standing first: even a small seed shows a customer who
# never pays (an invoice long overdue), one who pays late and one who pays in part.
SEEDED_HABITS = ("never", "late", "partial", "on_time", "on_time", "partial", "on_time", "on_time", "late",
                 "on_time", "on_time", "never", "on_time", "on_time", "partial", "on_time")

EnvAt = Callable[[datetime], AbstractContextManager[Env]]


@dataclass(order=True, frozen=True)
class Event:
    at: datetime
    seq: int
    kind: str = field(compare=False)  # reserve | deliver | pay
    record_id: int = field(compare=False)  # the picking (reserve, deliver) or the invoice (pay)
    order_id: int = field(compare=False)
    share: float | None = field(default=None, compare=False)  # pay: a share of the total; None: all that is due

    def describe(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "kind": self.kind, "record_id": self.record_id, "order_id": self.order_id,
                "share": self.share}


class Business:
    """Scheduled events for every confirmed order; thread-safe (under the store's lock)."""

    def __init__(self, clock: SandboxClock, env_at: EnvAt, seed: int, lock: threading.RLock) -> None:
        self.clock = clock
        self._env_at = env_at
        self.seed = seed
        # The store's lock: events are pushed from inside transactions and applied in transactions of their
        # own, so one lock for both keeps the two from ever waiting on each other in opposite orders.
        self._lock = lock
        self._events: list[Event] = []
        self._seq = itertools.count()
        self._behaviours: dict[int, str] = {}
        self._seeded: dict[int, str] = {}
        self._cancelled: set[int] = set()

    def clear(self, seed: int) -> None:
        with self._lock:
            self.seed = seed
            self._events.clear()
            self._behaviours.clear()
            self._seeded.clear()
            self._cancelled.clear()

    def _rng(self, *parts: object) -> random.Random:
        return random.Random(":".join(str(p) for p in (self.seed, *parts)))

    # -- customers' habits ------------------------------------------------------------------------------

    def behaviour(self, partner_id: int) -> str:
        with self._lock:
            if partner_id in self._behaviours:
                return self._behaviours[partner_id]
            if partner_id in self._seeded:
                return self._seeded[partner_id]
        return self._rng("payer", partner_id).choices(BEHAVIOURS, _WEIGHTS)[0]

    def deal_habits(self, customers: list[int]) -> None:
        """Give the seeded customers (the longest-standing first) their habits from SEEDED_HABITS."""
        with self._lock:
            self._seeded = {c: SEEDED_HABITS[i % len(SEEDED_HABITS)] for i, c in enumerate(customers)}

    def set_behaviour(self, partner_id: int, behaviour: str) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"behaviour must be one of {', '.join(BEHAVIOURS)}")
        with self._lock:
            self._behaviours[partner_id] = behaviour

    def behaviours(self) -> dict[int, str]:
        with self._lock:
            return dict(self._behaviours)

    # -- scheduling -----------------------------------------------------------------------------------------

    def _push(self, at: datetime, kind: str, record_id: int, order_id: int, share: float | None = None) -> None:
        with self._lock:
            heapq.heappush(self._events, Event(at, next(self._seq), kind, record_id, order_id, share))

    def order_confirmed(self, tx: Transaction, order_id: int) -> None:
        """Plan the picking of a freshly confirmed order: reserved within hours, delivered days later."""
        pickings = [p["id"] for p in tx.rows("stock.picking") if p.get("sale_id") == order_id]
        rng = self._rng("order", order_id)
        start = tx.now
        for picking_id in pickings:
            reserved = start + timedelta(hours=rng.randint(1, 12), minutes=rng.randint(0, 59))
            delivered = reserved + timedelta(days=rng.randint(1, 3), hours=rng.randint(0, 8))
            self._push(reserved, "reserve", picking_id, order_id)
            self._push(delivered, "deliver", picking_id, order_id)
        with self._lock:
            self._cancelled.discard(order_id)

    def order_cancelled(self, tx: Transaction, order_id: int) -> None:
        with self._lock:
            self._cancelled.add(order_id)

    def _plan_payments(self, env: Env, invoice_id: int, order_id: int) -> None:
        move = env.tx.get("account.move", invoice_id)
        assert move is not None
        partner = sales.commercial_partner(env, move.get("partner_id"))
        habit = self.behaviour(int(partner["id"])) if partner else "on_time"
        rng = self._rng("invoice", invoice_id)
        posted = env.tx.now
        due = datetime.combine(move["invoice_date_due"], time(10, 0), UTC)

        def at(day: datetime) -> datetime:
            return max(posted + timedelta(hours=1), day + timedelta(minutes=rng.randint(0, 420)))

        if habit == "on_time":
            self._push(at(due - timedelta(days=rng.randint(0, 7))), "pay", invoice_id, order_id)
        elif habit == "partial":
            share = rng.choice((0.3, 0.4, 0.5, 0.6))
            self._push(at(due - timedelta(days=rng.randint(0, 5))), "pay", invoice_id, order_id, share)
            self._push(at(due + timedelta(days=rng.randint(10, 30))), "pay", invoice_id, order_id)
        elif habit == "late":
            self._push(at(due + timedelta(days=rng.randint(5, 25))), "pay", invoice_id, order_id)

    # -- running ----------------------------------------------------------------------------------------------

    def _due(self, until: datetime) -> Iterator[Event]:
        while True:
            with self._lock:
                if not self._events or self._events[0].at > until:
                    return
                event = heapq.heappop(self._events)
                if event.order_id in self._cancelled:
                    continue
            yield event

    def run_until(self, until: datetime) -> list[dict[str, Any]]:
        """Apply every event due by `until`, oldest first; what happened, for the control API."""
        applied: list[dict[str, Any]] = []
        with self._lock:
            for event in self._due(until):
                outcome = self._apply(event)
                if outcome is not None:
                    applied.append({**event.describe(), **outcome})
        return applied

    def _apply(self, event: Event) -> dict[str, Any] | None:
        with self._env_at(event.at) as env:
            if event.kind == "reserve":
                return {"picking": "assigned"} if sales.reserve(env, event.record_id) else None
            if event.kind == "deliver":
                tracking = f"1Z{self._rng('tracking', event.record_id).randrange(10**9, 10**10)}"
                order_id = sales.deliver(env, event.record_id, tracking)
                if order_id is None:
                    return None
                invoice_id = sales.invoice(env, order_id)
                self._plan_payments(env, invoice_id, order_id)
                return {"picking": "done", "invoice_id": invoice_id}
            move = env.tx.get("account.move", event.record_id)
            amount = None
            if event.share is not None and move is not None:
                amount = round(float(move.get("amount_total") or 0.0) * event.share, 2)
            payment_id = sales.pay(env, event.record_id, amount)
            return None if payment_id is None else {"payment_id": payment_id}

    def step(self, seconds: float) -> list[dict[str, Any]]:
        """Move business time forward and apply what falls due on the way."""
        if seconds < 0:
            raise ValueError("the business clock only moves forward")
        with self._lock:
            return self.run_until(self.clock.advance(seconds))

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [e.describe() for e in sorted(self._events) if e.order_id not in self._cancelled]
