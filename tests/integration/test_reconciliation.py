"""Reconciliation passes over two in-memory systems under the demo policy, on SQLite and PostgreSQL.

Mismatches are planted while the sync lanes are paused (as when webhooks are lost and polling
lags), so only reconciliation can see them; passes run in the worker as reconcile lanes.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func, select, update
from sqlmodel import col

from console.demo import install_policy
from sync_core.domain.changes import ScanPage
from sync_core.domain.errors import RateLimitedError
from sync_core.persistence import lanes
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import (
    AuditLog,
    EntityLink,
    Finding,
    Lane,
    OutboundOp,
    ReconcileRun,
    SyncRun,
    TraceSpan,
)
from sync_core.services import ledger_engine, overview, reconciliation
from sync_core.testing import InMemoryConnector, InMemorySystem
from sync_core.worker import Worker, WorkerConfig, drain


def _setup(url: str, page_size: int = 2000) -> tuple[Engine, Worker, InMemorySystem, InMemorySystem]:
    engine = ledger_engine(url)
    install_policy(engine)
    reconciliation.save_settings(engine, "admin", grace=timedelta(0))
    marketing, sales = InMemorySystem("marketing"), InMemorySystem("sales")
    connectors = {"marketing": InMemoryConnector(marketing), "sales": InMemoryConnector(sales)}
    worker = Worker(engine, connectors, WorkerConfig(page_size=page_size))
    return engine, worker, marketing, sales


def _sync(engine: Engine, worker: Worker) -> None:
    with transaction(engine) as session:
        lanes.mark_all_due(session, lanes.INBOUND)
    drain(worker)


def _pause_sync(engine: Engine, paused: bool = True) -> None:
    """Stop (or restart) reading changes: what a lost webhook and a lagging poll look like."""
    with transaction(engine) as session:
        session.execute(update(Lane).where(col(Lane.direction) == lanes.INBOUND).values(paused=paused))


def _pass(engine: Engine, worker: Worker, mode: str = reconciliation.FULL) -> ReconcileRun:
    run_id = reconciliation.run_now(engine, "ops@example.com", mode)
    drain(worker)
    with transaction(engine) as session:
        run = session.get(ReconcileRun, run_id)
        assert run is not None
        return run


def _open(engine: Engine) -> list[Finding]:
    with transaction(engine) as session:
        return list(session.scalars(select(Finding).where(col(Finding.status) == "open").order_by(col(Finding.id))))


def _converged(engine: Engine, worker: Worker, marketing: InMemorySystem, sales: InMemorySystem) -> list[str]:
    ids = [
        marketing.put("contact", {"email": f"p{n}@example.com", "firstname": f"P{n}", "lastname": "Doe"})
        for n in range(6)
    ]
    marketing.put("company", {"name": "Acme Labs", "domain": "acme.example", "industry": "TECHNOLOGY"})
    _sync(engine, worker)
    _sync(engine, worker)
    assert sales.count("contact") == 6
    return ids


def _sales_contact(sales: InMemorySystem, email: str) -> str:
    return next(i for i, r in sales.all("contact").items() if r["Email"] == email)


def test_converged_systems_have_no_findings(ledger_url: str) -> None:
    engine, worker, marketing, sales = _setup(ledger_url)
    _converged(engine, worker, marketing, sales)
    run = _pass(engine, worker)
    assert run.status == "done"
    assert run.lanes_done == run.lanes_total == 4
    assert run.records_read == 14  # each system's 6 contacts and 1 company, read once
    assert run.findings_opened == 0
    assert _open(engine) == []
    # a converged pass reads each table in pages and nothing else: one scan call per lane
    assert run.api_calls == 4


class _SharedConnector(InMemoryConnector):
    """A connector another lane's thread uses too: it makes a call of its own while each page is scanned."""

    def scan(self, object_type: str, after: str | None, limit: int) -> ScanPage:
        other = threading.Thread(target=self.read, args=(object_type, ["elsewhere"]))
        other.start()
        other.join()
        return super().scan(object_type, after, limit)


def test_a_pass_counts_its_own_api_calls_not_those_of_lanes_sharing_its_connectors(ledger_url: str) -> None:
    engine, worker, marketing, sales = _setup(ledger_url)
    _converged(engine, worker, marketing, sales)
    shared = {"marketing": _SharedConnector(marketing), "sales": _SharedConnector(sales)}
    run = _pass(engine, Worker(engine, shared, WorkerConfig()))
    assert run.findings_opened == 0
    assert sum(c.api_calls for c in shared.values()) == 8  # the four scans, and a call from elsewhere meanwhile
    assert run.api_calls == 4  # the pass's own
    with transaction(engine) as session:
        lane_calls = session.scalars(select(func.sum(SyncRun.api_calls)).where(
            col(SyncRun.direction) == lanes.RECONCILE, col(SyncRun.started_at) >= run.started_at)).one()  # fmt: skip
    assert lane_calls == 4


