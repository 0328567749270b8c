"""OdooConnector against the sandbox: orders once, conflicts, mapping errors, partners, polling, business stages."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectors.erp.client import OdooClient
from connectors.erp.config import from_settings
from connectors.erp.connector import OdooConnector
from connectors.erp.mapping import default_mappings, mapping_for
from connectors.erp.sandbox import API_KEY, DATABASE, LOGIN, RunningSandbox, create_app, start
from sync_core.domain import mapping as field_mapping
from sync_core.domain import records
from sync_core.domain.changes import SourceRecord, WriteRequest
from sync_core.domain.errors import ErrorCategory, PermanentError, RetryableError
from sync_core.testing import FrozenClock

VERSIONS = (17, 18, 19)
T0 = datetime(2026, 4, 6, 9, 30, 0, tzinfo=UTC)  # a Monday morning, whole seconds


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[int, RunningSandbox]]:
    running = {v: start(create_app(seed=5, version=v, records=6)) for v in VERSIONS}
    yield running
    for server in running.values():
        server.stop()


def fresh(servers: dict[int, RunningSandbox], version: int) -> RunningSandbox:
    """Seeded afresh as of T0, business time stopped: every write in a test lands in the same second."""
    server = servers[version]
    server.sandbox.reset(at=T0, pace=0)
    return server


@pytest.fixture(params=VERSIONS, ids=lambda v: f"odoo{v}")
def erp(request: pytest.FixtureRequest, servers: dict[int, RunningSandbox]) -> RunningSandbox:
    return fresh(servers, int(request.param))


@pytest.fixture
def erp19(servers: dict[int, RunningSandbox]) -> RunningSandbox:
    return fresh(servers, 19)


@pytest.fixture
def erp17(servers: dict[int, RunningSandbox]) -> RunningSandbox:
    return fresh(servers, 17)


_opened: list[OdooConnector] = []


@pytest.fixture(autouse=True)
def _close_connectors() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


def connect(server: RunningSandbox, key: str = API_KEY, timeout: float = 5.0, **options: Any) -> OdooConnector:
    client = OdooClient(server.url, DATABASE, LOGIN, key, timeout_seconds=timeout, version=options.pop("version", None))
    connector = OdooConnector(client, **options)
    _opened.append(connector)
    return connector


def control(server: RunningSandbox, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{server.url}/__sandbox__/{path}", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def write(canonical_id: str, external_id: str | None = None, **fields: Any) -> WriteRequest:
    return WriteRequest(canonical_id, external_id, fields, (f"key-{canonical_id}",))


def customer(connector: OdooConnector, canonical_id: str = "c-acme", name: str = "Acme GmbH") -> str:
    result = connector.write_batch("company", [write(canonical_id, name=name, country_id="DE")])[0]
    assert result.ok, result.error
    assert result.external_id is not None
    return result.external_id


def order_write(partner: str, origin: str, *codes: str, quantity: float = 2, price: float | None = None
                ) -> WriteRequest:
    lines = [{"product_code": code, "quantity": quantity, "unit_price": price} for code in (codes or ("SKU-1002",))]
    return write(f"o-{origin}", partner_id=partner, origin=origin, client_order_ref="PO-7", order_line=lines)


def orders_with(server: RunningSandbox, origin: str) -> list[dict[str, Any]]:
    rows = server.sandbox.store.tables["sale.order"].values()
    return sorted(({"id": r["id"], "state": r["state"]} for r in rows if r.get("origin") == origin),
                  key=lambda r: int(r["id"]))


def canonical(object_type: str, record: SourceRecord) -> dict[str, Any]:
    mapping = mapping_for(default_mappings(), object_type)
    assert mapping is not None
    return records.validate(object_type, field_mapping.to_canonical(mapping, record.fields))


def drain(connector: OdooConnector, object_type: str, cursor: str | None, limit: int = 100
          ) -> tuple[list[SourceRecord], str | None]:
    found: list[SourceRecord] = []
    while True:
        page = connector.read_changes(object_type, cursor, limit)
        found.extend(page.records)
        cursor = page.cursor
        if not page.has_more:
            return found, cursor


# -- identity, transport, configuration --------------------------------------------------------------------------


def test_check_picks_the_transport_from_the_servers_version(erp: RunningSandbox) -> None:
    connector = connect(erp)
    assert connector.api_calls == 0
    connector.check()
    version = erp.sandbox.version
    assert connector.client.version().major == version
    assert connector.client.transport == ("json2" if version >= 19 else "jsonrpc")
    assert connector.usage() is None  # Odoo reports no quota
    assert connector.api_calls == 2  # the version probe, then the login check
    assert (connector.system, connector.max_batch_size) == ("erp", 100)


def test_a_configured_version_skips_the_probe_and_bad_credentials_are_permission_errors(erp19: RunningSandbox) -> None:
    pinned = connect(erp19, version=17)  # a 19 also speaks JSON-RPC
    pinned.check()
    assert (pinned.client.transport, pinned.api_calls) == ("jsonrpc", 1)
    for version in (17, 19):
        with pytest.raises(PermanentError) as refused:
            connect(erp19, key="wrong", version=version).check()
        assert refused.value.category is ErrorCategory.PERMISSION
    wrong_db = OdooConnector(OdooClient(erp19.url, "nodb", LOGIN, API_KEY, version=17))
    _opened.append(wrong_db)
    with pytest.raises(PermanentError) as missing:
        wrong_db.read("company", ["1"])
    assert missing.value.category is ErrorCategory.PERMISSION


def test_the_registry_factory_reads_settings_and_the_environment(erp19: RunningSandbox,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVLINE_ERP_API_KEY", API_KEY)
    monkeypatch.setenv("REVLINE_ERP_DATABASE", DATABASE)
    connector = from_settings("books", {"kind": "erp", "url": erp19.url, "login": LOGIN, "overlap_seconds": 60})
    _opened.append(connector)
    assert connector.system == "books"
    connector.check()
    assert connector.client.transport == "json2"
    monkeypatch.delenv("REVLINE_ERP_API_KEY")
    with pytest.raises(ValueError, match=r"'books'.*API key"):
        from_settings("books", {"url": erp19.url})
    with pytest.raises(ValueError, match="URL"):
        from_settings("books", {"key": "k"})


# -- orders -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: f"odoo{v}")
def test_the_same_order_key_five_times_yields_one_confirmed_order(servers: dict[int, RunningSandbox],
                                                                 version: int) -> None:
    erp = fresh(servers, version)
    connector = connect(erp, timeout=0.4)
    partner = customer(connector)
    request = order_write(partner, "sf-opp:0065000001")
    connector.check()
    # 1: Odoo applies the create, then the answer comes too late: the outcome is unknown to us
    erp.sandbox.faults.configure({"timeout_after_write": {"next": 1, "hold_ms": 1000}})
    first = connector.write_batch("order", [request])[0]
    assert isinstance(first.error, RetryableError)
    assert [o["state"] for o in orders_with(erp, "sf-opp:0065000001")] == ["draft"]
    # 2-4: three workers at once, each with its own connector (no shared lock)
    results: list[Any] = []

    def send() -> None:
        results.extend(connect(erp).write_batch("order", [request]))

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 5: once more, later
    results.append(connector.write_batch("order", [request])[0])
    orders = orders_with(erp, "sf-opp:0065000001")
    assert orders == [{"id": orders[0]["id"], "state": "sale"}]
    assert all(r.ok for r in results), [r.error for r in results]
    assert {r.external_id for r in results} == {str(orders[0]["id"])}
    assert not any(r.created for r in results)  # the first attempt created it
    pickings = [p for p in erp.sandbox.store.tables["stock.picking"].values() if p["sale_id"] == orders[0]["id"]]
    assert len(pickings) == 1  # confirmed once


def test_racing_writers_without_a_shared_lock_keep_one_order_and_report_the_others(erp19: RunningSandbox) -> None:
    partner = customer(connect(erp19))
    request = order_write(partner, "sf-opp:race", price=120.0)
    connectors = [connect(erp19) for _ in range(5)]
    for each in connectors:
        each.check()
        each.product("SKU-1002")  # warm the catalogue so every writer's search lands in the same window
    # Every call takes 150 ms: the five searches overlap, all find nothing, all five create.
    erp19.sandbox.faults.configure({"latency_ms": 150})
    barrier = threading.Barrier(5)
    results: list[Any] = []

    def send(each: OdooConnector) -> None:
        barrier.wait()
        results.extend(each.write_batch("order", [request]))

    threads = [threading.Thread(target=send, args=(each,)) for each in connectors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    orders = orders_with(erp19, "sf-opp:race")
    live = [o for o in orders if o["state"] != "cancel"]
    assert live == [{"id": orders[0]["id"], "state": "sale"}]  # the oldest stands, confirmed
    assert all(r.ok and r.external_id == str(live[0]["id"]) for r in results)
    reported = [d for each in connectors for d in each.duplicates]
    cancelled = {i for d in reported for i in d.cancelled}
    assert cancelled == {o["id"] for o in orders if o["state"] == "cancel"}
    assert len(orders) - 1 == len(cancelled) >= 1
    assert {d.kept for d in reported} == {live[0]["id"]}


def test_the_same_key_from_threads_sharing_one_connector_creates_once(erp17: RunningSandbox) -> None:
    connector = connect(erp17)
    partner = customer(connector)
    request = order_write(partner, "sf-opp:shared")
    erp17.sandbox.faults.configure({"latency_ms": 30})
    threads = [threading.Thread(target=connector.write_batch, args=("order", [request])) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [o["state"] for o in orders_with(erp17, "sf-opp:shared")] == ["sale"]
    assert connector.duplicates == []  # serialised per key: no second order was ever created


def test_a_draft_or_sent_order_is_confirmed_and_a_cancelled_one_is_a_conflict(erp: RunningSandbox) -> None:
    connector = connect(erp)
    partner = customer(connector)
    client = connector.client
    draft = client.call("sale.order", "create", vals_list=[{"partner_id": int(partner), "origin": "sf-opp:sent"}])[0]
    client.call("sale.order", "write", ids=[draft], vals={"state": "sent"})
    placed = connector.write_batch("order", [order_write(partner, "sf-opp:sent")])[0]
    assert (placed.external_id, placed.created) == (str(draft), False)
    assert orders_with(erp, "sf-opp:sent") == [{"id": draft, "state": "sale"}]

    # An order Revline already links is never placed again, whatever key the write carries
    linked = client.call("sale.order", "create", vals_list=[{"partner_id": int(partner)}])[0]
    kept = connector.write_batch("order", [write("o-linked", str(linked), partner_id=partner, order_line=[])])[0]
    assert (kept.external_id, kept.created) == (str(linked), False)
    assert erp.sandbox.store.tables["sale.order"][linked]["state"] == "sale"
    gone = connector.write_batch("order", [write("o-gone", "999999", partner_id=partner)])[0]
    assert isinstance(gone.error, PermanentError)
    assert gone.error.category is ErrorCategory.MISSING_REFERENCE

    done = connector.write_batch("order", [order_write(partner, "sf-opp:void")])[0]
    assert done.external_id is not None
    client.call("sale.order", "action_cancel", ids=[int(done.external_id)])
    again = connector.write_batch("order", [order_write(partner, "sf-opp:void")])[0]
    assert isinstance(again.error, PermanentError)
    assert again.error.category is ErrorCategory.CONFLICT
    assert "cancelled" in again.error.message
    assert [o["state"] for o in orders_with(erp, "sf-opp:void")] == ["cancel"]  # nothing new was placed


def test_a_missing_or_archived_product_is_a_mapping_error_and_places_nothing(erp: RunningSandbox) -> None:
    connector = connect(erp)
    partner = customer(connector)
    before = len(erp.sandbox.store.tables["sale.order"])
    results = connector.write_batch("order", [
        order_write(partner, "sf-opp:missing", "SKU-1001", "SKU-4040"),
        order_write(partner, "sf-opp:archived", "SKU-0999"),
        order_write(partner, "sf-opp:fine", "SKU-1001"),
    ])  # fmt: skip
    for result, code in zip(results[:2], ("SKU-4040", "SKU-0999"), strict=True):
        assert isinstance(result.error, PermanentError)
        assert result.error.category is ErrorCategory.MAPPING
        assert code in result.error.message
    assert results[2].ok
    assert len(erp.sandbox.store.tables["sale.order"]) == before + 1
    assert len(erp.sandbox.store.tables["product.product"]) == 21  # never auto-created


def test_products_are_cached_for_a_short_while(erp19: RunningSandbox) -> None:
    clock = FrozenClock(T0)
    connector = connect(erp19, clock=clock, product_cache_seconds=60)
    connector.check()
    calls = connector.api_calls
    product = connector.product("SKU-1003")
    assert (product.code, product.active) == ("SKU-1003", True)
    with pytest.raises(PermanentError) as missing:
        connector.product("SKU-4040")
    assert missing.value.category is ErrorCategory.MAPPING
    assert connector.api_calls == calls + 2
    connector.product("SKU-1003")
    with pytest.raises(PermanentError):
        connector.product("SKU-4040")  # a miss is remembered too
    assert connector.api_calls == calls + 2
    clock.advance(61)
    connector.product("SKU-1003")
    assert connector.api_calls == calls + 3


def test_prices_come_from_pricelist_items_for_product_quantity_and_date(erp17: RunningSandbox) -> None:
    connector = connect(erp17)
    items = {r["product_id"]: r for r in erp17.sandbox.store.tables["product.pricelist.item"].values()
             if r["pricelist_id"] == 1}
    products = {r["default_code"]: r for r in erp17.sandbox.store.tables["product.product"].values()}
    fixed, volume, promo, plain = (products[c] for c in ("SKU-1001", "SKU-1004", "SKU-1008", "SKU-1012"))
    assert connector.price("SKU-1001", 1) == Decimal(str(items[fixed["id"]]["fixed_price"]))
    assert connector.price("SKU-1004", 9) == Decimal(str(volume["lst_price"]))
    assert connector.price("SKU-1004", 10) == (Decimal(str(volume["lst_price"])) * Decimal("0.9")).quantize(
        Decimal("0.01"))
    window = items[promo["id"]]
    inside, after = window["date_start"].date() + timedelta(days=1), window["date_end"].date() + timedelta(days=1)
    assert connector.price("SKU-1008", 1, inside) == Decimal("199.0")  # a promotion, while it lasts
    assert connector.price("SKU-1008", 1, after) == Decimal(str(promo["lst_price"]))
    assert connector.price("SKU-1012", 50) == Decimal(str(plain["lst_price"]))
    assert connector.price("SKU-1012", 1, pricelist_id=2) == (Decimal(str(plain["lst_price"])) * Decimal(
        "0.9")).quantize(Decimal("0.01"))  # the partner pricelist: 10% off everything
    # an order line without a price gets the pricelist's
    partner = customer(connector)
    placed = connector.write_batch("order", [order_write(partner, "sf-opp:priced", "SKU-1004", quantity=10)])[0]
    order = connector.read("order", [str(placed.external_id)])[0]
    assert order.fields["order_line"][0]["unit_price"] == float(connector.price("SKU-1004", 10))


# -- partners -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [17, 19], ids=lambda v: f"odoo{v}")
def test_companies_and_contacts_are_upserted_on_ref(servers: dict[int, RunningSandbox], version: int) -> None:
    erp = fresh(servers, version)
    connector = connect(erp)
    made = connector.write_batch("company", [
        write("c-1", name="Initech", city="Austin", country_id="United States", website="initech.example"),
        write("c-2", name="Globex", country_id="fr"),
        write("c-3", name="Nowhere Inc", country_id="Atlantis"),
    ])  # fmt: skip
    assert [r.created for r in made[:2]] == [True, True]
    assert isinstance(made[2].error, PermanentError)
    assert made[2].error.category is ErrorCategory.MAPPING
    # the same canonical ids again, without Odoo ids: found by ref, updated, not duplicated
    again = connector.write_batch("company", [write("c-1", name="Initech LLC"), write("c-2", phone="+33 1 23")])
    assert [(r.external_id, r.created) for r in again] == [(made[0].external_id, False), (made[1].external_id, False)]
    assert sum(1 for p in erp.sandbox.store.tables["res.partner"].values() if p.get("ref") == "c-1") == 1
    company = connector.read("company", [str(made[0].external_id)])[0]
    assert company.canonical_id == "c-1"
    assert company.version == again[0].version
    # it carries the ERP's billing facts, which change by the ERP's doing (an invoice paid) however the
    # partner was last written: never an echo by who wrote it; the engine compares values instead
    assert not company.last_written_by_revline
    assert canonical("company", company) == {
        "name": "Initech LLC", "domain": "initech.example", "phone": None, "city": "Austin",
        "country": "United States", "street": None, "postal_code": None, "vat_number": None,
        # the ERP's billing facts: no payment term set, nothing invoiced yet
        "customer_number": made[0].external_id, "payment_terms": None, "credit_hold": False,
        "open_invoice_amount": "0", "amount_overdue": "0", "billing_risk": False,
    }  # fmt: skip
    # ERP-owned fields come along for the ownership planner
    assert {"property_payment_term_id", "credit_limit", "credit_hold", "sale_warn"} <= set(company.fields)

    person = connector.write_batch("contact", [write("p-1", first_name="Ada", last_name="Lovelace King",
                                                     email="ada@initech.example", parent_id=made[0].external_id)])[0]
    assert person.ok, person.error
    connector.write_batch("contact", [write("p-1", person.external_id, first_name="Augusta")])
    contact = connector.read("contact", [str(person.external_id)])[0]
    assert contact.fields["name"] == "Augusta Lovelace King"
    assert canonical("contact", contact)["company_id"] == made[0].external_id  # Odoo's id; the engine translates it
    assert (contact.fields["first_name"], contact.fields["last_name"]) == ("Augusta", "Lovelace King")
    assert connector.read("company", [str(person.external_id), "999999", "not-an-id"]) == []


def test_one_rejected_partner_does_not_sink_the_batch(erp19: RunningSandbox) -> None:
    connector = connect(erp19)
    erp19.sandbox.faults.configure({"validation_errors": [
        {"model": "res.partner", "values": {"ref": "c-bad"}, "message": "The VAT number is not valid."}]})
    results = connector.write_batch("company", [write("c-ok", name="Fine"), write("c-bad", name="Bad"),
                                                write("c-ok2", name="Also fine")])
    assert [r.ok for r in results] == [True, False, True]
    bad = results[1].error
    assert isinstance(bad, PermanentError)
    assert (bad.category, "VAT" in bad.message) == (ErrorCategory.VALIDATION, True)
    # A call failing as a whole fails the batch as a whole; the engine retries every record of it.
    erp19.sandbox.faults.configure({"server_errors": {"sequence": [503]}, "validation_errors": []})
    with pytest.raises(RetryableError, match="503"):
        connector.write_batch("company", [write("c-ok", name="Fine again")])
    assert connector.write_batch("company", [write("c-ok", name="Fine again")])[0].ok


def test_the_erps_own_records_are_read_only(erp19: RunningSandbox) -> None:
    connector = connect(erp19)
    for object_type in ("product", "shipment", "invoice", "payment"):
        result = connector.write_batch(object_type, [write("x-1", state="done")])[0]
        assert isinstance(result.error, PermanentError)
        assert result.error.category is ErrorCategory.MAPPING
    with pytest.raises(PermanentError) as unknown:
        connector.read_changes("spaceship", None, 10)
    assert unknown.value.category is ErrorCategory.MAPPING


# -- reading changes ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [18, 19], ids=lambda v: f"odoo{v}")
def test_polling_a_burst_in_one_second_misses_nothing_and_repeats_nothing(servers: dict[int, RunningSandbox],
                                                                          version: int) -> None:
    erp = fresh(servers, version)
    connector = connect(erp)
    _, cursor = drain(connector, "company", None)  # the seeded history
    writer = connect(erp)
    burst = [write(f"b-{i:02d}", name=f"Burst {i:02d}") for i in range(23)]
    for start_at in range(0, 23, 5):
        writer.write_batch("company", burst[start_at:start_at + 5])  # five calls, one second (the clock is stopped)
    seen: list[str] = []
    pages = 0
    while True:
        page = connector.read_changes("company", cursor, 4)
        seen.extend(str(r.canonical_id) for r in page.records)
        cursor, pages = page.cursor, pages + 1
        if not page.has_more:
            break
    assert sorted(seen) == [f"b-{i:02d}" for i in range(23)]  # each once
    assert pages >= 6
    assert connector.read_changes("company", cursor, 50).records == ()
    # More in the very same second: two updates (same write_date as before, new values) and a new record
    writer.write_batch("company", [write("b-03", name="Burst three"), write("b-17", name="Burst seventeen"),
                                   write("b-99", name="Burst late")])
    later, cursor = drain(connector, "company", cursor, 2)
    assert sorted(str(r.canonical_id) for r in later) == ["b-03", "b-17", "b-99"]
    assert connector.read_changes("company", cursor, 50).records == ()


def test_a_transaction_that_commits_late_is_read_by_the_overlap(erp19: RunningSandbox) -> None:
    watchful = connect(erp19, overlap_seconds=600)
    blind = connect(erp19, overlap_seconds=0)  # what reading strictly after the last write_date would do
    writer = connect(erp19)
    writer.check()
    cursors = {"watchful": drain(watchful, "company", None)[1], "blind": drain(blind, "company", None)[1]}
    # A slow write starts its transaction now (09:30:00) and commits well after a quicker one
    erp19.sandbox.faults.configure({"latency_ms": 600})
    slow = threading.Thread(target=writer.client.call, args=("res.partner", "create"),
                            kwargs={"vals_list": [{"name": "Slow Ltd", "is_company": True, "ref": "late"}]})
    slow.start()
    threading.Event().wait(0.15)
    erp19.sandbox.faults.configure({"latency_ms": 0})
    erp19.sandbox.clock.advance(3)
    connect(erp19).write_batch("company", [write("quick", name="Quick Ltd")])  # stamped 09:30:03
    for name, connector in (("watchful", watchful), ("blind", blind)):
        first, cursors[name] = drain(connector, "company", cursors[name])
        assert [r.canonical_id for r in first] == ["quick"]
    slow.join()
    late, cursors["watchful"] = drain(watchful, "company", cursors["watchful"])
    assert [(r.canonical_id, r.modified_at) for r in late] == [("late", T0)]  # behind the cursor, still read
    assert drain(watchful, "company", cursors["watchful"])[0] == []
    assert drain(blind, "company", cursors["blind"])[0] == []  # lost without the overlap


def test_a_cursor_is_json_and_a_bad_one_is_refused(erp19: RunningSandbox) -> None:
    connector = connect(erp19)
    page = connector.read_changes("order", None, 3)
    assert page.has_more
    assert page.cursor is not None
    assert page.cursor.startswith('{"seen":{')
    assert '"v":1' in page.cursor
    with pytest.raises(PermanentError):
        connector.read_changes("order", "not a cursor", 3)


# -- the business clock, read back -------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [17, 19], ids=lambda v: f"odoo{v}")
def test_the_business_clock_takes_an_order_to_delivered_invoiced_partly_paid_and_overdue(
    servers: dict[int, RunningSandbox], version: int
) -> None:
    erp = fresh(servers, version)
    connector = connect(erp)
    partner = customer(connector)
    [term] = connector.client.call("account.payment.term", "search", domain=[["name", "=", "30 Days"]])
    connector.client.call("res.partner", "write", ids=[int(partner)], vals={"property_payment_term_id": term})
    control(erp, "payers", {"partner_id": int(partner), "behaviour": "partial"})
    cursors: dict[str, str | None] = {}
    for object_type in ("order", "shipment", "invoice", "payment"):
        cursors[object_type] = drain(connector, object_type, None)[1]

    mine: dict[str, set[str]] = {"order": set(), "invoice": set()}

    def changes(object_type: str) -> list[dict[str, Any]]:
        """This order's records that changed since the last look (the seeded history moves on too)."""
        found, cursors[object_type] = drain(connector, object_type, cursors[object_type])
        result = []
        for record in found:
            values = canonical(object_type, record)
            if object_type == "order" and record.external_id not in mine["order"]:
                continue
            if object_type in ("shipment", "invoice") and values["order_id"] not in mine["order"]:
                continue
            if object_type == "payment" and values["invoice_id"] not in mine["invoice"]:
                continue
            if object_type == "invoice":
                mine["invoice"].add(record.external_id)
            result.append(values)
        return result

    placed = connector.write_batch("order", [order_write(partner, "sf-opp:lifecycle", "SKU-1010", quantity=4)])[0]
    order_id = str(placed.external_id)
    mine["order"].add(order_id)
    [order] = changes("order")
    assert (order["state"], order["company_id"], order["currency"]) == ("sale", partner, "EUR")
    assert order["lines"][0]["product_code"] == "SKU-1010"
    total = Decimal(order["amount_total"])
    [shipment] = changes("shipment")
    assert (shipment["order_id"], shipment["state"]) == (order_id, "confirmed")

    control(erp, "clock/step", {"hours": 13})
    [shipment] = changes("shipment")
    assert shipment["state"] == "assigned"

    control(erp, "clock/step", {"days": 4})
    [shipment] = changes("shipment")
    assert shipment["state"] == "done"
    assert date.fromisoformat(shipment["done_date"]) > T0.date()
    [order] = changes("order")  # delivery and invoicing moved the order too
    assert order["state"] == "sale"
    order_record = connector.read("order", [order_id])[0]
    assert (order_record.fields["delivery_status"], order_record.fields["invoice_status"]) == ("full", "invoiced")
    [invoice] = changes("invoice")
    assert (invoice["order_id"], invoice["state"], invoice["payment_state"]) == (order_id, "posted", "not_paid")
    assert Decimal(invoice["amount_total"]) == total
    due = date.fromisoformat(invoice["due_date"])
    assert due == date.fromisoformat(shipment["done_date"]) + timedelta(days=30)

    def overdue_for_mine() -> list[Any]:
        return [o for o in connector.overdue_invoices() if o.invoice.order_id == order_id]

    assert overdue_for_mine() == []

    def step_to(moment: datetime) -> None:
        control(erp, "clock/step", {"seconds": (moment - erp.sandbox.clock.now()).total_seconds()})

    step_to(datetime.combine(due, time(23), UTC))  # the first part arrives by the due date
    assert connector.server_today() == due
    [payment] = changes("payment")
    assert payment["state"] == "posted"
    assert Decimal(payment["amount"]) < total
    [invoice] = changes("invoice")
    assert invoice["payment_state"] == "partial"
    assert Decimal(invoice["amount_residual"]) == total - Decimal(payment["amount"])
    assert invoice["order_id"] == order_id
    assert overdue_for_mine() == []

    control(erp, "clock/step", {"days": 2})  # past due, the rest not paid: overdue, though nothing changed
    assert changes("invoice") == []
    today = erp.sandbox.clock.now().date()
    assert connector.server_today() == today  # the ERP's today, from its Date header
    overdue = {o.external_id: o for o in connector.overdue_invoices()}
    [late] = overdue_for_mine()
    assert late.invoice.payment_state == "partial"
    assert late.invoice.amount_residual == total - Decimal(payment["amount"])
    assert late.days_overdue == (today - due).days > 0
    assert all(o.invoice.due_date is not None and o.invoice.due_date < today for o in overdue.values())
    assert connector.overdue_invoices(today=due) == [o for o in connector.overdue_invoices(today=due)
                                                     if o.invoice.order_id != order_id]
