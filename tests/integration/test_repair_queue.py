"""The repair queue on in-memory systems, on SQLite and PostgreSQL: dead letters grouped by root cause,
each action on one record and on a whole group, audited, and a dry run that writes nothing."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlmodel import col

from sync_core.domain.errors import ErrorCategory, PermanentError
from sync_core.persistence.database import snapshot, transaction
from sync_core.persistence.tables import AuditLog, EntityLink, OutboundOp, RepairAction, Shadow
from sync_core.services import held_orders, repair
from tests.integration.test_closed_won import Flow, _line

CUSTOM = "mapping:product:CUSTOM-9"
OPS = "ops@example.com"


def _marks(engine: Engine) -> tuple[Any, ...]:
    """Everything an action writes: ops by status, repair actions, audit rows, links, shadows."""
    with snapshot(engine) as session:
        status = col(OutboundOp.status)
        statuses = tuple(session.execute(select(status, func.count()).group_by(status).order_by(status)).all())
        counts = tuple(
            session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (RepairAction, AuditLog, EntityLink, Shadow)
        )
    return statuses, counts


def _actions(engine: Engine, op_id: int | None = None) -> list[tuple[int, str, str]]:
    query = select(col(RepairAction.op_id), col(RepairAction.action), col(RepairAction.actor))
    if op_id is not None:
        query = query.where(col(RepairAction.op_id) == op_id)
    with snapshot(engine) as session:
        return [tuple(row) for row in session.execute(query.order_by(col(RepairAction.id))).all()]


def _audit(engine: Engine, prefix: str) -> list[AuditLog]:
    with snapshot(engine) as session:
        return list(session.execute(
            select(AuditLog).where(col(AuditLog.action).startswith(prefix)).order_by(col(AuditLog.id))
        ).scalars().all())


def _held_for_custom(flow: Flow, n: int) -> list[str]:
    """`n` won deals whose lines name CUSTOM-9, a product the ERP does not sell (2 x 100 each)."""
    account = flow.customer()
    return [flow.deal(account, "closed_won", [_line("CUSTOM-9")]) for _ in range(n)]


def test_dead_letters_group_by_root_cause_with_counts_money_and_age(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    _held_for_custom(flow, 3)
    flow.deal(flow.customer(), "closed_won", [_line("CUSTOM-8", 1, 70.0)])
    flow.deal(flow.customer(vat_number=None), "closed_won", [_line("WIDGET")])
    flow.sync()

    groups, totals = repair.list_groups(flow.engine)
    assert [(g.root_cause, g.count, g.money) for g in groups.items] == [
        (CUSTOM, 3, 600.0),
        ("mapping:product:CUSTOM-8", 1, 70.0),
        ("validation:billing:vat_number", 1, 200.0),
    ]
    assert (totals.records, totals.groups, totals.money) == (5, 3, 870.0)
    first = groups.items[0]
    assert first.title == "The ERP sells no product CUSTOM-9: remap it to one it sells"
    assert (first.category, first.kind, first.subject) == ("mapping", "product", "CUSTOM-9")
    assert first.oldest <= first.newest <= datetime.now(UTC)

    page_two, _ = repair.list_groups(flow.engine, page=2, page_size=2)
    assert [g.root_cause for g in page_two.items] == ["validation:billing:vat_number"]
    assert (page_two.total, page_two.pages) == (3, 2)

    records = repair.list_records(flow.engine, CUSTOM, page_size=2)
    assert records.total == 3
    assert len(records.items) == 2
    assert all(r.is_order and r.root_cause == CUSTOM and r.money == 200.0 for r in records.items)
    assert records.items[0].id > records.items[1].id  # newest first


def test_a_dead_letter_without_a_root_cause_gets_one_when_the_queue_is_read(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    at = datetime.now(UTC)
    with transaction(flow.engine) as session:  # as a worker that predates the column left it
        session.add(OutboundOp(
            idempotency_key=uuid.uuid4().hex, target_system="sales", object_type="deal", canonical_id="c-1",
            source_system="erp", source_id="7", source_version="1", payload={"amount": "1250.5"}, status="dead",
            error_category="validation", error_message="deal amount: 'x' is invalid", next_attempt_at=at,
            correlation_id="c-1", created_at=at, updated_at=at,
        ))  # fmt: skip
    groups, totals = repair.list_groups(flow.engine)
    assert [(g.root_cause, g.count, g.money) for g in groups.items] == [("validation:field:deal.amount", 1, 1250.5)]
    assert totals.money == 1250.5


def test_the_executor_files_a_failed_write_under_its_root_cause(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    refused = PermanentError("FIELD_CUSTOM_VALIDATION_EXCEPTION: customer 4711 is blocked", ErrorCategory.VALIDATION)
    flow.erp.fail_records("name", "Acme GmbH", refused)
    flow.deal(flow.customer(), "closed_won", [_line("WIDGET")])
    flow.sync()
    (customer,) = repair.list_records(flow.engine).items
    assert (customer.object_type, customer.operation) == ("company", "customer")
    assert customer.root_cause == "validation:message:FIELD_CUSTOM_VALIDATION_EXCEPTION: customer # is blocked"

    detail = repair.record(flow.engine, customer.id)
    assert detail.plain.startswith("The target system refused the values: FIELD_CUSTOM_VALIDATION_EXCEPTION")
    assert detail.payload["name"] == "Acme GmbH"
    sales = next(s for s in detail.systems if s.system == "sales")
    assert sales.values["name"] == "Acme GmbH"
    assert sales.external_id is not None
    assert sales.last_seen is not None
    assert detail.history == ()


def test_one_remap_and_a_bulk_retry_place_every_order_of_the_group(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    deals = _held_for_custom(flow, 3)
    flow.sync()
    assert flow.orders() == {}
    assert repair.preview_bulk(flow.engine, CUSTOM, "remap") == 3
    with pytest.raises(ValueError, match="sells no product 'NOPE'"):
        repair.apply_bulk(flow.engine, CUSTOM, "remap", OPS, to_code="NOPE")
    with pytest.raises(ValueError, match="only orders held for their prices"):
        repair.preview_bulk(flow.engine, CUSTOM, "approve")

    seen: list[tuple[int, int]] = []
    result = repair.apply_bulk(flow.engine, CUSTOM, "remap", OPS, reason="CUSTOM-9 is sold as WIDGET",
                               to_code="WIDGET", progress=lambda done, total: seen.append((done, total)))
    assert (result.planned, result.done, result.skipped, result.remaining) == (3, 3, 0, 0)
    assert seen == [(3, 3)]
    flow.sync()
    assert sorted(o["salesforce_id"] for o in flow.orders().values()) == sorted(deals)
    assert all(line["product_code"] == "WIDGET" for o in flow.orders().values() for line in o["lines"])
    assert repair.list_groups(flow.engine)[1].records == 0

    # each order retried once, by the operator; the mapping audited with before and after
    assert Counter(action for _, action, _ in _actions(flow.engine)) == {"retry": 3}
    (mapped,) = _audit(flow.engine, "order.product_mapped")
    assert (mapped.actor, mapped.details["before"], mapped.details["after"]) == (OPS, {}, {"CUSTOM-9": "WIDGET"})
    assert mapped.details["held_orders"] == 3
    assert [a.action for a in _audit(flow.engine, "repair.")] == ["repair.bulk_remap"]

    # a new deal with the same product is ordered under the standing mapping, held by nothing
    later = flow.deal(flow.customer(), "closed_won", [_line("CUSTOM-9")])
    flow.sync()
    assert later in {o["salesforce_id"] for o in flow.orders().values()}


def test_a_bulk_retry_makes_each_op_pending_once_even_when_two_run_at_once(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    at = datetime.now(UTC)
    message = "deal amount: 'x' is invalid"
    with transaction(flow.engine) as session:
        for n in range(450):  # more than two chunks
            session.add(OutboundOp(
                idempotency_key=uuid.uuid4().hex, target_system="sales", object_type="deal", canonical_id=f"c-{n}",
                source_system="erp", source_id=str(n), source_version="1", payload={"amount": n}, status="dead",
                error_category="validation", error_message=message, root_cause="validation:field:deal.amount",
                money_at_stake=float(n), next_attempt_at=at, correlation_id=f"c-{n}", created_at=at, updated_at=at,
            ))  # fmt: skip
    results: list[repair.BulkResult] = []

    def run() -> None:
        results.append(repair.apply_bulk(flow.engine, "validation:field:deal.amount", "retry", OPS))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.done for r in results) == 450
    retries = Counter(op_id for op_id, action, _ in _actions(flow.engine) if action == "retry")
    assert len(retries) == 450
    assert set(retries.values()) == {1}
    with snapshot(flow.engine) as session:
        pending = session.execute(select(func.count()).where(col(OutboundOp.status) == "pending")).scalar_one()
    assert pending == 450


def test_a_dry_run_shows_what_a_retry_would_write_and_writes_nothing(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    (deal,) = _held_for_custom(flow, 1)
    flow.sync()
    (held,) = repair.list_records(flow.engine, CUSTOM).items
    before = _marks(flow.engine)
    run = repair.dry_run(flow.engine, held.id)
    assert (run.action, run.target_system) == ("hold", "erp")
    assert "CUSTOM-9" in (run.problem or "")
    assert _marks(flow.engine) == before

    # the mapping alone, no retry yet: the dry run follows the current mapping
    held_orders.map_product(flow.engine, "CUSTOM-9", "WIDGET", OPS)
    before = _marks(flow.engine)
    run = repair.dry_run(flow.engine, held.id)
    assert run.action == "place order"
    assert run.problem is None
    assert [(line["product_code"], line["unit_price"]) for line in run.fields["lines"]] == [("WIDGET", "100")]
    assert run.fields["salesforce_id"] == deal
    assert _marks(flow.engine) == before
    assert flow.orders() == {}


def test_a_dry_run_of_a_failed_write_shows_the_vendor_fields(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    flow.erp.fail_records("name", "Acme GmbH", PermanentError("blocked", ErrorCategory.VALIDATION))
    flow.deal(flow.customer(), "closed_won", [_line("WIDGET")])
    flow.sync()
    (customer,) = repair.list_records(flow.engine).items
    before = _marks(flow.engine)
    run = repair.dry_run(flow.engine, customer.id)
    assert run.action == "create"
    assert run.fields["name"] == "Acme GmbH"
    assert run.fields["vat_number"] == "DE123456789"
    assert _marks(flow.engine) == before


def test_an_edited_payload_is_audited_as_a_diff_and_written(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    flow.erp.fail_records("name", "Acme GmbH", PermanentError("name taken", ErrorCategory.VALIDATION))
    flow.deal(flow.customer(), "closed_won", [_line("WIDGET")])
    flow.sync()
    (customer,) = repair.list_records(flow.engine).items
    payload = repair.record(flow.engine, customer.id).payload
    with pytest.raises(ValueError, match="changes nothing"):
        repair.edit_and_retry(flow.engine, customer.id, payload, OPS)

    changes = repair.edit_and_retry(flow.engine, customer.id, {**payload, "name": "Acme Deutschland GmbH"}, OPS,
                                    reason="the ERP knows them by their full name")
    assert [(c.field, c.kind, c.before, c.after) for c in changes] == [
        ("name", "changed", "Acme GmbH", "Acme Deutschland GmbH")
    ]
    assert [a for _, a, _ in _actions(flow.engine, customer.id)] == ["edit", "retry"]
    (edit,) = _audit(flow.engine, "dead_letter.edit")
    assert edit.actor == OPS
    assert edit.details["before"]["name"] == "Acme GmbH"
    assert edit.details["after"]["name"] == "Acme Deutschland GmbH"
    assert edit.details["text"] == '- name: "Acme GmbH"\n+ name: "Acme Deutschland GmbH"'
    flow.sync()
    (company,) = flow.erp.all("company").values()
    assert company["name"] == "Acme Deutschland GmbH"
    assert len(flow.orders()) == 1  # its order followed the customer
    with pytest.raises(ValueError, match="only dead letters"):
        repair.edit_and_retry(flow.engine, customer.id, payload, OPS)


def test_a_record_is_pointed_at_the_one_the_target_holds_already(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    flow.erp.fail_records("name", "Acme GmbH", PermanentError("duplicate name", ErrorCategory.DUPLICATE), times=1)
    flow.deal(flow.customer(), "closed_won", [_line("WIDGET")])
    flow.sync()
    (customer,) = repair.list_records(flow.engine).items
    assert customer.root_cause == "duplicate:message:duplicate name"
    existing = flow.erp.put("company", {"name": "Acme GmbH", "city": "Berlin"})  # someone keyed it in by hand
    with pytest.raises(ValueError, match="id is empty"):
        repair.relink(flow.engine, customer.id, " ", OPS)

    repair.relink(flow.engine, customer.id, existing, OPS, reason="same company")
    flow.sync()
    companies = flow.erp.all("company")
    assert list(companies) == [existing]  # updated, not created again
    assert companies[existing]["vat_number"] == "DE123456789"
    assert len(flow.orders()) == 1
    (relinked,) = _audit(flow.engine, "dead_letter.relink")
    assert (relinked.details["before"], relinked.details["after"]) == (None, existing)
    assert [a for _, a, _ in _actions(flow.engine, customer.id)] == ["relink", "retry"]


def test_discard_needs_a_reason_and_takes_the_record_out_of_the_queue(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    _held_for_custom(flow, 2)
    flow.sync()
    first, second = repair.list_records(flow.engine, CUSTOM).items
    with pytest.raises(ValueError, match="reason"):
        repair.discard(flow.engine, first.id, OPS, " ")
    repair.discard(flow.engine, first.id, OPS, "test deal, never to be ordered")
    assert repair.list_records(flow.engine, CUSTOM).total == 1
    (audit,) = _audit(flow.engine, "dead_letter.discard")
    assert (audit.actor, audit.details["reason"], audit.details["after"]) == (
        OPS, "test deal, never to be ordered", {"status": "discarded"}
    )
    # the rest of the group, in bulk
    assert repair.apply_bulk(flow.engine, CUSTOM, "discard", OPS, reason="custom bundles are not sold").done == 1
    with snapshot(flow.engine) as session:
        assert session.get(OutboundOp, second.id).status == "discarded"  # type: ignore[union-attr]
    flow.sync()
    assert flow.orders() == {}


def test_held_orders_are_approved_and_rejected_with_a_reason(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    account = flow.customer()
    approved = flow.deal(account, "closed_won", [_line("WIDGET", 2, 130.0)])
    rejected = flow.deal(account, "closed_won", [_line("WIDGET", 1, 130.0)])
    flow.sync()
    price = "approval_required:price:WIDGET"
    (group,) = repair.list_groups(flow.engine)[0].items
    assert (group.root_cause, group.count, group.money) == (price, 2, 390.0)
    by_deal = {r.source_id: r.id for r in repair.list_records(flow.engine, price).items}
    with pytest.raises(ValueError, match="reason"):
        repair.approve(flow.engine, by_deal[approved], OPS, "")
    repair.approve(flow.engine, by_deal[approved], OPS, "volume deal agreed")
    repair.reject(flow.engine, by_deal[rejected], OPS, "no discount for one seat")
    flow.sync()
    assert [o["salesforce_id"] for o in flow.orders().values()] == [approved]
    with snapshot(flow.engine) as session:
        assert session.get(OutboundOp, by_deal[rejected]).status == "rejected"  # type: ignore[union-attr]
    assert [(a.action, a.actor) for a in _audit(flow.engine, "order.")] == [
        ("order.approve", OPS), ("order.reject", OPS)
    ]
    detail = repair.record(flow.engine, by_deal[approved])
    assert [h.action for h in detail.history] == ["approve"]
    assert detail.history[0].reason == "volume deal agreed"


def test_a_price_group_is_approved_in_bulk(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    account = flow.customer()
    deals = [flow.deal(account, "closed_won", [_line("WIDGET", 1, 130.0 + n)]) for n in range(3)]
    flow.sync()
    price = "approval_required:price:WIDGET"
    with pytest.raises(ValueError, match="reason"):
        repair.apply_bulk(flow.engine, price, "approve", OPS)
    result = repair.apply_bulk(flow.engine, price, "approve", OPS, reason="list prices rise next month")
    assert (result.done, result.remaining) == (3, 0)
    flow.sync()
    assert sorted(o["salesforce_id"] for o in flow.orders().values()) == sorted(deals)


def test_the_migration_files_the_dead_letters_already_in_the_ledger(tmp_path: Any) -> None:
    from alembic import command
    from sqlalchemy import text

    from sync_core.persistence.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0011")
    engine = create_engine(url)
    at = datetime.now(UTC).isoformat()
    with engine.begin() as connection:
        for n, (status, result) in enumerate([("dead", '{"held": {"missing_products": ["CUSTOM-1"]}}'),
                                              ("done", "{}")]):
            connection.execute(text(
                "INSERT INTO outbound_op (idempotency_key, target_system, object_type, canonical_id, operation, "
                "source_system, source_id, source_version, payload, status, attempts, next_attempt_at, "
                "error_category, error_message, result, correlation_id, created_at, updated_at) VALUES "
                "(:key, 'erp', 'deal', 'c', 'place', 'sf', :n, '1', :payload, :status, 1, :at, 'mapping', 'no', "
                ":result, 'c', :at, :at)"
            ), {"key": f"k{n}", "n": str(n), "status": status, "result": result, "at": at,
                "payload": '{"lines": [{"unit_price": 5, "quantity": 3}]}'})  # fmt: skip
    command.upgrade(alembic_config(url), "head")
    with engine.begin() as connection:
        rows = connection.execute(text("SELECT status, root_cause, money_at_stake FROM outbound_op ORDER BY id")).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [("dead", "mapping:product:CUSTOM-1", 15.0), ("done", None, None)]


def test_a_dry_run_shows_references_as_the_target_knows_them(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    account = flow.customer()
    flow.sync()
    with snapshot(flow.engine) as session:
        company = session.execute(select(col(EntityLink.canonical_id)).where(
            col(EntityLink.system) == "sales", col(EntityLink.external_id) == account)).scalar_one()  # fmt: skip
    at = datetime.now(UTC)
    ids = []
    with transaction(flow.engine) as session:
        for n, points_at in enumerate((company, "not-there")):
            op = OutboundOp(
                idempotency_key=uuid.uuid4().hex, target_system="sales", object_type="deal", canonical_id=f"d-{n}",
                source_system="erp", source_id=str(n), source_version="1", status="dead", error_category="validation",
                payload={"name": "Acme expansion", "amount": 1200.0, "company_id": points_at}, next_attempt_at=at,
                correlation_id=f"d-{n}", created_at=at, updated_at=at,
            )  # fmt: skip
            session.add(op)
            session.flush()
            ids.append(op.id or 0)
    before = _marks(flow.engine)
    linked, unlinked = (repair.dry_run(flow.engine, op_id) for op_id in ids)
    assert (linked.action, linked.problem) == ("create", None)
    assert linked.fields == {"name": "Acme expansion", "amount": 1200.0, "company_id": account}
    assert unlinked.problem == "sales has no company not-there yet for company_id"
    assert _marks(flow.engine) == before