def test_pages_read_ahead_are_counted_as_the_pass_reads_them(ledger_url: str) -> None:
    engine, worker, marketing, sales = _setup(ledger_url, page_size=2)
    _converged(engine, worker, marketing, sales)
    _pause_sync(engine)  # only the pass's lanes make calls
    before = sum(c.api_calls for c in worker.connectors.values())
    run = _pass(engine, worker)
    assert (run.records_read, run.findings_opened) == (14, 0)
    made = sum(c.api_calls for c in worker.connectors.values()) - before
    assert made >= 8  # six contacts two at a time and a company, in each system
    assert run.api_calls == made


def test_a_lane_run_throttled_mid_pass_runs_again_and_the_pass_finishes(ledger_url: str) -> None:
    engine, worker, marketing, sales = _setup(ledger_url)
    _converged(engine, worker, marketing, sales)
    _pause_sync(engine)
    sales.fail_next_calls(1, RateLimitedError("REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded", retry_after=0.2))
    run_id = reconciliation.run_now(engine, "ops@example.com")
    drain(worker)  # a sales lane is throttled, and its system held for the wait the limit asks for
    time.sleep(0.5)
    drain(worker)
    with transaction(engine) as session:
        run = session.get(ReconcileRun, run_id)
        assert run is not None
        assert (run.status, run.lanes_done, run.records_read) == ("done", 4, 14)
        throttled = session.scalars(select(func.count()).select_from(SyncRun).where(
            col(SyncRun.direction) == lanes.RECONCILE, col(SyncRun.status) == "throttled")).one()  # fmt: skip
        assert throttled == 1


def test_drift_is_found_once_healed_and_closes(ledger_url: str) -> None:
    engine, worker, marketing, sales = _setup(ledger_url)
    _converged(engine, worker, marketing, sales)
    _pause_sync(engine)
    # a sales rep overwrites marketing's email (always owner: marketing) and sales' own industry on the
    # company is blanked... in marketing, where it is not the owner (owner unless blank: sales)
    rep = _sales_contact(sales, "p1@example.com")
    sales.put("contact", {"Email": "typo@example.com"}, external_id=rep)

    run = _pass(engine, worker)
    assert run.findings_opened == 1
    (finding,) = _open(engine)
    assert (finding.kind, finding.object_type, finding.field) == ("field_drift", "contact", "email")
    assert finding.values == {"marketing": "p1@example.com", "sales": "typo@example.com", "expected": "p1@example.com"}
    assert finding.records["sales"] == rep
    assert finding.healed_by == reconciliation.HEALER
    assert finding.heal_op_id is not None
    # the heal went through the outbox and the worker sent it with the pass
    assert sales.get("contact", rep)["Email"] == "p1@example.com"  # type: ignore[index]
    with transaction(engine) as session:
        op = session.get(OutboundOp, finding.heal_op_id)
        assert op is not None
        assert op.status == "done"
        assert op.payload == {"email": "p1@example.com"}
        spans = session.scalars(select(TraceSpan).where(col(TraceSpan.name) == "reconcile.heal")).all()
        assert [s.attributes["finding"] for s in spans] == [finding.id]

    again = _pass(engine, worker)
    assert again.findings_opened == 0
    assert again.findings_closed == 1
    assert _open(engine) == []
    with transaction(engine) as session:
        closed = session.get(Finding, finding.id)
        assert closed is not None
        assert closed.status == "healed"
        assert closed.closed_at is not None
        assert session.scalar(select(func.count()).select_from(Finding)) == 1


