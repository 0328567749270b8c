"""Failures go through the retry policy: retried while it allows, then dead letters; the lane goes on."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from console.demo import install_policy
from sync_core.domain.errors import RetryableError
from sync_core.persistence import lanes
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import Lane, OutboundOp
from sync_core.retry import RetryPolicy
from sync_core.services import ledger_engine
from sync_core.testing import InMemoryConnector, InMemorySystem
from sync_core.worker import Worker, drain


def _worker(url: str, max_attempts: int) -> tuple[Worker, InMemorySystem, InMemorySystem]:
    engine = ledger_engine(url)
    install_policy(engine)
    marketing, sales = InMemorySystem("marketing"), InMemorySystem("sales")
    worker = Worker(
        engine,
        {"marketing": InMemoryConnector(marketing), "sales": InMemoryConnector(sales, max_batch_size=10)},
        retry=RetryPolicy(base_seconds=0.0, jitter=0.0, max_attempts=max_attempts),
    )
    return worker, marketing, sales


def _sync(worker: Worker, url: str, rounds: int = 1) -> None:
    for _ in range(rounds):
        with transaction(ledger_engine(url)) as session:
            lanes.mark_all_due(session)
        drain(worker)


def _ops(url: str) -> list[tuple[str, int, str | None, str | None]]:
    with transaction(ledger_engine(url)) as session:
        rows = session.execute(
            select(OutboundOp.status, OutboundOp.attempts, OutboundOp.error_category, OutboundOp.error_message)
            .where(OutboundOp.target_system == "sales")
            .order_by(OutboundOp.id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_retryable_failures_are_retried_until_they_succeed(ledger_url: str) -> None:
    worker, marketing, sales = _worker(ledger_url, max_attempts=5)
    sales.fail_next_calls(2, RetryableError("REQUEST_LIMIT_EXCEEDED", retry_after=0), method="upsert")
    marketing.put("company", {"name": "Acme"})
    _sync(worker, ledger_url, rounds=4)
    assert sales.count("company") == 1
    assert _ops(ledger_url) == [("done", 3, None, None)]


def test_retries_run_out_into_a_dead_letter_with_its_reason(ledger_url: str) -> None:
    worker, marketing, sales = _worker(ledger_url, max_attempts=3)
    sales.fail_next_calls(50, RetryableError("503 Service Unavailable"), method="upsert")
    marketing.put("company", {"name": "Acme"})
    _sync(worker, ledger_url, rounds=5)
    [(status, attempts, category, message)] = _ops(ledger_url)
    assert (status, attempts, category) == ("dead", 3, "transient")
    assert message is not None
    assert "503 Service Unavailable" in message


def test_an_unexpected_exception_is_a_dead_letter_not_a_crash(ledger_url: str) -> None:
    worker, marketing, sales = _worker(ledger_url, max_attempts=3)
    sales.fail_next_calls(1, KeyError("Industry"), method="upsert")
    marketing.put("company", {"name": "Acme"})
    marketing.put("company", {"name": "Globex"})
    _sync(worker, ledger_url, rounds=2)
    ops = _ops(ledger_url)
    assert [(s, c) for s, _, c, _ in ops] == [("dead", "unexpected"), ("dead", "unexpected")]
    assert "KeyError" in (ops[0][3] or "")
    # the lane still runs: the next record goes through
    marketing.put("company", {"name": "Initech"})
    _sync(worker, ledger_url)
    assert sales.count("company") == 1


def test_a_poison_record_does_not_stop_its_lane(ledger_url: str) -> None:
    from sync_core.domain.errors import ErrorCategory, PermanentError

    worker, marketing, sales = _worker(ledger_url, max_attempts=3)
    sales.fail_records("Name", "Poison", PermanentError("DUPLICATE_VALUE: duplicate", ErrorCategory.DUPLICATE))
    marketing.put_many("company", [{"name": "Poison"}] + [{"name": f"Co {n}"} for n in range(45)])
    _sync(worker, ledger_url, rounds=2)
    assert sales.count("company") == 45
    statuses = Counter(status for status, *_ in _ops(ledger_url))
    assert statuses == {"done": 45, "dead": 1}
    with transaction(ledger_engine(ledger_url)) as session:
        failed = session.scalars(select(Lane).where(Lane.last_status != "ok")).all()
    assert failed == []


def test_a_bad_record_keeps_one_dead_letter_until_it_is_fixed_at_the_source(ledger_url: str) -> None:
    worker, marketing, sales = _worker(ledger_url, max_attempts=3)
    contact = marketing.put("contact", {"email": "ada-at-example.com", "firstname": "Ada"})
    _sync(worker, ledger_url)
    marketing.put("contact", {"jobtitle": "CTO"}, external_id=contact)  # still bad, changed again
    _sync(worker, ledger_url)

    def ingest_dead_letters() -> list[tuple[str, str | None]]:
        with transaction(ledger_engine(ledger_url)) as session:
            rows = session.execute(
                select(OutboundOp.status, OutboundOp.error_message).where(OutboundOp.operation == "ingest")
            ).all()
        return [(status, message) for status, message in rows]

    [(status, message)] = ingest_dead_letters()
    assert status == "dead"
    assert "ada-at-example.com" in (message or "")
    assert sales.count("contact") == 0

    marketing.put("contact", {"email": "ada@example.com"}, external_id=contact)  # someone fixes it
    _sync(worker, ledger_url)
    assert [s for s, _ in ingest_dead_letters()] == ["done"]
    assert [r["Email"] for r in sales.all("contact").values()] == ["ada@example.com"]


def test_a_spent_quota_holds_the_connection_and_costs_no_attempts(ledger_url: str) -> None:
    import time

    from sync_core.domain.errors import RateLimitedError
    from sync_core.persistence.tables import ApiUsage, SyncRun

    worker, marketing, sales = _worker(ledger_url, max_attempts=2)
    sales.fail_next_calls(3, RateLimitedError("REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded", 0.4), "upsert")
    marketing.put("company", {"name": "Acme"})
    _sync(worker, ledger_url)
    with transaction(ledger_engine(ledger_url)) as session:
        held = session.scalars(select(Lane).where(Lane.system == "sales")).all()
        assert {lane.held_until is not None for lane in held} == {True}  # both sales lanes, not just one
        assert session.scalars(select(SyncRun.status).where(SyncRun.status == "throttled")).all()
    assert _ops(ledger_url)[0][:2] == ("pending", 0)  # the attempt was refunded
    _sync(worker, ledger_url)  # still held: nothing is claimed for sales
    assert sales.count("company") == 0
    for _ in range(3):  # three refusals in a row, more than max_attempts: still no dead letter
        time.sleep(0.5)
        _sync(worker, ledger_url)
    assert sales.count("company") == 1
    [(status, attempts, _, _)] = _ops(ledger_url)
    assert (status, attempts) == ("done", 1)
    with transaction(ledger_engine(ledger_url)) as session:
        usage = session.get(ApiUsage, "sales")
        assert usage is not None
        assert usage.calls >= 4
