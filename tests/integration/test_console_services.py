"""The console's services (overview, runs, dead letters) against a migrated SQLite file and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, delete, func, select
from sqlmodel import SQLModel, col

from sync_core.persistence.database import make_engine, transaction
from sync_core.persistence.migrate import upgrade
from sync_core.persistence.tables import ApiUsage, AuditLog, Lane, OutboundOp, RepairAction, SyncRun
from sync_core.services import dead_letters, overview, runs

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = f"revline_test_console_{uuid.uuid4().hex[:8]}"  # one per run: runs side by side do not collide
# Emptied after each test; the audit log is append-only, so tests read only the entries they made.
TABLES: tuple[type[SQLModel], ...] = (RepairAction, SyncRun, OutboundOp, Lane, ApiUsage)


def _create_pg_database() -> str:
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_DB}")
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432: {exc}")
    return f"postgresql://postgres@127.0.0.1:5432/{PG_DB}"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def migrated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'revline.db'}"
    else:
        url = _create_pg_database()
    upgrade(url)
    engine = make_engine(url, pool_size=2)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(migrated: Engine) -> Iterator[Engine]:
    yield migrated
    with transaction(migrated) as session:
        for table in TABLES:
            session.execute(delete(table))


def audit_mark(engine: Engine) -> int:
    """The newest audit entry's id: entries after it are the ones a test makes."""
    with transaction(engine) as session:
        return int(session.execute(select(func.coalesce(func.max(AuditLog.id), 0))).scalar_one())


def now() -> datetime:
    return datetime.now(UTC)


def add(engine: Engine, *rows: SQLModel) -> list[int]:
    with transaction(engine) as session:
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]  # type: ignore[attr-defined]


def lane(system: str, object_type: str, direction: str, **fields: Any) -> Lane:
    return Lane(system=system, object_type=object_type, direction=direction, **fields)


def op(target: str = "erp", object_type: str = "order", status: str = "pending", **fields: Any) -> OutboundOp:
    at = fields.pop("at", now())
    values: dict[str, Any] = {
        "idempotency_key": uuid.uuid4().hex,
        "target_system": target,
        "object_type": object_type,
        "canonical_id": str(uuid.uuid4()),
        "source_system": "hubspot",
        "source_id": "42",
        "source_version": "1",
        "payload": {"name": "Acme", "amount": 1200},
        "status": status,
        "next_attempt_at": at,
        "correlation_id": str(uuid.uuid4()),
        "created_at": at,
        "updated_at": at,
    }
    values.update(fields)
    return OutboundOp(**values)


def usage(system: str, calls: int, **fields: Any) -> ApiUsage:
    return ApiUsage(system=system, calls=calls, updated_at=fields.pop("updated_at", now()), **fields)


def add_usage(engine: Engine, *rows: ApiUsage) -> None:
    """Usage rows are keyed by system: `add` would look for ids."""
    with transaction(engine) as session:
        session.add_all(rows)


def run(lane_id: int, started_at: datetime, status: str = "ok", **fields: Any) -> SyncRun:
    fields.setdefault("direction", "inbound")
    return SyncRun(
        lane_id=lane_id,
        system="hubspot",
        object_type="contact",
        worker_id="w1",
        started_at=started_at,
        finished_at=started_at + timedelta(seconds=2),
        status=status,
        **fields,
    )


# -- overview ---------------------------------------------------------------------------------


