"""OdooConnector's deals and companies against the sandbox: placed once per opportunity, read with their
fulfilment and billing facts, and fed when their order, invoices or pickings change or an invoice falls overdue."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectors.erp.client import OdooClient
from connectors.erp.connector import OdooConnector
from connectors.erp.cursor import ChangeCursor
from connectors.erp.mapping import default_mappings, mapping_for
from connectors.erp.sandbox import API_KEY, DATABASE, LOGIN, RunningSandbox, create_app, start
from sync_core.domain import mapping as field_mapping
from sync_core.domain import records
from sync_core.domain.changes import SourceRecord, WriteRequest
from sync_core.domain.errors import ErrorCategory, PermanentError

VERSIONS = (17, 19)
MONEY = frozenset({"amount_invoiced", "amount_paid", "amount_overdue", "open_invoice_amount"})
T0 = datetime(2026, 4, 6, 9, 30, 0, tzinfo=UTC)  # a Monday morning, whole seconds


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[int, RunningSandbox]]:
    running = {v: start(create_app(seed=5, version=v, records=6)) for v in VERSIONS}
    yield running
    for server in running.values():
        server.stop()


@pytest.fixture(params=VERSIONS, ids=lambda v: f"odoo{v}")
def erp(request: pytest.FixtureRequest, servers: dict[int, RunningSandbox]) -> RunningSandbox:
    server = servers[int(request.param)]
    server.sandbox.reset(at=T0, pace=0)  # seeded as of T0, business time stopped
    return server


@pytest.fixture
def erp19(servers: dict[int, RunningSandbox]) -> RunningSandbox:
    servers[19].sandbox.reset(at=T0, pace=0)
    return servers[19]


_opened: list[OdooConnector] = []


@pytest.fixture(autouse=True)
def _close_connectors() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


def connect(server: RunningSandbox, **options: Any) -> OdooConnector:
    connector = OdooConnector(OdooClient(server.url, DATABASE, LOGIN, API_KEY, timeout_seconds=5.0), **options)
    _opened.append(connector)
    return connector


def control(server: RunningSandbox, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{server.url}/__sandbox__/{path}", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def mapping(object_type: str) -> field_mapping.ObjectMapping:
    found = mapping_for(default_mappings(), object_type)
    assert found is not None
    return found


def canonical(object_type: str, record: SourceRecord) -> dict[str, Any]:
    return records.validate(object_type, field_mapping.to_canonical(mapping(object_type), record.fields))


def deal_write(canonical_id: str, company: str, opportunity: str | None, *codes: str, quantity: int = 4,
               external_id: str | None = None) -> WriteRequest:
    """What the engine sends for a won opportunity: canonical fields validated, then mapped to Odoo's names."""
    lines = [{"product_code": code, "quantity": quantity, "unit_price": "120.50", "description": f"{code} for you"}
             for code in (codes or ("SKU-1010",))]  # fmt: skip
    values = records.validate("deal", {"company_id": company, "salesforce_id": opportunity, "lines": lines})
    return WriteRequest(canonical_id, external_id, field_mapping.to_vendor(mapping("deal"), values), (canonical_id,))


def customer(connector: OdooConnector, canonical_id: str = "c-acme") -> str:
    values = records.validate("company", {"name": "Acme GmbH", "street": "Hauptstr. 5", "postal_code": "10115",
                                          "vat_number": "DE123456789", "country": "DE"})
    fields = field_mapping.to_vendor(mapping("company"), values)
    result = connector.write_batch("company", [WriteRequest(canonical_id, None, fields, (canonical_id,))])[0]
    assert result.ok, result.error
    assert result.external_id is not None
    return result.external_id


def drain(connector: OdooConnector, object_type: str, cursor: str | None, limit: int = 2
          ) -> tuple[list[SourceRecord], str | None]:
    found: list[SourceRecord] = []
    while True:
        page = connector.read_changes(object_type, cursor, limit)
        assert len(page.records) <= limit
        found.extend(page.records)
        cursor = page.cursor
        if not page.has_more:
            return found, cursor


def orders_with(server: RunningSandbox, origin: str) -> list[dict[str, Any]]:
    rows = server.sandbox.store.tables["sale.order"].values()
    return sorted(({"id": r["id"], "state": r["state"], "lines": len([
        line for line in server.sandbox.store.tables["sale.order.line"].values() if line.get("order_id") == r["id"]])}
        for r in rows if r.get("origin") == origin), key=lambda r: int(r["id"]))  # fmt: skip