def test_held_finding_waits_for_a_person(ledger_url: str) -> None:
    engine, worker, marketing, sales = _setup(ledger_url)
    reconciliation.save_settings(engine, "admin", healing={"field_drift": "hold"})
    _converged(engine, worker, marketing, sales)
    _pause_sync(engine)
    first, second = _sales_contact(sales, "p1@example.com"), _sales_contact(sales, "p2@example.com")
    sales.put("contact", {"Email": "one@example.com"}, external_id=first)
    sales.put("contact", {"Email": "two@example.com"}, external_id=second)

    _pass(engine, worker)
    held = _open(engine)
    assert [f.records["sales"] for f in held] == [first, second]
    assert all(f.heal_op_id is None for f in held)
    assert sales.get("contact", first)["Email"] == "one@example.com"  # type: ignore[index]

    # the next pass sees the same two: nothing new, nothing doubled
    assert _pass(engine, worker).findings_opened == 0
    assert [f.id for f in _open(engine)] == [f.id for f in held]

    # a person heals the first, ignores the second with a reason
    assert reconciliation.heal_now(engine, [held[0].id or 0], "ops@example.com") == 1
    assert reconciliation.ignore(engine, [held[1].id or 0], "ops@example.com", "test record, leave it") == 1
    drain(worker)
    assert sales.get("contact", first)["Email"] == "p1@example.com"  # type: ignore[index]

    run = _pass(engine, worker)
    assert run.findings_closed == 1
    assert _open(engine) == []
    with transaction(engine) as session:
        healed, ignored = (session.get(Finding, f.id) for f in held)
        assert healed is not None
        assert (healed.status, healed.healed_by) == ("resolved", "ops@example.com")
        assert ignored is not None
        assert (ignored.status, ignored.reason) == ("ignored", "test record, leave it")
        actions = session.scalars(select(col(AuditLog.action)).where(col(AuditLog.action).like("finding.%"))).all()
        assert sorted(actions) == ["finding.heal", "finding.ignore"]


def test_a_deleted_record_is_an_orphan(ledger_url: str) -> None:
    engine, worker, marketing, sales = _setup(ledger_url)
    _converged(engine, worker, marketing, sales)
    gone = _sales_contact(sales, "p3@example.com")
    sales.delete("contact", gone)
    _pass(engine, worker)
    (orphan,) = _open(engine)
    assert (orphan.kind, orphan.records) == ("orphan", {"sales": gone})


def test_an_interrupted_pass_resumes_without_losing_or_doubling(ledger_url: str) -> None:
    engine, worker, marketing, sales = _setup(ledger_url, page_size=2)
    reconciliation.save_settings(engine, "admin", healing={"field_drift": "hold"})
    _converged(engine, worker, marketing, sales)
    _pause_sync(engine)
    for n in range(0, 6, 2):
        sales.put("contact", {"Title": "planted"}, external_id=_sales_contact(sales, f"p{n}@example.com"))
        marketing_id = next(i for i, r in marketing.all("contact").items() if r["email"] == f"p{n + 1}@example.com")
        marketing.put("contact", {"email": f"moved{n}@example.com"}, external_id=marketing_id)

    run_id = reconciliation.run_now(engine, "ops@example.com")
    # a worker takes the sales contacts lane, reads one page of two and dies holding the lease
    doomed = Worker(engine, worker.connectors, WorkerConfig(page_size=2, max_pages_per_run=1, lease_seconds=1))
    target = (
        (col(Lane.direction) == lanes.RECONCILE) & (col(Lane.system) == "sales") & (col(Lane.object_type) == "contact")
    )
    with transaction(engine) as session:
        session.execute(update(Lane).where(~target).values(due_at=None))
    assert doomed.run_once()
    with transaction(engine) as session:
        lane = session.scalars(select(Lane).where(target)).one()
        assert reconciliation.Position.parse(lane.cursor).after is not None  # half way
        session.execute(update(Lane).where(target).values(due_at=func.now()))
        claim = lanes.claim(session, "doomed/0", 1)
        assert claim is not None
        assert claim.lane_id == lane.id
    time.sleep(1.5)
    with transaction(engine) as session:
        session.execute(update(Lane).where(col(Lane.direction) == lanes.RECONCILE).values(due_at=func.now()))
    drain(worker)
    with transaction(engine) as session:
        run = session.get(ReconcileRun, run_id)
        assert run is not None
        assert run.status == "done"
    found = _open(engine)
    # marketing's emails are marketing's (owner): sales lacks them; sales' titles are two-way: marketing lacks them
    expected = [("email", "sales")] * 3 + [("title", "marketing")] * 3
    assert sorted((f.field, f.key.split(":")[3]) for f in found) == expected
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(Finding)) == 6


def test_a_full_pass_supersedes_a_running_incremental_one(ledger_url: str) -> None:
    engine, worker, marketing, sales = _setup(ledger_url)
    _converged(engine, worker, marketing, sales)
    incremental = reconciliation.run_now(engine, "scheduler", reconciliation.INCREMENTAL)
    assert reconciliation.run_now(engine, "scheduler", reconciliation.INCREMENTAL) == incremental  # one at a time
    full = reconciliation.run_now(engine, "ops@example.com", reconciliation.FULL)
    assert full != incremental
    drain(worker)
    with transaction(engine) as session:
        first, second = (session.get(ReconcileRun, i) for i in (incremental, full))
        assert first is not None
        assert second is not None
        assert (first.status, first.lanes_done) == ("superseded", 0)
        assert (second.status, second.lanes_done, second.records_read) == ("done", 4, 14)


