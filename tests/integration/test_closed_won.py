"""Closed-won to order on in-memory systems: the flow's decisions and repairs, on SQLite and PostgreSQL.

"sales" plays the CRM that owns deals and "erp" the ERP, both with canonical field names; the
sandbox suite (test_lead_to_cash.py) runs the same flow through the vendors' wire protocols.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select

from sync_core.domain.mapping import ObjectMapping, identity_mapping
from sync_core.domain.ownership import FieldRule, Rule
from sync_core.persistence import lanes
from sync_core.persistence.database import snapshot, transaction
from sync_core.persistence.tables import AuditLog, OutboundOp, RepairAction, TraceSpan
from sync_core.services import (
    closed_won,
    dead_letters,
    held_orders,
    lead_to_cash,
    ledger_engine,
    overview,
    policy,
    trace,
)
from sync_core.testing import InMemoryConnector, InMemorySystem
from sync_core.worker import Worker, drain

COMPANY = ("name", "street", "postal_code", "city", "country", "vat_number", "customer_number")
FULFILMENT = ("order_number", "order_status", "invoice_number", "payment_status")
DEAL = ("name", "amount", "stage", "company_id", "lines", *FULFILMENT)
ERP_DEAL = ("company_id", "salesforce_id", "lines", *FULFILMENT)


def _install(engine: Engine) -> None:
    def erp(object_type: str, fields: tuple[str, ...]) -> ObjectMapping:
        return ObjectMapping("erp", object_type, identity_mapping("erp", object_type, fields).fields, creates=False)

    policy.save_mappings(engine, [
        identity_mapping("sales", "company", COMPANY),
        identity_mapping("sales", "deal", DEAL),
        erp("company", ("name", "street", "postal_code", "city", "country", "vat_number", "customer_number")),
        erp("product", ("code", "name", "list_price", "active")),
        erp("deal", ERP_DEAL),
    ], "test")  # fmt: skip
    sales_owned = [FieldRule(f, Rule.OWNER_UNLESS_BLANK, "sales") for f in COMPANY if f != "customer_number"]
    policy.save_rules(engine, "company", [*sales_owned, FieldRule("customer_number", Rule.ALWAYS_OWNER, "erp")], "t")
    policy.save_rules(engine, "deal", [
        FieldRule("name", Rule.OWNER_UNLESS_BLANK, "sales"),
        FieldRule("amount", Rule.OWNER_UNLESS_BLANK, "sales"),
        FieldRule("stage", Rule.ALWAYS_OWNER, "sales"),
        FieldRule("company_id", Rule.OWNER_UNLESS_BLANK, "sales"),
        FieldRule("lines", Rule.DONT_SYNC),
        *[FieldRule(name, Rule.ALWAYS_OWNER, "erp") for name in FULFILMENT],
    ], "test")  # fmt: skip
    policy.save_rules(engine, "product", [FieldRule("code", Rule.ALWAYS_OWNER, "erp")], "test")
    with transaction(engine) as session:
        for object_type in ("company", "deal"):
            lanes.ensure_lanes(session, "sales", object_type)
        for object_type in ("company", "product", "deal"):
            lanes.ensure_lanes(session, "erp", object_type)


class Flow:
    def __init__(self, url: str) -> None:
        self.engine = ledger_engine(url)
        _install(self.engine)
        self.sales, self.erp = InMemorySystem("sales"), InMemorySystem("erp")
        self.worker = Worker(self.engine, {"sales": InMemoryConnector(self.sales), "erp": InMemoryConnector(self.erp)})
        self.erp.put("product", {"code": "WIDGET", "name": "Widget", "list_price": 100.0, "active": True})
        self.erp.put("product", {"code": "GADGET", "name": "Gadget", "list_price": 50.0, "active": True})

    def sync(self) -> None:
        with transaction(self.engine) as session:
            lanes.mark_all_due(session)
        drain(self.worker)

    def customer(self, **changes: Any) -> str:
        fields = {"name": "Acme GmbH", "street": "Hauptstr. 1", "postal_code": "10115", "city": "Berlin",
                  "country": "Germany", "vat_number": "DE123456789"} | changes  # fmt: skip
        return self.sales.put("company", {k: v for k, v in fields.items() if v is not None})

    def deal(self, company: str, stage: str, lines: list[dict[str, Any]], external_id: str | None = None) -> str:
        fields = {"name": "Acme rollout", "amount": 1000.0, "stage": stage, "company_id": company, "lines": lines}
        return self.sales.put("deal", fields, external_id=external_id)

    def order_op(self, deal_id: str) -> OutboundOp:
        with snapshot(self.engine) as session:
            found = session.execute(
                select(OutboundOp).where(OutboundOp.operation == "place", OutboundOp.source_id == deal_id)
            ).scalars().all()
        assert len(found) == 1
        return found[0]

    def orders(self) -> dict[str, dict[str, Any]]:
        return self.erp.all("deal")


def _line(code: str, quantity: float = 2.0, price: float = 100.0) -> dict[str, Any]:
    return {"product_code": code, "quantity": quantity, "unit_price": price}


def test_a_won_deal_becomes_one_order_and_its_number_comes_back(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    account = flow.customer()
    deal = flow.deal(account, "negotiation", [_line("WIDGET"), _line("GADGET", 1, 50.0)])
    flow.sync()
    assert flow.orders() == {}  # not won yet: nothing for the ERP
    assert flow.erp.all("company") == {}  # and no customer created there by the sync loop

    flow.deal(account, "closed_won", [_line("WIDGET"), _line("GADGET", 1, 50.0)], external_id=deal)
    flow.sync()
    customers = flow.erp.all("company")
    assert len(customers) == 1
    (customer_id, customer), = customers.items()
    assert customer["vat_number"] == "DE123456789"
    assert customer["city"] == "Berlin"
    (order_id, order), = flow.orders().items()
    assert order["company_id"] == customer_id  # the ERP's own id of the customer
    assert order["salesforce_id"] == deal
    assert [(line["product_code"], line["quantity"]) for line in order["lines"]] == [("WIDGET", "2"), ("GADGET", "1")]

    # the ERP confirms and numbers it: both reach the deal in the sales system
    flow.erp.put("deal", {"order_number": "S00042", "order_status": "confirmed"}, external_id=order_id)
    flow.erp.put("company", {"customer_number": "C-7"}, external_id=customer_id)
    flow.sync()
    assert flow.sales.get("deal", deal)["order_number"] == "S00042"  # type: ignore[index]
    assert flow.sales.get("deal", deal)["order_status"] == "confirmed"  # type: ignore[index]
    assert flow.sales.get("company", account)["customer_number"] == "C-7"  # type: ignore[index]

    # the story: won -> confirmed -> invoiced -> paid, each once, found by the order number
    flow.erp.put("deal", {"invoice_number": "INV/2026/0007"}, external_id=order_id)
    flow.sync()
    flow.erp.put("deal", {"payment_status": "paid"}, external_id=order_id)
    flow.sync()
    assert flow.sales.get("deal", deal)["payment_status"] == "paid"  # type: ignore[index]
    (story_id,) = trace.search(flow.engine, "s00042")
    assert trace.search(flow.engine, "INV/2026/0007") == [story_id]
    assert trace.search(flow.engine, deal) == [story_id]  # by the sales system's record id
    story = trace.story(flow.engine, story_id)
    assert story is not None
    milestones = [s.name for s in story.steps if s.name in trace.MILESTONES]
    assert milestones == ["deal.won", "order.placed", "order.confirmed", "invoice.posted", "payment.received"]
    assert set(story.hops) == {"order_creation", "time_to_invoice", "time_to_cash"}
    assert all(seconds >= 0 for seconds in story.hops.values())
    assert "order.check" in [s.name for s in story.steps]
    assert story.dead_letters == []
    day = timedelta(days=1)
    stats = lead_to_cash.hop_stats(flow.engine, datetime.now(UTC) - day, datetime.now(UTC) + day)
    assert (stats["order_creation"].count, stats["time_to_cash"].count, stats["lead_handoff"].count) == (1, 1, 0)
    (hour,) = lead_to_cash.hourly(flow.engine, "order_creation", datetime.now(UTC) - day, datetime.now(UTC) + day)
    assert hour.count == 1
    assert hour.hour.minute == hour.hour.second == 0
    assert lead_to_cash.invoice_sync_accuracy(flow.engine) == lead_to_cash.InvoiceAccuracy(invoiced=1, matching=1)
    exported = overview.metrics_text(flow.engine)
    assert 'revline_hops{hop="order_creation"} 1.0' in exported
    assert "revline_invoice_sync_accuracy 1.0" in exported

    # the won deal read again and again (edits, repeated events): still one order, placed once
    for amount in (1001.0, 1002.0, 1003.0, 1004.0, 1005.0):
        flow.sales.put("deal", {"amount": amount}, external_id=deal)
        flow.sync()
    assert len(flow.orders()) == 1
    placements = [w for w in flow.erp.applied_writes() if w.object_type == "deal" and w.created]
    assert len(placements) == 1
    assert flow.order_op(deal).status == "done"


def test_an_order_waits_for_its_new_customer_and_follows_it_at_once(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    account = flow.customer()
    deal = flow.deal(account, "negotiation", [_line("WIDGET")])
    flow.sync()  # the ERP's catalogue is read
    flow.deal(account, "closed_won", [_line("WIDGET")], external_id=deal)
    with transaction(flow.engine) as session:
        lanes.mark_all_due(session)
    while flow.worker.run_once():  # until the deal is read and its order decided
        with snapshot(flow.engine) as session:
            if session.scalar(select(OutboundOp.id).where(OutboundOp.operation == "place")) is not None:
                break
    op = flow.order_op(deal)
    # Its customer is queued: the order waits for it rather than trying first (and sleeping after).
    assert (op.status, op.error_category) == ("pending", "waiting")
    assert op.next_attempt_at > datetime.now(UTC)
    drain(flow.worker)  # the customer's write wakes it: placed in the same round, not seconds later
    assert len(flow.erp.all("company")) == 1
    assert len(flow.orders()) == 1
    assert (flow.order_op(deal).status, flow.order_op(deal).attempts) == ("done", 1)
    with snapshot(flow.engine) as session:
        tries = session.execute(
            select(TraceSpan.status).where(TraceSpan.name == "write", TraceSpan.system == "erp",
                                           TraceSpan.attributes["record"].as_string() == op.canonical_id)
        ).scalars().all()  # fmt: skip
    assert tries == ["ok"]


def test_missing_billing_data_is_held_naming_the_fields_then_retried_once_fixed(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    account = flow.customer(vat_number=None, postal_code=None)
    deal = flow.deal(account, "closed_won", [_line("WIDGET")])
    flow.sync()
    op = flow.order_op(deal)
    assert op.status == "dead"
    assert op.error_category == "validation"
    assert "postal_code" in (op.error_message or "")
    assert "vat_number" in (op.error_message or "")
    assert flow.orders() == {}

    flow.sales.put("company", {"postal_code": "10115", "vat_number": "DE123456789"}, external_id=account)
    flow.sync()
    dead_letters.retry(flow.engine, op.id or 0, actor="ops@example.com", reason="billing data completed")
    flow.sync()
    assert len(flow.orders()) == 1
    assert flow.order_op(deal).status == "done"


def test_a_missing_product_is_remapped_then_ordered(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    deal = flow.deal(flow.customer(), "closed_won", [_line("WIDGET"), _line("GIZMO-9", 3, 50.0)])
    flow.sync()
    op = flow.order_op(deal)
    assert op.status == "dead"
    assert op.error_category == "mapping"
    assert "GIZMO-9" in (op.error_message or "")
    (story_id,) = trace.search(flow.engine, deal)
    story = trace.story(flow.engine, story_id)
    assert story is not None
    assert story.dead_letters == [op.id]
    check = [s for s in story.steps if s.name == "order.check"][-1]  # decided again as the catalogue is read
    assert check.status == "held"
    assert check.dead_letter == op.id
    assert "GIZMO-9" in (check.error or "")

    with pytest.raises(ValueError, match="no line with product"):
        held_orders.remap_product(flow.engine, op.id or 0, "NOPE", "GADGET", actor="ops@example.com")
    held_orders.remap_product(flow.engine, op.id or 0, "GIZMO-9", "GADGET", actor="ops@example.com",
                              reason="GIZMO-9 is sold as GADGET")  # fmt: skip
    flow.sync()
    (order,) = flow.orders().values()
    assert [line["product_code"] for line in order["lines"]] == ["WIDGET", "GADGET"]
    with snapshot(flow.engine) as session:
        actions = session.execute(select(RepairAction.action, RepairAction.actor, RepairAction.details)).all()
    assert [(a, who, d) for a, who, d in actions] == [("remap", "ops@example.com", {"from": "GIZMO-9", "to": "GADGET"})]


def test_a_price_outside_tolerance_waits_for_approval(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    account = flow.customer()
    approved = flow.deal(account, "closed_won", [_line("WIDGET", 2, 130.0)])  # list price 100, tolerance 2%
    rejected = flow.deal(account, "closed_won", [_line("WIDGET", 1, 60.0)])
    fine = flow.deal(account, "closed_won", [_line("WIDGET", 1, 101.5)])  # within 2%
    flow.sync()
    held = flow.order_op(approved)
    assert held.status == "dead"
    assert held.error_category == "approval_required"
    assert "WIDGET at 130" in (held.error_message or "")
    assert "list 100" in (held.error_message or "")
    assert flow.order_op(rejected).status == "dead"
    assert flow.order_op(fine).status == "done"
    assert len(flow.orders()) == 1
    held_money = lead_to_cash.money_held(flow.engine)
    assert held_money.deals == 2
    assert held_money.by_category == {"approval_required": Decimal(2000)}

    with pytest.raises(ValueError, match="reason"):
        held_orders.approve(flow.engine, held.id or 0, actor="cfo@example.com", reason=" ")
    held_orders.approve(flow.engine, held.id or 0, actor="cfo@example.com", reason="volume deal agreed")
    held_orders.reject(flow.engine, flow.order_op(rejected).id or 0, actor="cfo@example.com", reason="below cost")
    flow.sync()
    assert flow.order_op(approved).status == "done"
    assert flow.order_op(rejected).status == "rejected"
    placed = {o["salesforce_id"] for o in flow.orders().values()}
    assert placed == {approved, fine}

    # the rejected deal changes again: it stays refused, no order appears
    flow.sales.put("deal", {"amount": 61.0}, external_id=rejected)
    flow.sync()
    assert flow.order_op(rejected).status == "rejected"
    assert {o["salesforce_id"] for o in flow.orders().values()} == {approved, fine}
    with snapshot(flow.engine) as session:
        query = select(AuditLog.action, AuditLog.actor).where(AuditLog.action.startswith("order."))
        audit = sorted(tuple(row) for row in session.execute(query).all())
    assert audit == [("order.approve", "cfo@example.com"), ("order.reject", "cfo@example.com")]


def test_an_approval_covers_only_the_prices_it_saw(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    deal = flow.deal(flow.customer(), "closed_won", [_line("WIDGET", 1, 130.0)])
    flow.sync()
    op = flow.order_op(deal)
    # sales raises the price further before anyone approves: the held row now shows the new price
    flow.sales.put("deal", {"lines": [_line("WIDGET", 1, 140.0)]}, external_id=deal)
    flow.sync()
    assert "WIDGET at 140" in (flow.order_op(deal).error_message or "")
    held_orders.approve(flow.engine, op.id or 0, actor="cfo@example.com", reason="ok at 140")
    flow.sync()
    assert flow.order_op(deal).status == "done"
    (order,) = flow.orders().values()
    assert order["lines"][0]["unit_price"] == "140"


def test_the_price_tolerance_is_the_admins_to_set(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    with pytest.raises(ValueError, match="between 0 and 1"):
        closed_won.save_price_tolerance(flow.engine, Decimal("1.5"), "admin@example.com")
    closed_won.save_price_tolerance(flow.engine, Decimal("0.35"), "admin@example.com")
    deal = flow.deal(flow.customer(), "closed_won", [_line("WIDGET", 2, 130.0)])  # 30% above list: allowed now
    flow.sync()
    assert flow.order_op(deal).status == "done"
    with snapshot(flow.engine) as session:
        saved = session.execute(select(AuditLog.action, AuditLog.actor).where(AuditLog.subject == "closed_won")).all()
    assert [tuple(row) for row in saved] == [("closed_won.saved", "admin@example.com")]


def test_an_erp_order_alone_creates_no_deal_elsewhere(ledger_url: str) -> None:
    flow = Flow(ledger_url)
    flow.erp.put("deal", {"order_number": "S00099", "order_status": "confirmed"})  # an order nobody won in sales
    flow.sync()
    assert flow.sales.all("deal") == {}  # the ERP maps no deal name: it cannot make a deal
    with snapshot(flow.engine) as session:
        dead = session.execute(select(OutboundOp).where(OutboundOp.status == "dead")).scalars().all()
    assert dead == []
