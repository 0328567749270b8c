"""Everything one sandbox holds, and the call path both transports share: clock, store, business, faults, log."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from connectors.erp.sandbox.business import Business
from connectors.erp.sandbox.clock import SandboxClock
from connectors.erp.sandbox.faults import FaultInjector
from connectors.erp.sandbox.methods import BoundCall, bind_named, bind_positional, find
from connectors.erp.sandbox.orm import ADMIN_UID, SALES_UID, SYSTEM_UID, Env
from connectors.erp.sandbox.requestlog import RequestLog
from connectors.erp.sandbox.seed import seed as seed_database
from connectors.erp.sandbox.store import Store, Transaction

DATABASE = "revline"
LOGIN = "admin"
API_KEY = "sandbox-key"
VERSIONS = (17, 18, 19)


class OdooSandbox:
    """One Odoo database. Seeding is deterministic: the same seed and size give the same records and ids."""

    def __init__(self, seed: int = 7, version: int = 19, records: int = 30, pace: float = 1.0) -> None:
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {', '.join(map(str, VERSIONS))}")
        self.version = version
        self.database, self.login, self.api_key = DATABASE, LOGIN, API_KEY
        self.clock = SandboxClock(pace)
        self.store = Store()
        self.faults = FaultInjector()
        self.log = RequestLog()
        self.business = Business(self.clock, self.env_at, seed, self.store.lock)
        self.seed_value, self.records = seed, records
        self._initial = (seed, records, pace)
        self._seed()

    # -- the hooks the ORM calls -----------------------------------------------------------------------

    def rejection(self, model_name: str, record_id: int | None, values: Mapping[str, Any]) -> str | None:
        return self.faults.rejection(model_name, record_id, values)

    def order_confirmed(self, tx: Transaction, order_id: int) -> None:
        self.business.order_confirmed(tx, order_id)

    def order_cancelled(self, tx: Transaction, order_id: int) -> None:
        self.business.order_cancelled(tx, order_id)

    # -- calls ---------------------------------------------------------------------------------------------

    @contextmanager
    def env_at(
        self, started: datetime, context: Mapping[str, Any] | None = None, uid: int = SYSTEM_UID
    ) -> Iterator[Env]:
        """An environment in a transaction that started at `started` (its write_date), as user `uid`."""
        with self.store.transaction(started, uid) as tx:
            yield Env(tx, self, context)

    def execute(
        self, model: str, method: str, args: Any, kwargs: Mapping[str, Any], started: datetime
    ) -> Any:
        """execute_kw: positional args (ids first for recordset methods) and keyword args."""
        bound = bind_positional(find(model, method), list(args), {k: v for k, v in kwargs.items() if k != "context"})
        return self._run(model, bound, kwargs.get("context"), started)

    def execute_named(self, model: str, method: str, body: Mapping[str, Any], started: datetime) -> Any:
        """A JSON-2 call: named arguments plus ids and context."""
        bound = bind_named(find(model, method), body)
        return self._run(model, bound, body.get("context"), started)

    def _run(self, model: str, bound: BoundCall, context: Any, started: datetime) -> Any:
        self.catch_up()
        with self.env_at(started, context if isinstance(context, Mapping) else None, ADMIN_UID) as env:
            return env.call(model, bound)

    def catch_up(self) -> list[dict[str, Any]]:
        """Let the business clock apply what fell due since it last ran."""
        return self.business.run_until(self.clock.now())

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def _seed(self) -> None:
        with self.store.lock:
            self.store.clear()
            self.business.clear(self.seed_value)
            customers = seed_database(lambda at: self.env_at(at, None, SALES_UID), self.seed_value, self.records,
                             self.clock.now())
            self.business.deal_habits(customers)
            self.catch_up()

    def reseed(self, seed_value: int, records: int) -> None:
        """Replace every record with freshly seeded ones; faults, the log and the clock stay."""
        self.seed_value, self.records = seed_value, records
        self._seed()

    def reset(self, at: datetime | None = None, pace: float | None = None) -> None:
        """Back to the state at start: seed data again, no faults, an empty log, the wall clock at its pace.

        `at` seeds as of that business time instead (the same seed and time give the same data, dates
        included); `pace` replaces the starting pace.
        """
        self.faults.clear()
        self.log.clear()
        self.seed_value, self.records, initial_pace = self._initial
        self.clock.reset(initial_pace if pace is None else pace)
        if at is not None:
            self.clock.set(at)
        self._seed()
