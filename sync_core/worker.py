"""The sync loop: claim a lane -> read -> plan -> outbox -> execute -> record.

A worker runs N threads; each claims the most overdue free lane, runs it for a bounded
time and releases it. Inbound lanes read the webhook inbox first, then poll from the
cursor, and plan writes (intake.py) in the same transaction as the cursor advance.
Outbound lanes send due writes in batches (executor.py). A heartbeat thread keeps the
leases of running lanes alive; every commit is fenced on the lease (persistence/lanes.py).
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core import executor, intake, reconcile, writeback
from sync_core.domain import quota
from sync_core.domain.changes import SourceRecord
from sync_core.domain.errors import RateLimitedError, SyncError
from sync_core.persistence import lanes, quotas, statements
from sync_core.persistence.database import db_now, snapshot, transaction
from sync_core.persistence.tables import InboxEvent, SyncRun
from sync_core.ports import Connector
from sync_core.retry import RetryPolicy
from sync_core.services import flows
from sync_core.services.policy import load

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker paces itself."""

    lease_seconds: float = 30.0
    # One whole SOQL page (2,000 rows) and ten whole HubSpot search pages (200 each): a smaller page
    # costs the same calls per page, so more calls per record. Pages are held in memory one at a time.
    page_size: int = 2000
    max_pages_per_run: int = 20  # then release the lane so others get a turn
    max_batches_per_run: int = 20
    idle_sleep: float = 0.2


@dataclass
class RunCounts:
    throttled_for: float | None = None
    records_read: int = 0
    ops_planned: int = 0
    ops_done: int = 0
    ops_retried: int = 0
    ops_dead: int = 0
    api_calls: int = 0
    woke: set[lanes.LaneKey] = field(default_factory=set)  # lanes of writes that waited for a record it wrote


# The loop allocates many short-lived containers per page (rows, values, plans) and keeps
# none of them in cycles; with the default thresholds the cyclic collector ran about 1,600
# times per 20,000 records, walking the whole heap a dozen times: some 15% of the worker's CPU.
COLLECTOR_THRESHOLDS = (50_000, 20, 100)