# -- writing a deal ------------------------------------------------------------------------------------------------


def test_a_won_deal_is_placed_once_keyed_on_its_opportunity(erp: RunningSandbox) -> None:
    connector = connect(erp)
    company = customer(connector)
    first = connector.write_batch("deal", [deal_write("d-1", company, "006A00000001")])[0]
    assert first.ok, first.error
    assert first.created
    again = connector.write_batch("deal", [deal_write("d-1", company, "006A00000001")])[0]  # a retry, unlinked
    assert (again.external_id, again.created) == (first.external_id, False)
    assert orders_with(erp, "sf-opp:006A00000001") == [{"id": int(str(first.external_id)), "state": "sale",
                                                          "lines": 1}]
    keyed = connector.write_batch("deal", [deal_write("d-2", company, "sf-opp:006A00000002"),
                                           deal_write("d-3", company, None)])  # fmt: skip
    assert all(r.ok and r.created for r in keyed)
    assert [o["state"] for o in orders_with(erp, "sf-opp:006A00000002")] == ["sale"]  # a keyed value stays
    assert [o["state"] for o in orders_with(erp, "revline:d-3")] == ["sale"]  # no opportunity: Revline's key
    [line] = [r for r in erp.sandbox.store.tables["sale.order.line"].values()
              if r.get("order_id") == int(str(first.external_id))]
    assert (line["product_uom_qty"], line["price_unit"], line["name"]) == (4.0, 120.5, "SKU-1010 for you")


def test_a_batch_of_won_deals_is_placed_side_by_side_each_once_with_its_own_answer(erp19: RunningSandbox) -> None:
    connector = connect(erp19)
    company = customer(connector)
    writes = [deal_write(f"d-{n}", company, f"006D{n}") for n in range(6)]
    writes.insert(3, deal_write("d-bad", company, "006Dbad", "NO-SUCH-SKU"))
    results = connector.write_batch("deal", writes)
    assert [r.canonical_id for r in results] == [w.canonical_id for w in writes]  # in the order asked
    bad = results.pop(3)
    assert isinstance(bad.error, PermanentError)
    assert bad.error.category is ErrorCategory.MAPPING
    assert all(r.ok and r.created for r in results)
    read = {r.external_id: r for r in connector.read("deal", [str(r.external_id) for r in results])}
    assert len(read) == 6
    for n, result in enumerate(results):
        assert orders_with(erp19, f"sf-opp:006D{n}") == [{"id": int(str(result.external_id)), "state": "sale",
                                                         "lines": 1}]  # fmt: skip
        assert (result.version, result.filled) == (read[result.external_id].version,
                                                   dict(read[result.external_id].fields))  # fmt: skip
    again = connector.write_batch("deal", [deal_write(f"d-{n}", company, f"006D{n}") for n in range(6)])  # retries
    assert [(r.external_id, r.created) for r in again] == [(r.external_id, False) for r in results]
    assert orders_with(erp19, "sf-opp:006Dbad") == []


def test_a_linked_deal_is_only_confirmed_never_amended(erp19: RunningSandbox) -> None:
    connector = connect(erp19)
    company = customer(connector)
    placed = connector.write_batch("deal", [deal_write("d-1", company, "006B")])[0]
    linked = connector.write_batch("deal", [deal_write("d-1", company, "006B", "SKU-1001", "SKU-1002", quantity=9,
                                                       external_id=placed.external_id)])[0]  # fmt: skip
    assert (linked.ok, linked.external_id, linked.created) == (True, placed.external_id, False)
    assert orders_with(erp19, "sf-opp:006B") == [{"id": int(str(placed.external_id)), "state": "sale", "lines": 1}]
    assert linked.version == connector.read("deal", [str(placed.external_id)])[0].version


def test_a_deal_with_an_unknown_product_is_a_mapping_error_naming_it(erp19: RunningSandbox) -> None:
    connector = connect(erp19)
    company = customer(connector)
    result = connector.write_batch("deal", [deal_write("d-9", company, "006C", "SKU-1001", "NO-SUCH-SKU")])[0]
    assert isinstance(result.error, PermanentError)
    assert result.error.category is ErrorCategory.MAPPING
    assert "NO-SUCH-SKU" in str(result.error)
    assert orders_with(erp19, "sf-opp:006C") == []