def test_status_reports_each_lane_state_and_the_counts(engine: Engine) -> None:
    t = now()
    running, expired, paused, failed, outbound = add(
        engine,
        lane("hubspot", "contact", "inbound", lease_owner="w1", lease_expires_at=t + timedelta(seconds=30)),
        lane("salesforce", "lead", "inbound", lease_owner="w2", lease_expires_at=t - timedelta(seconds=30)),
        lane("salesforce", "account", "inbound", paused=True),
        lane("erp", "invoice", "inbound", last_status="failed", last_error="boom", last_run_at=t),
        lane("erp", "order", "outbound", last_status="ok", last_run_at=t),
    )
    add(
        engine,
        op(status="pending"),
        op(status="pending"),
        op(status="done"),
        op(status="dead", error_category="validation", error_message="amount < 0"),
        op(status="dead", error_category="validation", error_message="no name"),
        op(status="dead", error_category="duplicate"),
        op(status="dead"),
        op(target="hubspot", object_type="contact", status="pending"),
    )
    add(
        engine,
        run(running, t - timedelta(minutes=5), ops_done=1),
        run(outbound, t - timedelta(minutes=4), ops_done=2),
        run(outbound, t - timedelta(minutes=3), ops_done=7),
        run(running, t - timedelta(minutes=1), status="failed", error="429"),
    )

    result = overview.status(engine)

    states = {lane.label: lane.state for lane in result.lanes}
    assert states == {
        "hubspot.contact.inbound": "running",
        "salesforce.lead.inbound": "idle",
        "salesforce.account.inbound": "paused",
        "erp.invoice.inbound": "failed",
        "erp.order.outbound": "idle",
    }
    by_id = {lane.id: lane for lane in result.lanes}
    assert by_id[outbound].pending_ops == 2
    assert by_id[running].pending_ops is None  # inbound lanes have no queue
    assert by_id[running].last_run is not None
    assert by_id[running].last_run.status == "failed"
    assert by_id[expired].last_run is None
    assert by_id[outbound].last_run is not None
    assert by_id[outbound].last_run.ops_done == 7
    assert by_id[failed].last_error == "boom"
    assert not by_id[paused].last_run
    assert result.ops_by_status == {
        "pending": 3, "in_flight": 0, "done": 1, "dead": 4, "superseded": 0, "discarded": 0
    }
    assert result.dead_by_category == {"validation": 2, "duplicate": 1, "uncategorised": 1}
    body = result.to_json()
    assert body["last_run_by_lane"]["hubspot.contact.inbound"]["error"] == "429"
    assert body["dead_letters_by_category"]["validation"] == 2


def test_status_of_an_empty_ledger(engine: Engine) -> None:
    result = overview.status(engine)
    assert result.lanes == ()
    assert set(result.ops_by_status.values()) == {0}
    assert result.dead_by_category == {}
    assert result.api_usage == ()
    assert result.to_json()["api_usage"] == []


def test_status_with_a_cap_counts_big_statuses_that_far_and_pending_and_dead_exactly(engine: Engine) -> None:
    add(engine, lane("erp", "order", "outbound"))
    add(
        engine,
        *(op(status="done") for _ in range(7)),
        *(op(status="superseded") for _ in range(3)),
        *(op(status="discarded") for _ in range(5)),
        *(op(status="pending", target=target) for target in ("erp", "erp", "hubspot")),
        *(op(status="dead", error_category="validation") for _ in range(6)),
        op(status="dead"),
        op(status="in_flight"),
    )

    capped = overview.status(engine, cap=5)
    exact = overview.status(engine)

    assert capped.ops_by_status == {
        "pending": 3, "in_flight": 1, "done": 5, "dead": 7, "superseded": 3, "discarded": 5
    }
    assert capped.ops_capped == {"done"}  # five discarded ops are five: only more than the cap is capped
    assert exact.ops_by_status == {
        "pending": 3, "in_flight": 1, "done": 7, "dead": 7, "superseded": 3, "discarded": 5
    }
    assert exact.ops_capped == frozenset()
    assert capped.dead_by_category == exact.dead_by_category == {"validation": 6, "uncategorised": 1}
    assert [lane.pending_ops for lane in capped.lanes] == [2]
    assert exact.to_json()["ops_by_status"]["done"] == 7  # /api/status and the metrics stay exact


