"""The loop's bulk statements, handed to the driver as plain values, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, select, update

from sync_core.persistence import ledger, statements
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import OutboundOp, Shadow, TraceSpan
from sync_core.services import ledger_engine

NOW = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
_OPS = OutboundOp.__table__  # type: ignore[attr-defined]
_SHADOWS = Shadow.__table__  # type: ignore[attr-defined]


def _op(key: str, payload: dict[str, object], **extra: object) -> dict[str, object]:
    """An op row leaving out the columns that have defaults (operation, status, attempts, errors)."""
    return {
        "idempotency_key": key, "target_system": "sales", "object_type": "company", "canonical_id": f"c-{key}",
        "source_system": "marketing", "source_id": f"m-{key}", "source_version": "1", "payload": payload,
        "next_attempt_at": NOW, "result": {}, "correlation_id": f"c-{key}", "created_at": NOW, "updated_at": NOW,
    } | extra


def _ops(url: str) -> dict[str, OutboundOp]:
    with transaction(ledger_engine(url)) as session:
        return {op.idempotency_key: op for op in session.scalars(select(OutboundOp))}


def test_insert_ignore_keeps_the_first_row_of_a_key_and_fills_defaults(ledger_url: str) -> None:
    with transaction(ledger_engine(ledger_url)) as session:
        ledger.add_ops(session, [_op("a", {"name": "Acme", "tags": ["x"], "n": 1.5}), _op("b", {})])
    with transaction(ledger_engine(ledger_url)) as session:
        ledger.add_ops(session, [_op("a", {"name": "changed"}), _op("c", {"name": "Cyan"})])
    ops = _ops(ledger_url)
    assert sorted(ops) == ["a", "b", "c"]
    assert ops["a"].payload == {"name": "Acme", "tags": ["x"], "n": 1.5}
    assert (ops["a"].operation, ops["a"].status, ops["a"].attempts, ops["a"].error_category) == (
        "upsert", "pending", 0, None
    )
    assert ops["a"].next_attempt_at == NOW
    assert ops["a"].next_attempt_at.tzinfo is not None


def test_times_in_other_zones_are_stored_as_the_same_instant(ledger_url: str) -> None:
    paris = NOW.astimezone(timezone(timedelta(hours=1)))
    with transaction(ledger_engine(ledger_url)) as session:
        ledger.add_ops(session, [_op("a", {}, next_attempt_at=paris), _op("b", {}, next_attempt_at=NOW)])
    ops = _ops(ledger_url)
    assert ops["a"].next_attempt_at == ops["b"].next_attempt_at == NOW


def test_a_naive_time_is_refused(ledger_url: str) -> None:
    with pytest.raises(ValueError, match="naive"), transaction(ledger_engine(ledger_url)) as session:
        ledger.add_ops(session, [_op("a", {}, next_attempt_at=NOW.replace(tzinfo=None))])


def test_upsert_inserts_new_rows_and_updates_only_the_named_columns(ledger_url: str) -> None:
    def row(cid: str, seen: dict[str, object], object_type: str = "company") -> dict[str, object]:
        return {
            "canonical_id": cid, "system": "sales", "object_type": object_type, "seen": seen,
            "field_times": {"name": NOW.isoformat()}, "written": {}, "source_version": None, "updated_at": NOW,
        }

    with transaction(ledger_engine(ledger_url)) as session:
        statements.upsert(session, _SHADOWS, [row("c1", {"name": "A"})], ["canonical_id", "system"], ["seen"])
    with transaction(ledger_engine(ledger_url)) as session:
        statements.upsert(
            session, _SHADOWS, [row("c1", {"name": "B"}, "contact"), row("c2", {"name": "C"})],
            ["canonical_id", "system"], ["seen"],
        )
    with transaction(ledger_engine(ledger_url)) as session:
        found = ledger.shadows(session, ["c1", "c2"])
        kinds = dict(session.execute(select(Shadow.canonical_id, Shadow.object_type)).all())
    assert found[("c1", "sales")].seen == {"name": "B"}
    assert found[("c2", "sales")].seen == {"name": "C"}
    assert kinds == {"c1": "company", "c2": "company"}  # object_type was not among the columns to update


def test_an_update_with_named_parameters_runs_once_per_row(ledger_url: str) -> None:
    with transaction(ledger_engine(ledger_url)) as session:
        ledger.add_ops(session, [_op("a", {}), _op("b", {}), _op("c", {})])
    ids = {key: op.id for key, op in _ops(ledger_url).items()}
    statement = (
        update(_OPS)
        .where(_OPS.c.id == bindparam("b_id"))
        .values(status=bindparam("b_status"), result=bindparam("b_result"), attempts=_OPS.c.attempts + bindparam("b_n"),
                updated_at=bindparam("b_now"))
    )
    later = NOW + timedelta(minutes=5)
    rows = [
        {"b_id": ids["a"], "b_status": "done", "b_result": {"ok": True}, "b_n": 1, "b_now": later},
        {"b_id": ids["c"], "b_status": "dead", "b_result": {}, "b_n": 2, "b_now": later},
    ]
    with transaction(ledger_engine(ledger_url)) as session:
        statements.execute_many(session, statement, rows)
    ops = _ops(ledger_url)
    assert [(k, o.status, o.result, o.attempts) for k, o in sorted(ops.items())] == [
        ("a", "done", {"ok": True}, 1), ("b", "pending", {}, 0), ("c", "dead", {}, 2)
    ]
    assert ops["a"].updated_at == later


def test_spans_are_added_in_bulk(ledger_url: str) -> None:
    spans = [
        {"correlation_id": f"c{n}", "name": "write", "system": "sales", "started_at": NOW, "ended_at": NOW,
         "status": "ok", "attributes": {"ops": [n]}}
        for n in range(3)
    ]
    with transaction(ledger_engine(ledger_url)) as session:
        ledger.add_spans(session, spans)
        ledger.add_spans(session, [])
        stored = session.execute(select(TraceSpan.correlation_id, TraceSpan.attributes).order_by(TraceSpan.id)).all()
    assert [tuple(s) for s in stored] == [("c0", {"ops": [0]}), ("c1", {"ops": [1]}), ("c2", {"ops": [2]})]


def test_among_and_not_among_select_by_many_values(ledger_url: str) -> None:
    keys = [f"k{n}" for n in range(1500)]
    with transaction(ledger_engine(ledger_url)) as session:
        ledger.add_ops(session, [_op(key, {}) for key in keys])
    column = _OPS.c.idempotency_key
    with transaction(ledger_engine(ledger_url)) as session:
        wanted = keys[::3]
        found = set(session.scalars(select(column).where(statements.among(session, column, wanted))))
        rest = set(session.scalars(select(column).where(statements.not_among(session, column, wanted))))
        ids = set(session.scalars(select(_OPS.c.id).where(statements.among(session, _OPS.c.id, {1, 2, 99_999}))))
    assert found == set(wanted)
    assert rest == set(keys) - set(wanted)
    assert ids == {1, 2}
