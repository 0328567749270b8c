"""OdooConnector.scan against the sandbox over JSON-RPC (Odoo 17) and JSON-2 (Odoo 19): search_read keyed on id."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors.erp.client import OdooClient
from connectors.erp.connector import OdooConnector
from connectors.erp.mapping import default_mappings, mapping_for
from connectors.erp.sandbox import API_KEY, DATABASE, LOGIN, RunningSandbox, create_app, start
from sync_core.domain import mapping as field_mapping
from sync_core.domain import records
from sync_core.domain.changes import ScanPage, SourceRecord, WriteRequest
from sync_core.domain.errors import ErrorCategory, PermanentError

VERSIONS = (17, 19)
T0 = datetime(2026, 4, 6, 9, 30, 0, tzinfo=UTC)  # a Monday morning, whole seconds


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[int, RunningSandbox]]:
    running = {v: start(create_app(seed=9, version=v, records=8)) for v in VERSIONS}
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


def connect(server: RunningSandbox) -> OdooConnector:
    connector = OdooConnector(OdooClient(server.url, DATABASE, LOGIN, API_KEY, timeout_seconds=10.0))
    _opened.append(connector)
    return connector


def warmed(server: RunningSandbox, *object_types: str) -> OdooConnector:
    """A connector past its one-time calls (version probe, login, fields_get per model)."""
    connector = connect(server)
    connector.client.uid()
    for object_type in object_types:
        connector.fields(object_type)
    return connector


def scan_all(connector: OdooConnector, object_type: str, limit: int,
             after: str | None = None) -> tuple[list[ScanPage], list[SourceRecord]]:  # fmt: skip
    pages: list[ScanPage] = []
    while True:
        page = connector.scan(object_type, after, limit)
        pages.append(page)
        after = page.after
        if after is None:
            return pages, [r for p in pages for r in p.records]


def by_id(found: list[SourceRecord]) -> list[SourceRecord]:
    return sorted(found, key=lambda r: int(r.external_id))


def partner_ids(server: RunningSandbox, companies: bool) -> list[str]:
    rows = server.sandbox.store.tables["res.partner"].values()
    return [str(r["id"]) for r in sorted(rows, key=lambda r: int(r["id"]))
            if bool(r.get("is_company")) == companies and r.get("active", True) is not False]  # fmt: skip


def write(canonical_id: str, **fields: Any) -> WriteRequest:
    return WriteRequest(canonical_id, None, fields, (f"key-{canonical_id}",))


def test_companies_are_scanned_once_each_in_id_order_with_their_billing_facts(erp: RunningSandbox) -> None:
    connector = warmed(erp, "company")
    created = connector.write_batch("company", [write(f"c-{i}", name=f"Scan {i} GmbH") for i in range(9)])
    archived = str(created[2].external_id)
    connector.client.call("res.partner", "write", ids=[int(archived)], vals={"active": False})
    expected = partner_ids(erp, companies=True)
    assert archived not in expected
    before = connector.api_calls

    pages, found = scan_all(connector, "company", 4)

    assert [r.external_id for r in found] == expected  # each once, in id order, the archived one left out
    assert all(len(p.records) == 4 for p in pages[:-1])
    # A page costs its search_read and one read of the companies' open invoices; an empty last page its search.
    assert connector.api_calls - before == sum(2 if p.records else 1 for p in pages)
    assert {"open_invoice_amount", "amount_overdue", "billing_risk", "credit_hold"} <= set(found[0].fields)
    assert any(r.fields["billing_risk"] for r in found)  # the seed's customers who never pay
    assert found == by_id(connector.read("company", expected))  # the same records read() gives
    assert {r.canonical_id for r in found} >= {f"c-{i}" for i in range(9) if i != 2}


def test_a_scan_resumes_from_a_pages_position_in_another_connector(erp: RunningSandbox) -> None:
    first = connect(erp).scan("contact", None, 3)
    assert first.after == first.records[-1].external_id
    _, rest = scan_all(connect(erp), "contact", 3, first.after)
    assert [r.external_id for r in (*first.records, *rest)] == partner_ids(erp, companies=False)


def deal_write(canonical_id: str, company: str, opportunity: str) -> WriteRequest:
    """What the engine sends for a won opportunity: canonical fields validated, then mapped to Odoo's names."""
    mapping = mapping_for(default_mappings(), "deal")
    assert mapping is not None
    lines = [{"product_code": "SKU-1010", "quantity": 4, "unit_price": "120.50"}]
    values = records.validate("deal", {"company_id": company, "salesforce_id": opportunity, "lines": lines})
    return WriteRequest(canonical_id, None, field_mapping.to_vendor(mapping, values), (canonical_id,))


def test_deals_orders_and_invoices_come_with_what_read_adds(erp19: RunningSandbox) -> None:
    connector = connect(erp19)
    [company] = connector.write_batch("company", [write("c-deals", name="Deals GmbH")])
    placed = connector.write_batch("deal", [deal_write(f"d-{i}", str(company.external_id), f"006S{i:02d}")
                                            for i in range(5)])  # fmt: skip
    assert all(p.ok for p in placed)
    # Delivered and invoiced: a deal's facts come from its pickings and invoices.
    stepped = httpx.post(f"{erp19.url}/__sandbox__/clock/step", json={"days": 5}, timeout=10)
    assert stepped.status_code == 200, stepped.text
    for object_type in ("deal", "order", "invoice", "payment", "product", "shipment"):
        _, found = scan_all(connector, object_type, 3)
        ids = [r.external_id for r in found]
        assert ids == sorted(ids, key=int)
        assert len(set(ids)) == len(ids)
        read = by_id(connector.read(object_type, ids))
        if object_type == "payment":  # passed over, as read_changes passes them over: matched to no invoice
            read = [r for r in read if r.fields.get("invoice_id")]
        assert found == read, object_type
    deals = scan_all(connector, "deal", 2)[1]
    # in id order (a batch's orders are placed concurrently, so their ids need not follow the batch's order)
    assert [r.external_id for r in deals] == sorted((str(p.external_id) for p in placed), key=int)
    assert all(r.fields["date_done"] and r.fields["invoice_name"] for r in deals)  # shipped and invoiced
    orders = scan_all(connector, "order", 50)[1]
    assert orders
    assert all("order_line" in r.fields for r in orders)


def test_pages_hold_2000_records_one_search_read_each(erp19: RunningSandbox) -> None:
    connector = warmed(erp19, "contact")
    connector.write_batch("contact", [write(f"p-{i}", name=f"Person {i}") for i in range(2100)])
    total = len(partner_ids(erp19, companies=False))
    before = connector.api_calls
    pages, found = scan_all(connector, "contact", 10_000)
    assert [len(p.records) for p in pages] == [2000, total - 2000]
    assert len({r.external_id for r in found}) == total
    assert connector.api_calls - before == 2


def test_an_exhausted_scan_ends_and_a_bad_position_is_refused(erp19: RunningSandbox) -> None:
    connector = connect(erp19)
    last = partner_ids(erp19, companies=True)[-1]
    assert connector.scan("company", last, 10) == ScanPage((), None)
    with pytest.raises(PermanentError) as refused:
        connector.scan("company", "x1", 10)
    assert refused.value.category is ErrorCategory.MAPPING
    mapping = mapping_for(default_mappings(), "company")
    assert mapping is not None
    first = connector.scan("company", None, 1).records[0]
    assert records.validate("company", field_mapping.to_canonical(mapping, first.fields))