def test_company_address_and_vat_are_written_and_the_billing_facts_read(erp19: RunningSandbox) -> None:
    connector = connect(erp19)
    company = customer(connector)
    [partner] = [p for p in erp19.sandbox.store.tables["res.partner"].values() if p.get("ref") == "c-acme"]
    assert (partner["street"], partner["zip"], partner["vat"]) == ("Hauptstr. 5", "10115", "DE123456789")
    [term] = connector.client.call("account.payment.term", "search", domain=[["name", "=", "30 Days"]])
    connector.client.call("res.partner", "write", ids=[int(company)], vals={"property_payment_term_id": term})
    # the ERP owns billing: Revline's values for those fields are never written
    owned = {"property_payment_term_id": 1, "credit_limit": 1.0, "customer_number": "x", "billing_risk": True,
             "amount_overdue": 5.0, "open_invoice_amount": 5.0, "credit_hold": True}
    assert connector.write_batch("company", [WriteRequest("c-acme", company, {"name": "Acme AG", **owned}, ())])[0].ok
    [read] = connector.read("company", [company])
    assert canonical("company", read) == {
        "name": "Acme AG", "domain": None, "phone": None, "city": None, "country": "Germany",
        "street": "Hauptstr. 5", "postal_code": "10115", "vat_number": "DE123456789", "customer_number": company,
        "payment_terms": "30 Days", "credit_hold": False, "open_invoice_amount": "0", "amount_overdue": "0",
        "billing_risk": False,
    }  # fmt: skip
    # a seeded customer who never pays carries overdue invoices
    seeded = drain(connector, "company", None, 50)[0]
    risky = [canonical("company", r) for r in seeded if r.fields["billing_risk"]]
    assert risky
    assert all(Decimal(c["amount_overdue"]) > 0 and Decimal(c["open_invoice_amount"]) >= Decimal(c["amount_overdue"])
               for c in risky)  # fmt: skip
    # read by id they are the same, overdue on the day the answer itself is dated: two calls, no version probe
    ids = [r.external_id for r in seeded if r.fields["billing_risk"]]
    calls = connector.api_calls
    again = connector.read("company", ids)
    assert connector.api_calls == calls + 2  # the partners, their invoices
    assert sorted((canonical("company", r) for r in again), key=lambda c: c["customer_number"]) == sorted(
        risky, key=lambda c: c["customer_number"])


# -- a deal's life, read and fed -------------------------------------------------------------------------------------