def test_status_reports_api_budgets_and_quota_holds(engine: Engine) -> None:
    t = now()
    soon, later, gone = t + timedelta(minutes=1), t + timedelta(minutes=10), t - timedelta(minutes=1)
    add(
        engine,
        # hubspot's quota is spent: every lane holds, until the latest hold of them all.
        lane("hubspot", "contact", "inbound", held_until=soon),
        lane("hubspot", "company", "inbound", held_until=later, last_status="failed"),
        lane("hubspot", "contact", "outbound", held_until=soon, lease_owner="w1", lease_expires_at=soon),
        lane("hubspot", "deal", "inbound", held_until=later, paused=True),
        # salesforce's hold is over: its lanes run again.
        lane("salesforce", "lead", "inbound", held_until=gone),
        # A hold without a usage row yet (written in one transaction, so only a hand-made ledger has it).
        lane("erp", "order", "outbound", held_until=soon),
    )
    reported = t - timedelta(seconds=5)
    add_usage(
        engine,
        usage(
            "hubspot", 1200, window_limit=100, window_remaining=0, window_seconds=10.0,
            daily_limit=250_000, daily_remaining=240_000, updated_at=reported,
        ),
        usage("salesforce", 7, daily_limit=15_000, daily_remaining=14_993, updated_at=reported),
        usage("marketing", 42, updated_at=reported),  # an in-memory system: calls counted, no quota reported
    )

    result = overview.status(engine)

    states = {lane.label: lane.state for lane in result.lanes}
    assert states == {
        "hubspot.contact.inbound": "held",
        "hubspot.company.inbound": "held",  # held beats failed: it is waiting, not broken
        "hubspot.contact.outbound": "running",
        "hubspot.deal.inbound": "paused",
        "salesforce.lead.inbound": "idle",
        "erp.order.outbound": "held",
    }
    by_system = {row.system: row for row in result.api_usage}
    assert [row.system for row in result.api_usage] == ["erp", "hubspot", "marketing", "salesforce"]
    hubspot = by_system["hubspot"]
    assert (hubspot.calls, hubspot.window_limit, hubspot.window_remaining, hubspot.window_seconds) == (
        1200, 100, 0, 10.0
    )
    assert (hubspot.daily_limit, hubspot.daily_remaining) == (250_000, 240_000)
    assert hubspot.updated_at == pytest.approx(reported, abs=timedelta(milliseconds=1))
    assert hubspot.held_until == pytest.approx(later, abs=timedelta(milliseconds=1))
    assert hubspot.held
    salesforce = by_system["salesforce"]
    assert (salesforce.calls, salesforce.window_limit, salesforce.daily_remaining) == (7, None, 14_993)
    assert salesforce.held_until is None
    marketing = by_system["marketing"]
    assert (marketing.calls, marketing.window_remaining, marketing.daily_remaining, marketing.held) == (
        42, None, None, False
    )
    erp = by_system["erp"]
    assert (erp.calls, erp.updated_at, erp.held) == (0, None, True)

    body = {row["system"]: row for row in result.to_json()["api_usage"]}
    assert body["hubspot"] == {
        "system": "hubspot",
        "calls": 1200,
        "window_limit": 100,
        "window_remaining": 0,
        "window_seconds": 10.0,
        "daily_limit": 250_000,
        "daily_remaining": 240_000,
        "updated_at": hubspot.updated_at.isoformat(),
        "held": True,
        "held_until": hubspot.held_until.isoformat(),
    }
    assert body["salesforce"]["held_until"] is None
    assert body["salesforce"]["held"] is False
    assert body["marketing"]["window_limit"] is None


