"""Everything one sandbox holds: clock, records, sessions, allocation, faults, jobs, cursors and the request log."""

from __future__ import annotations

import threading

from connectors.salesforce.sandbox.bulk import Jobs
from connectors.salesforce.sandbox.certificates import Certificates
from connectors.salesforce.sandbox.clock import SandboxClock
from connectors.salesforce.sandbox.faults import FaultInjector
from connectors.salesforce.sandbox.ids import ORGANIZATION_PREFIX, make_id
from connectors.salesforce.sandbox.limits import DEFAULT_DAILY_REQUESTS, DailyAllocation
from connectors.salesforce.sandbox.query import Cursors
from connectors.salesforce.sandbox.requestlog import RequestLog
from connectors.salesforce.sandbox.seed import Users, seed
from connectors.salesforce.sandbox.sessions import Sessions
from connectors.salesforce.sandbox.store import Store
from connectors.salesforce.sandbox.writes import Writer

API_VERSION = "59.0"
ORGANIZATION_ID = make_id(ORGANIZATION_PREFIX, 1)


class SandboxState:
    """One org. Seeding is deterministic: the same seed and size give the same records and ids."""

    def __init__(self, certificates: Certificates, seed: int = 7, records: int = 50) -> None:
        self.certificates = certificates
        self.version = API_VERSION
        self.clock = SandboxClock()
        self.store = Store()
        self.writer = Writer(self.store, self.clock)
        self.allocation = DailyAllocation(self.clock, DEFAULT_DAILY_REQUESTS)
        self.faults = FaultInjector()
        self.sessions = Sessions(ORGANIZATION_ID)
        self.log = RequestLog()
        self.cursors = Cursors()
        self.jobs = Jobs(self.writer, self.store, self.clock, self.version)
        self._lock = threading.Lock()
        self.seed_value, self.records = seed, records
        self._initial = (seed, records)
        self.users = self._seed()

    def _seed(self) -> Users:
        self.store.clear()
        self.cursors.clear()
        self.jobs.clear()
        return seed(self.writer, self.seed_value, self.records, self.clock.now())

    def reseed(self, seed_value: int, records: int) -> Users:
        """Replace every record with freshly seeded ones; sessions, faults and counters stay."""
        with self._lock, self.store.lock:
            self.seed_value, self.records = seed_value, records
            self.users = self._seed()
            return self.users

    def reset(self) -> Users:
        """Back to the state at start: seed data again, no faults, an unused allocation, an empty log."""
        with self._lock, self.store.lock:
            self.faults.clear()
            self.allocation.reset()
            self.allocation.maximum = DEFAULT_DAILY_REQUESTS
            self.sessions.ttl = None
            self.log.clear()
            self.clock.unfreeze()
            self.seed_value, self.records = self._initial
            self.users = self._seed()
            return self.users