def tune_garbage_collector() -> None:
    """Set the cyclic garbage collector for a worker process: rarer collections, startup objects frozen.

    Process-wide: `revline worker` calls it once at start. Memory still comes back by reference
    counting; only cycles wait longer.
    """
    gc.collect()
    gc.freeze()  # what was loaded at start (modules, tables, policies) is never collected: stop walking it
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """Runs lanes against the given connectors until stopped."""

    def __init__(
        self,
        engine: Engine,
        connectors: Mapping[str, Connector],
        config: WorkerConfig | None = None,
        retry: RetryPolicy | None = None,
        name: str | None = None,
    ) -> None:
        self.engine = engine
        self.connectors = dict(connectors)
        self.config = config or WorkerConfig()
        self.retry = retry or RetryPolicy()
        self.name = name or worker_id()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._held: dict[str, lanes.Claim] = {}
        self._held_lock = threading.Lock()
        # Per thread: the lanes of the writes its last run woke, which it runs next if they are free (lanes.claim).
        self._follow: dict[str, set[lanes.LaneKey]] = {}

    # -- running ------------------------------------------------------------------------------

    def start(self, threads: int = 2) -> None:
        for index in range(threads):
            thread = threading.Thread(target=self._loop, args=(f"{self.name}/{index}",), daemon=True)
            thread.start()
            self._threads.append(thread)
        beat = threading.Thread(target=self._heartbeat, args=(self._stop,), daemon=True)
        beat.start()
        self._threads.append(beat)

    @contextmanager
    def heartbeat(self) -> Iterator[None]:
        """Keep the leases of the lanes this thread runs alive while the block runs, as `start` does for its threads."""
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(stop,), daemon=True)
        beat.start()
        try:
            yield
        finally:
            stop.set()
            beat.join()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _loop(self, owner: str) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once(owner)
            except Exception:  # the loop must outlive any one failure; the lane records it
                log.exception("lane run failed")
                worked = False
            if not worked:
                self._stop.wait(self.config.idle_sleep)

    def _heartbeat(self, stop: threading.Event) -> None:
        while not stop.wait(self.config.lease_seconds / 3):
            with self._held_lock:
                held = list(self._held.values())
            for claim in held:
                try:
                    with transaction(self.engine) as session:
                        lanes.fence(session, claim, self.config.lease_seconds)
                except lanes.LeaseLostError:
                    log.warning("lost the lease on lane %s", claim.lane_id)
                except Exception:
                    log.exception("heartbeat failed")

    # -- one lane run -------------------------------------------------------------------------

    def run_once(self, owner: str | None = None) -> bool:
        """Claim one due lane and run it; False when nothing was due."""
        owner = owner or self.name
        with transaction(self.engine) as session:
            claim = lanes.claim(session, owner, self.config.lease_seconds, self._follow.pop(owner, set()))
            if claim is None:
                return False
            run = SyncRun(
                lane_id=claim.lane_id, system=claim.system, object_type=claim.object_type,
                direction=claim.direction, worker_id=owner, started_at=db_now(session),
            )
            session.add(run)
            session.flush()
            run_id = run.id
        with self._held_lock:
            self._held[owner] = claim
        counts = RunCounts()
        status, error, more, hold_for = "ok", None, False, None
        connector = self.connectors.get(claim.system)
        try:
            if connector is None:
                raise SyncError(f"no connection configured for system {claim.system!r}")
            if claim.direction == lanes.INBOUND:
                more = self._run_inbound(claim, connector, counts)
            elif claim.direction == lanes.RECONCILE:
                more, counts.records_read, counts.api_calls = reconcile.run_lane(
                    self.engine, claim, self.connectors, self._fence(claim),
                    pages=self.config.max_pages_per_run, page_size=self.config.page_size,
                )
            else:
                more = self._run_outbound(claim, connector, counts)
        except lanes.LeaseLostError as lost:
            status, error = "fenced", str(lost)
        except RateLimitedError as limited:
            status, error, hold_for = "throttled", limited.message, limited.retry_after or 1.0
        except SyncError as failure:
            status, error = "failed", failure.message
        except Exception as failure:
            log.exception("lane %s/%s/%s failed", claim.system, claim.object_type, claim.direction)
            status, error = "failed", f"{type(failure).__name__}: {failure}"
        finally:
            with self._held_lock:
                self._held.pop(owner, None)
        self._follow[owner] = counts.woke - {(claim.system, claim.object_type, claim.direction)}
        if counts.throttled_for is not None:
            status, hold_for = "throttled", max(hold_for or 0.0, counts.throttled_for)
        usage = connector.usage() if connector is not None else None
        hold_for = max(hold_for or 0.0, quota.hold_seconds(usage) or 0.0) or None
        with transaction(self.engine) as session:
            now = db_now(session)
            if status != "fenced":
                lanes.release(session, claim, status, error, more and hold_for is None)
            if hold_for is not None:
                # Every worker sees the hold: the quota is the connection's, not this lane's.
                lanes.hold(session, claim.system, now + timedelta(seconds=hold_for))
            quotas.record_usage(session, claim.system, counts.api_calls, usage, now)
            session.execute(
                update(SyncRun)
                .where(col(SyncRun.id) == run_id)
                .values(
                    finished_at=now, status=status, error=error,
                    records_read=counts.records_read, ops_planned=counts.ops_planned,
                    ops_done=counts.ops_done, ops_retried=counts.ops_retried, ops_dead=counts.ops_dead,
                    api_calls=counts.api_calls,
                )
            )
        return True

    def _fence(self, claim: lanes.Claim) -> executor.Fence:
        return lambda session: lanes.fence(session, claim, self.config.lease_seconds)

    def _run_inbound(self, claim: lanes.Claim, connector: Connector, counts: RunCounts) -> bool:
        """Inbox first, then pages from the cursor; True when the lane has more to read."""
        fence = self._fence(claim)
        calls = connector.api_calls_in_thread  # other lanes' threads share the connector
        try:
            self._drain_inbox(claim, connector, counts, fence)
            cursor = claim.cursor
            for _ in range(self.config.max_pages_per_run):
                page = connector.read_changes(claim.object_type, cursor, self.config.page_size)
                if not page.records and page.cursor == cursor and not page.has_more:
                    return False  # nothing new: nothing to commit (most polls), so no turn at the write lock
                with transaction(self.engine) as session:
                    now = fence(session)
                    _ingest(session, claim, page.records, now, counts)
                    lanes.advance_cursor(session, claim, page.cursor)
                cursor = page.cursor
                if not page.has_more:
                    return False
            return True
        finally:
            counts.api_calls += connector.api_calls_in_thread - calls

    def _drain_inbox(self, claim: lanes.Claim, connector: Connector, counts: RunCounts, fence: executor.Fence) -> None:
        with snapshot(self.engine) as session:  # only a look: the events are marked processed below, fenced
            events = session.execute(
                select(col(InboxEvent.id), col(InboxEvent.external_id), col(InboxEvent.payload))
                .where(
                    col(InboxEvent.system) == claim.system,
                    col(InboxEvent.object_type) == claim.object_type,
                    col(InboxEvent.processed_at).is_(None),
                    writeback.not_deferred(db_now(session)),
                )
                .order_by(col(InboxEvent.id))
                .limit(self.config.page_size)
            ).all()
        if not events:
            return
        ids = sorted({str(external_id) for _, external_id, _ in events})
        # A record Revline created whose owned fields only a read can tell, and that no poll has
        # brought since, is read in full here, echo or not (sync_core/writeback.py).
        forced = {str(e) for _, e, payload in events if isinstance(payload, dict) and payload.get("read_in_full")}
        records = connector.read(claim.object_type, ids)
        with transaction(self.engine) as session:
            now = fence(session)
            _ingest(session, claim, records, now, counts, forced)
            session.execute(
                update(InboxEvent)
                .where(statements.among(session, col(InboxEvent.id), [event_id for event_id, _, _ in events]))
                .values(processed_at=now)
            )

    def _run_outbound(self, claim: lanes.Claim, connector: Connector, counts: RunCounts) -> bool:
        """Send batches until nothing is due; True when the lane still has due work."""
        fence = self._fence(claim)
        executor.recover_in_flight(self.engine, claim, fence)
        for _ in range(self.config.max_batches_per_run):
            batch = executor.run_batch(self.engine, claim, connector, self.retry, fence)
            if batch is None:
                return False
            counts.ops_done += batch.done
            counts.ops_retried += batch.retried
            counts.ops_dead += batch.dead
            counts.api_calls += batch.api_calls
            counts.woke |= batch.woke
            if batch.throttled_for is not None:
                counts.throttled_for = batch.throttled_for
                return True  # work is left, after the hold
        return True


def _ingest(
    session: Session,
    claim: lanes.Claim,
    records: Sequence[SourceRecord],
    now: datetime,
    counts: RunCounts,
    read_in_full: Collection[str] = (),
) -> None:
    if records:
        policy = load(session, claim.object_type)
        # Records Revline created and still has to read in full: the page is that read.
        ids = [r.external_id for r in records]
        read_in_full = {*read_in_full, *writeback.take_full_reads(session, claim.system, claim.object_type, ids, now)}
        result = intake.ingest(session, claim.system, policy, records, now, read_in_full)
        flows.after_ingest(session, claim.system, policy, result.changed, now)
        counts.records_read += result.records
        counts.ops_planned += result.ops_planned
        counts.ops_dead += result.dead


def drain(worker: Worker, max_runs: int = 10_000) -> int:
    """Run lanes in this thread until none is due (tests and the benchmark); returns runs made.

    A heartbeat renews the lease of the lane being run, so a run longer than the lease is not fenced.
    """
    runs = 0
    with worker.heartbeat():
        while runs < max_runs and worker.run_once():
            runs += 1
    return runs