def test_throughput_counts_writes_done_per_minute_over_the_window(engine: Engine) -> None:
    minute = now().replace(second=0, microsecond=0)
    (lane_id,) = add(engine, lane("erp", "order", "outbound"))
    out = {"direction": "outbound"}
    add(
        engine,
        run(lane_id, minute + timedelta(seconds=1), ops_done=200, **out),
        run(lane_id, minute + timedelta(seconds=2), ops_done=35, **out),
        run(lane_id, minute - timedelta(minutes=10, seconds=-5), ops_done=7, **out),
        run(lane_id, minute - timedelta(hours=2), ops_done=1000, **out),  # outside the window
        run(lane_id, minute, ops_done=500),  # an inbound run: reads, not writes
        run(lane_id, minute, status="failed", **out),  # wrote nothing
    )

    points = overview.throughput(engine, minutes=60)

    assert len(points) == 60
    assert [p.minute for p in points] == sorted(p.minute for p in points)
    assert all(p.minute.tzinfo is not None for p in points)
    counts = {p.minute: p.done for p in points}
    assert sum(counts.values()) == 242
    # The clock may have turned a minute since `minute` was read: look the buckets up by value.
    assert counts.get(minute) == 235
    assert counts.get(minute - timedelta(minutes=10)) == 7


def test_metrics_text_is_prometheus_exposition(engine: Engine) -> None:
    t = now()
    (lane_id,) = add(engine, lane("erp", "order", "outbound", last_run_at=t, last_status="ok"))
    add(engine, op(status="done"), op(status="dead", error_category="permission"), op(status="pending"))
    add(engine, run(lane_id, t), run(lane_id, t), run(lane_id, t, status="failed"))

    families = {f.name: f for f in text_string_to_metric_families(overview.metrics_text(engine))}

    def value(family: str, **labels: str) -> float:
        for sample in families[family].samples:
            if sample.labels == labels and not sample.name.endswith("_created"):
                return float(sample.value)
        raise AssertionError(f"no {family}{labels}")

    assert value("revline_ops", status="done") == 1
    assert value("revline_ops", status="pending") == 1
    assert value("revline_dead_letters", category="permission") == 1
    assert value("revline_lane_last_run_timestamp_seconds", lane="erp.order.outbound") == pytest.approx(
        t.timestamp(), abs=1e-3
    )
    assert value("revline_lane_pending_ops", lane="erp.order.outbound") == 1
    assert value("revline_lane_state", lane="erp.order.outbound", state="idle") == 1
    assert value("revline_runs", status="ok") == 2
    assert value("revline_runs", status="failed") == 1


def test_metrics_text_reports_api_budgets(engine: Engine) -> None:
    t = now()
    add(
        engine,
        lane("hubspot", "contact", "inbound", held_until=t + timedelta(minutes=5)),
        lane("salesforce", "lead", "inbound", held_until=t - timedelta(minutes=5)),
    )
    add_usage(
        engine,
        usage("hubspot", 1200, window_limit=100, window_remaining=0, window_seconds=10.0, daily_remaining=240_000),
        usage("salesforce", 7, daily_limit=15_000, daily_remaining=14_993),
        usage("marketing", 42),
    )

    text = overview.metrics_text(engine)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families.values()
        for sample in family.samples
    }

    assert families["revline_api_calls"].type == "counter"
    assert samples[("revline_api_calls_total", (("system", "hubspot"),))] == 1200
    assert samples[("revline_api_calls_total", (("system", "salesforce"),))] == 7
    assert samples[("revline_api_calls_total", (("system", "marketing"),))] == 42
    assert samples[("revline_api_remaining", (("system", "hubspot"), ("window", "interval")))] == 0
    assert samples[("revline_api_remaining", (("system", "hubspot"), ("window", "daily")))] == 240_000
    assert samples[("revline_api_remaining", (("system", "salesforce"), ("window", "daily")))] == 14_993
    remaining = {labels for name, labels in samples if name == "revline_api_remaining"}
    # Only the figures a system reported: none for marketing, no interval for salesforce.
    assert len(remaining) == 3
    assert samples[("revline_api_held", (("system", "hubspot"),))] == 1
    assert samples[("revline_api_held", (("system", "salesforce"),))] == 0
    assert samples[("revline_api_held", (("system", "marketing"),))] == 0
    assert samples[("revline_lane_state", (("lane", "hubspot.contact.inbound"), ("state", "held")))] == 1
    assert samples[("revline_lane_state", (("lane", "salesforce.lead.inbound"), ("state", "idle")))] == 1
    assert samples[("revline_lane_state", (("lane", "salesforce.lead.inbound"), ("state", "held")))] == 0