def test_a_deal_from_confirmation_to_delivered_invoiced_partly_paid_overdue_and_paid(erp: RunningSandbox) -> None:
    connector = connect(erp)
    company = customer(connector)
    [term] = connector.client.call("account.payment.term", "search", domain=[["name", "=", "30 Days"]])
    connector.client.call("res.partner", "write", ids=[int(company)], vals={"property_payment_term_id": term})
    control(erp, "payers", {"partner_id": int(company), "behaviour": "partial"})
    cursors: dict[str, str | None] = {"deal": drain(connector, "deal", None)[1],
                                      "company": drain(connector, "company", None, 50)[1]}
    handed: dict[str, list[tuple[str, str]]] = {"deal": [], "company": []}

    def fed(object_type: str) -> list[dict[str, Any]]:
        """What the feed hands on now, for this customer only (the seeded history moves on too)."""
        found, cursors[object_type] = drain(connector, object_type, cursors[object_type])
        handed[object_type].extend((r.external_id, r.version) for r in found)
        mine = [r for r in found if object_type == "deal" or r.external_id == company]
        if object_type == "deal":
            for record in mine:  # the feed and a read by id agree
                assert connector.read("deal", [record.external_id]) == [record]
        return [{k: Decimal(v) if k in MONEY and v is not None else v for k, v in canonical(object_type, r).items()}
                for r in mine]

    def stamps() -> tuple[Any, ...]:
        order = erp.sandbox.store.tables["sale.order"][order_id]
        moves = [m for m in erp.sandbox.store.tables["account.move"].values() if m.get("partner_id") == int(company)]
        return (order["write_date"], *(m["write_date"] for m in moves))

    placed = connector.write_batch("deal", [deal_write("d-life", company, "006LIFE")])[0]
    order_id = int(str(placed.external_id))
    [deal] = fed("deal")
    assert deal == {
        "company_id": company, "salesforce_id": "006LIFE", "order_number": deal["order_number"],
        "order_status": "confirmed", "delivery_status": "pending", "invoice_status": "nothing",
        "tracking_ref": None, "shipped_date": None, "invoice_number": None, "invoice_due_date": None,
        "amount_invoiced": 0, "amount_paid": 0, "amount_overdue": 0, "payment_status": None,
    }  # fmt: skip  (no lines: the ERP does not own them)
    assert deal["order_number"].startswith("S")
    total = Decimal("482.00")  # 4 x 120.50

    control(erp, "clock/step", {"hours": 13})  # the picking is reserved: nothing the deal shows
    assert fed("deal") == []

    control(erp, "clock/step", {"days": 4})  # delivered, invoiced
    [deal] = fed("deal")
    shipped = date.fromisoformat(deal["shipped_date"])
    assert deal | {"tracking_ref": None, "invoice_number": None} == {
        "company_id": company, "salesforce_id": "006LIFE", "order_number": deal["order_number"],
        "order_status": "confirmed", "delivery_status": "delivered", "invoice_status": "invoiced",
        "tracking_ref": None, "shipped_date": shipped.isoformat(), "invoice_number": None,
        "invoice_due_date": (shipped + timedelta(days=30)).isoformat(), "amount_invoiced": total,
        "amount_paid": 0, "amount_overdue": 0, "payment_status": "not_paid",
    }  # fmt: skip
    assert deal["tracking_ref"].startswith("1Z")
    assert deal["invoice_number"].startswith("INV/")
    due = shipped + timedelta(days=30)
    [billing] = fed("company")
    assert (billing["open_invoice_amount"], billing["amount_overdue"], billing["billing_risk"]) == (total, 0, False)

    before = stamps()
    moment = datetime.combine(due, time(23), UTC)
    applied = control(erp, "clock/step", {"seconds": (moment - erp.sandbox.clock.now()).total_seconds()})["applied"]
    assert [e["kind"] for e in applied if e["order_id"] == order_id] == ["pay"]  # the first part, by the due date
    assert stamps()[0] == before[0]  # the payment touched the invoice, not the order...
    [deal] = fed("deal")  # ...and the deal comes all the same
    paid = deal["amount_paid"]
    assert 0 < paid < total
    assert (deal["payment_status"], deal["amount_overdue"], deal["delivery_status"]) == ("partial", 0, "delivered")
    [billing] = fed("company")
    assert billing["open_invoice_amount"] == total - paid

    before = stamps()
    applied = control(erp, "clock/step", {"days": 2})["applied"]  # past due, the rest unpaid
    assert [e for e in applied if e["order_id"] == order_id] == []
    assert stamps() == before  # nothing was written: the date alone passed the due date
    [deal] = fed("deal")
    assert (deal["payment_status"], deal["amount_overdue"], deal["amount_paid"]) == ("overdue", total - paid, paid)
    [billing] = fed("company")
    assert (billing["billing_risk"], billing["amount_overdue"]) == (True, total - paid)
    assert fed("deal") == []  # read again: nothing new, nothing twice
    assert fed("company") == []

    control(erp, "clock/step", {"days": 31})  # the rest arrives, weeks late
    [deal] = fed("deal")
    assert (deal["payment_status"], deal["amount_paid"], deal["amount_overdue"]) == ("paid", total, 0)
    [billing] = fed("company")
    assert (billing["open_invoice_amount"], billing["amount_overdue"], billing["billing_risk"]) == (0, 0, False)
    assert fed("deal") == []
    for object_type, pairs in handed.items():
        assert len(pairs) == len(set(pairs)), f"{object_type}: a version was handed on twice"


def test_the_deal_feed_pages_through_many_deals_each_once(erp19: RunningSandbox) -> None:
    connector = connect(erp19)
    company = customer(connector)
    _, cursor = drain(connector, "deal", None)
    placed = connector.write_batch("deal", [deal_write(f"d-{i}", company, f"006P{i:02d}") for i in range(7)])
    control(erp19, "clock/step", {"days": 5})  # delivered and invoiced: orders, pickings and invoices all move
    seen: list[str] = []
    pages = 0
    while True:
        page = connector.read_changes("deal", cursor, 3)
        assert len(page.records) <= 3
        seen.extend(r.external_id for r in page.records)
        cursor, pages = page.cursor, pages + 1
        if not page.has_more:
            break
    assert sorted(seen) == sorted(str(p.external_id) for p in placed)  # every deal once, at its latest state
    assert pages >= 3
    assert connector.read_changes("deal", cursor, 10).records == ()
    state = json.loads(str(cursor))
    assert state["v"] == 2
    assert set(state["streams"]) == {"deal", "invoices", "pickings"}
    assert state["overdue"] == [(erp19.sandbox.clock.now().date() - timedelta(days=1)).isoformat(), None]


