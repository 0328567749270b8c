"""Several `revline worker` processes on one PostgreSQL ledger: nothing lost, nothing doubled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from console.demo import install_policy
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import Lane, OutboundOp, SyncRun
from sync_core.services import ledger_engine
from sync_core.testing import InMemorySystem, connect_systems, serve_systems

pytestmark = pytest.mark.postgres

RECORDS = 2_000


@pytest.fixture
def shared_systems() -> Iterator[tuple[str, Callable[[str], InMemorySystem]]]:
    manager = serve_systems()
    host, port = manager.address  # type: ignore[misc]
    try:
        yield f"{host}:{port}", connect_systems((host, port))
    finally:
        manager.shutdown()


def _start_worker(url: str, address: str, lease: float = 30.0) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        REVLINE_DATABASE_URL=url,
        REVLINE_CONNECTIONS=json.dumps(
            {name: {"kind": "memory", "address": address} for name in ("marketing", "sales")}
        ),
        REVLINE_POLL_SECONDS="1",
        REVLINE_LEASE_SECONDS=str(lease),
        REVLINE_PAGE_SIZE="200",
    )
    revline = Path(sys.executable).with_name("revline")
    return subprocess.Popen([str(revline), "worker", "--threads", "2"], env=env, stderr=subprocess.DEVNULL)


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _open_ops(url: str) -> int:
    with transaction(ledger_engine(url)) as session:
        return int(
            session.scalar(
                select(func.count()).where(OutboundOp.status.in_(("pending", "in_flight")))  # type: ignore[attr-defined]
            )
            or 0
        )


def _seed(system: InMemorySystem) -> None:
    rows = [{"name": f"Company {n}", "domain": f"c{n}.example", "city": "Lyon"} for n in range(RECORDS)]
    for start in range(0, RECORDS, 500):
        system.put_many("company", rows[start : start + 500])


def test_three_workers_write_every_record_exactly_once(
    pg_database: str, shared_systems: tuple[str, Callable[[str], InMemorySystem]]
) -> None:
    address, system = shared_systems
    from sync_core.persistence.migrate import upgrade

    upgrade(pg_database)
    install_policy(ledger_engine(pg_database))
    marketing, sales = system("marketing"), system("sales")
    _seed(marketing)
    workers = [_start_worker(pg_database, address) for _ in range(3)]
    try:
        _wait_until(lambda: sales.count("company") == RECORDS, 120, "all records in sales")
        _wait_until(lambda: _open_ops(pg_database) == 0, 60, "the outbox to empty")
        time.sleep(3)  # let the sales lane read its own echoes back
    finally:
        _stop(workers)

    applied = sales.applied_writes()
    keys = Counter(key for write in applied for key in write.idempotency_keys)
    assert len(keys) == RECORDS
    assert set(keys.values()) == {1}, "an idempotency key was applied more than once"
    assert len({w.canonical_id for w in applied}) == RECORDS
    assert marketing.applied_writes() == [], "echoes of Revline's own writes were synced back"
    with transaction(ledger_engine(pg_database)) as session:
        workers_seen = session.scalar(select(func.count(func.distinct(SyncRun.worker_id))))
        dead = session.scalar(select(func.count()).where(OutboundOp.status == "dead"))
    assert dead == 0
    assert (workers_seen or 0) >= 2, "the lanes were not shared between the worker processes"


def test_a_killed_worker_loses_nothing_and_doubles_nothing(
    pg_database: str, shared_systems: tuple[str, Callable[[str], InMemorySystem]]
) -> None:
    address, system = shared_systems
    from sync_core.persistence.migrate import upgrade

    upgrade(pg_database)
    install_policy(ledger_engine(pg_database))
    marketing, sales = system("marketing"), system("sales")
    sales.slow_writes(0.4)  # each batch is applied, then the answer takes a while: kill lands in between
    _seed(marketing)
    workers = [_start_worker(pg_database, address, lease=3.0) for _ in range(2)]
    try:
        _wait_until(lambda: sales.count("company") >= 400, 120, "the first batches in sales")
        with transaction(ledger_engine(pg_database)) as session:
            owner = session.scalar(
                select(Lane.lease_owner).where(
                    Lane.system == "sales", Lane.object_type == "company", Lane.direction == "outbound"
                )
            )
        assert owner, "no worker holds the sales outbound lane"
        pid = int(owner.split(":")[1].split("/")[0])
        victim = next(w for w in workers if w.pid == pid)
        os.kill(pid, signal.SIGKILL)
        victim.wait(timeout=10)
        _wait_until(lambda: sales.count("company") == RECORDS, 180, "all records in sales after the kill")
        _wait_until(lambda: _open_ops(pg_database) == 0, 60, "the outbox to empty")
    finally:
        sales.slow_writes(0)
        _stop(workers)

    applied = sales.applied_writes()
    by_canonical = Counter(w.canonical_id for w in applied if w.created)
    assert sales.count("company") == RECORDS, "a record was lost or duplicated"
    assert len(by_canonical) == RECORDS, "a record was never created"
    assert set(by_canonical.values()) == {1}, "a record was created twice"
    keys = Counter(key for write in applied for key in write.idempotency_keys)
    assert len(keys) == RECORDS
    resent = [k for k, n in keys.items() if n > 1]
    with transaction(ledger_engine(pg_database)) as session:
        reclaimed = set(session.scalars(select(OutboundOp.idempotency_key).where(OutboundOp.attempts > 1)))
    # Only writes that were in flight when the worker died were sent a second time; the
    # upsert keyed on the canonical id turned the second send into an update, not a record.
    assert set(resent) <= reclaimed
    with transaction(ledger_engine(pg_database)) as session:
        statuses = dict(session.execute(select(OutboundOp.status, func.count()).group_by(OutboundOp.status)).all())
    assert statuses == {"done": RECORDS}