# -- runs -------------------------------------------------------------------------------------


def test_list_runs_pages_newest_first_with_a_total(engine: Engine) -> None:
    t = now()
    first, second = add(engine, lane("hubspot", "contact", "inbound"), lane("erp", "order", "outbound"))
    add(engine, *(run(first, t - timedelta(minutes=i), records_read=i) for i in range(30)))
    add(engine, *(run(second, t - timedelta(minutes=i, seconds=30)) for i in range(3)))

    page1 = runs.list_runs(engine, page=1, page_size=25)
    page2 = runs.list_runs(engine, page=2, page_size=25)
    only_second = runs.list_runs(engine, page=1, page_size=25, lane_id=second)

    assert (page1.total, len(page1.items), page1.pages, page1.has_next, page1.has_prev) == (
        33,
        25,
        2,
        True,
        False,
    )
    assert (len(page2.items), page2.has_next, page2.has_prev) == (8, False, True)
    started = [r.started_at for r in page1.items + page2.items]
    assert started == sorted(started, reverse=True)
    assert page1.items[0].records_read == 0
    assert page1.items[0].lane == "hubspot.contact.inbound"
    assert page1.items[0].duration_seconds == pytest.approx(2)
    assert only_second.total == 3
    assert {r.lane_id for r in only_second.items} == {second}


def test_list_runs_clamps_silly_pages(engine: Engine) -> None:
    page = runs.list_runs(engine, page=0, page_size=0)
    assert (page.page, page.page_size, page.total, page.items, page.pages) == (1, 1, 0, (), 1)


# -- dead letters -----------------------------------------------------------------------------


def test_list_dead_letters_filters_by_category_and_pages(engine: Engine) -> None:
    add(
        engine, *(op(status="dead", error_category="validation", error_message=f"bad {i}") for i in range(30))
    )
    add(engine, op(status="dead", error_category="mapping"), op(status="dead"), op(status="done"))

    everything = dead_letters.list_dead_letters(engine, page=1, page_size=25)
    validation = dead_letters.list_dead_letters(engine, page=2, page_size=25, category="validation")
    uncategorised = dead_letters.list_dead_letters(engine, category=dead_letters.UNCATEGORISED)

    assert everything.total == 32
    assert len(everything.items) == 25
    ids = [row.id for row in everything.items]
    assert ids == sorted(ids, reverse=True)
    assert validation.total == 30
    assert len(validation.items) == 5
    assert {row.error_category for row in validation.items} == {"validation"}
    assert validation.items[-1].error_message == "bad 0"
    assert validation.items[0].payload == {"name": "Acme", "amount": 1200}
    assert uncategorised.total == 1
    assert uncategorised.items[0].error_category == "uncategorised"
    assert dead_letters.counts_by_category(engine) == {"validation": 30, "mapping": 1, "uncategorised": 1}