def test_a_payment_that_commits_late_is_read_by_the_overlap(erp19: RunningSandbox) -> None:
    watchful = connect(erp19, overlap_seconds=600)
    blind = connect(erp19, overlap_seconds=0)  # what reading strictly after the last write_date would do
    writer = connect(erp19)
    company = customer(writer)
    first = writer.write_batch("deal", [deal_write("d-late", company, "006LATE")])[0]
    control(erp19, "clock/step", {"days": 5})  # delivered and invoiced
    [invoice] = [m for m in erp19.sandbox.store.tables["account.move"].values() if m.get("partner_id") == int(company)]
    cursors = {"watchful": drain(watchful, "deal", None)[1], "blind": drain(blind, "deal", None)[1]}
    # A payment's transaction starts now and commits well after a quicker one that places another deal
    erp19.sandbox.faults.configure({"latency_ms": 600})
    slow = threading.Thread(target=writer.client.call, args=("account.move", "write"),
                            kwargs={"ids": [invoice["id"]], "vals": {"payment_state": "in_payment",
                                                                     "amount_residual": 0.0}})  # fmt: skip
    slow.start()
    threading.Event().wait(0.15)
    erp19.sandbox.faults.configure({"latency_ms": 0})
    erp19.sandbox.clock.advance(3)
    quick = connect(erp19).write_batch("deal", [deal_write("d-quick", company, "006QUICK")])[0]
    for name, connector in (("watchful", watchful), ("blind", blind)):
        found, cursors[name] = drain(connector, "deal", cursors[name])
        assert [r.external_id for r in found] == [quick.external_id]
    slow.join()
    assert erp19.sandbox.store.tables["account.move"][invoice["id"]]["write_date"] < erp19.sandbox.clock.now()
    late, cursors["watchful"] = drain(watchful, "deal", cursors["watchful"])
    assert [(r.external_id, canonical("deal", r)["payment_status"]) for r in late] == [
        (first.external_id, "in_payment")]  # behind the cursor, still read
    assert drain(watchful, "deal", cursors["watchful"])[0] == []
    assert drain(blind, "deal", cursors["blind"])[0] == []  # lost without the overlap


def test_a_company_cursor_from_before_the_invoice_streams_carries_on(erp19: RunningSandbox) -> None:
    connector = connect(erp19)
    seeded, cursor = drain(connector, "company", None, 50)
    assert seeded
    own = json.loads(str(cursor))["streams"]["company"]
    old = ChangeCursor(own["since"], own["seen"]).encode()  # what the feed stored before it followed invoices
    assert drain(connector, "company", old, 50)[0] == []  # nothing handed on again
    customer(connector, "c-new")
    assert [r.canonical_id for r in drain(connector, "company", old, 50)[0]] == ["c-new"]


def test_a_deal_read_at_a_later_state_is_not_handed_on_again_when_that_change_comes_up(erp19: RunningSandbox
                                                                                      ) -> None:
    connector = connect(erp19)
    company = customer(connector)
    [term] = connector.client.call("account.payment.term", "search", domain=[["name", "=", "15 Days"]])
    connector.client.call("res.partner", "write", ids=[int(company)], vals={"property_payment_term_id": term})
    control(erp19, "payers", {"partner_id": int(company), "behaviour": "on_time"})
    _, cursor = drain(connector, "deal", None)
    placed = connector.write_batch("deal", [deal_write("d-a", company, "006A"), deal_write("d-b", company, "006B")])
    applied = control(erp19, "clock/step", {"days": 20})["applied"]
    mine = [e for e in applied if e["order_id"] in {int(str(p.external_id)) for p in placed}]
    assert [e["kind"] for e in mine] == ["reserve", "reserve", "deliver", "deliver", "pay", "pay"]
    # One deal a page: the first is read already paid, before its payment's turn in the feed comes (after the
    # other deal's delivery)
    found, cursor = drain(connector, "deal", cursor, limit=1)
    assert sorted(r.external_id for r in found) == sorted(str(p.external_id) for p in placed)  # each once
    assert {canonical("deal", r)["payment_status"] for r in found} == {"paid"}
    assert drain(connector, "deal", cursor)[0] == []