def test_two_records_sharing_an_email_are_duplicates(ledger_url: str) -> None:
    engine, worker, marketing, sales = _setup(ledger_url)
    _converged(engine, worker, marketing, sales)
    _pause_sync(engine)
    first = _sales_contact(sales, "p2@example.com")
    second = sales.put("contact", {"Email": "p2@example.com", "FirstName": "P2", "LastName": "Again"})
    _pass(engine, worker)
    (duplicate,) = _open(engine)
    assert (duplicate.kind, duplicate.field) == ("duplicate", "p2@example.com")
    assert duplicate.records == {"sales": ", ".join(sorted([first, second]))}
    assert duplicate.heal_op_id is None  # which one stays is for a person to say


def test_an_orphan_whose_email_finds_its_record_again_is_relinked(ledger_url: str) -> None:
    engine, worker, marketing, sales = _setup(ledger_url)
    _converged(engine, worker, marketing, sales)
    _pause_sync(engine)
    gone = _sales_contact(sales, "p4@example.com")
    sales.delete("contact", gone)
    again = sales.put("contact", {"Email": "p4@example.com", "FirstName": "P4", "LastName": "Doe"})  # entered anew
    _pass(engine, worker)
    assert _open(engine) == []
    with transaction(engine) as session:
        healed = session.scalars(select(Finding).where(col(Finding.kind) == "orphan")).one()
        assert (healed.status, healed.healed_by) == ("healed", reconciliation.HEALER)
        moved = session.scalars(select(EntityLink).where(
            col(EntityLink.canonical_id) == healed.canonical_id, col(EntityLink.system) == "sales")).all()  # fmt: skip
        assert [link.external_id for link in moved] == [again]
    _pause_sync(engine, paused=False)
    _sync(engine, worker)
    assert sales.count("contact") == 6  # the sync carries on with the record: no second copy of the person
    assert marketing.count("contact") == 6


def test_open_findings_over_time_and_in_the_metrics(ledger_url: str) -> None:
    engine, worker, marketing, sales = _setup(ledger_url)
    reconciliation.save_settings(engine, "admin", healing={"field_drift": "hold"})
    _converged(engine, worker, marketing, sales)
    _pass(engine, worker)
    _pause_sync(engine)
    sales.put("contact", {"Email": "typo@example.com"}, external_id=_sales_contact(sales, "p5@example.com"))
    _pass(engine, worker)
    since = datetime.now(UTC) - timedelta(hours=1)
    assert [n for _, n in reconciliation.open_over_time(engine, since)] == [0, 1]
    metrics = {
        (m.name, s.labels.get("kind")): s.value
        for m in text_string_to_metric_families(overview.metrics_text(engine)) for s in m.samples
    }  # fmt: skip
    assert metrics[("revline_findings_open", "field_drift")] == 1
    assert metrics[("revline_findings_open", "orphan")] == 0


def test_a_person_links_an_orphan_to_the_record_that_replaced_it(ledger_url: str) -> None:
    engine, worker, marketing, sales = _setup(ledger_url)
    _converged(engine, worker, marketing, sales)
    _pause_sync(engine)
    gone = _sales_contact(sales, "p0@example.com")
    sales.delete("contact", gone)
    again = sales.put("contact", {"Email": "p0@new.example", "FirstName": "P0", "LastName": "Doe"})  # a new email
    _pass(engine, worker)
    (orphan,) = [f for f in _open(engine) if f.kind == "orphan"]
    taken = _sales_contact(sales, "p1@example.com")
    with pytest.raises(ValueError, match="linked to another record"):
        reconciliation.link_to(engine, orphan.id or 0, taken, "ops@example.com", "same person")

    reconciliation.link_to(engine, orphan.id or 0, again, "ops@example.com", "she changed jobs; same person")
    _pause_sync(engine, paused=False)
    _sync(engine, worker)
    # the sync carries on with the linked record: marketing owns the email, so sales gets it back
    assert sales.get("contact", again)["Email"] == "p0@example.com"  # type: ignore[index]
    assert sales.count("contact") == 6
    _pass(engine, worker)
    with transaction(engine) as session:
        closed = session.get(Finding, orphan.id)
        assert closed is not None
        assert (closed.status, closed.healed_by) == ("resolved", "ops@example.com")
        audit = session.scalars(select(AuditLog).where(col(AuditLog.action) == "finding.link")).one()
        assert audit.details["after"] == again