def test_dead_letter_pages_are_the_same_slices_of_the_list_at_any_depth(engine: Engine) -> None:
    categories = ("validation", "mapping", None)
    for i in range(90):  # dead letters of three kinds between the done and pending ops they sit among
        add(engine, op(status="dead", error_category=categories[i % 3], error_message=f"bad {i}"),
            op(status="done" if i % 2 else "pending"))  # fmt: skip
    with transaction(engine) as session:
        dead = session.execute(
            select(col(OutboundOp.id), col(OutboundOp.error_category)).where(col(OutboundOp.status) == "dead")
        ).all()
    newest_first = sorted(dead, reverse=True)
    mapping = [i for i, category in newest_first if category == "mapping"]

    pages = [dead_letters.list_dead_letters(engine, page=n, page_size=25) for n in (1, 2, 3, 4, 5)]
    second_of_mapping = dead_letters.list_dead_letters(engine, page=2, page_size=20, category="mapping")
    one = dead_letters.list_dead_letters(engine, op_id=mapping[7])

    assert [row.id for page in pages for row in page.items] == [i for i, _ in newest_first]
    assert [len(page.items) for page in pages] == [25, 25, 25, 15, 0]
    assert {page.total for page in pages} == {90}
    assert [row.id for row in second_of_mapping.items] == mapping[20:30]
    assert second_of_mapping.total == 30
    assert [row.error_message for row in pages[3].items][-1] == "bad 0"
    assert [(row.id, row.error_category) for row in one.items] == [(mapping[7], "mapping")]
    assert one.total == 1


def test_retry_requeues_the_op_and_leaves_a_trail(engine: Engine) -> None:
    long_ago = now() - timedelta(days=1)
    outbound, inbound = add(
        engine,
        lane("erp", "order", "outbound", due_at=None),  # both idle: the retry must wake the outbound one only
        lane("erp", "order", "inbound", due_at=None),
    )
    (op_id,) = add(
        engine, op(status="dead", error_category="validation", error_message="amount < 0", attempts=5)
    )

    mark = audit_mark(engine)
    dead_letters.retry(engine, op_id, actor="console", reason="fixed the amount in HubSpot")

    with transaction(engine) as session:
        row = session.get_one(OutboundOp, op_id)
        assert (row.status, row.attempts, row.error_category, row.error_message) == ("pending", 0, None, None)
        assert row.next_attempt_at > long_ago
        (repair,) = session.execute(select(RepairAction).where(col(RepairAction.op_id) == op_id)).scalars()
        assert (repair.action, repair.actor, repair.reason) == (
            "retry",
            "console",
            "fixed the amount in HubSpot",
        )
        assert repair.details == {
            "previous_category": "validation",
            "previous_message": "amount < 0",
            "previous_attempts": 5,
        }
        (audit,) = session.execute(select(AuditLog).where(col(AuditLog.id) > mark)).scalars()
        assert (audit.actor, audit.action, audit.subject) == (
            "console",
            "dead_letter.retry",
            f"outbound_op:{op_id}",
        )
        outbound_lane = session.get_one(Lane, outbound)
        inbound_lane = session.get_one(Lane, inbound)
        assert outbound_lane.due_at is not None
        assert long_ago < outbound_lane.due_at <= now()
        assert inbound_lane.due_at is None
    assert dead_letters.list_dead_letters(engine).total == 0


def test_retry_refuses_ops_that_are_not_dead(engine: Engine) -> None:
    (op_id,) = add(engine, op(status="pending"))
    with pytest.raises(ValueError, match="only dead letters can be retried"):
        dead_letters.retry(engine, op_id, actor="console")
    with pytest.raises(ValueError, match="does not exist"):
        dead_letters.retry(engine, 987654, actor="console")
    with transaction(engine) as session:
        assert session.execute(select(RepairAction)).first() is None


def test_retry_many_retries_the_dead_and_skips_the_rest(engine: Engine) -> None:
    dead_ids = add(engine, *(op(status="dead", error_category="conflict") for _ in range(3)))
    (done_id,) = add(engine, op(status="done"))

    mark = audit_mark(engine)
    retried = dead_letters.retry_many(engine, [*dead_ids, done_id, dead_ids[0]], actor="ops@example.com")

    assert retried == sorted(dead_ids)
    assert dead_letters.retry_many(engine, [], actor="x") == []
    with transaction(engine) as session:
        statuses = dict(session.execute(select(col(OutboundOp.id), col(OutboundOp.status))).all())
        assert statuses == {**dict.fromkeys(dead_ids, "pending"), done_id: "done"}
        assert len(session.execute(select(AuditLog).where(col(AuditLog.id) > mark)).all()) == 3
