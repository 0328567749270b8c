"""One deal from a HubSpot contact to cash across the three sandboxes, on SQLite and PostgreSQL.

HubSpot, Salesforce and the ERP are served for real and spoken to through hubspot-api-client,
simple-salesforce and the ERP connector's JSON-RPC; people act through the sandboxes' control
APIs (a marketer in HubSpot, a sales rep in Salesforce, the ERP's business clock delivering,
invoicing and collecting). Salesforce's clock is frozen and moved on by hand, so a round never
waits for a second to be over.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, update
from sqlmodel import col

from connectors.erp.client import OdooClient
from connectors.erp.connector import OdooConnector
from connectors.erp.sandbox import API_KEY, DATABASE, LOGIN
from connectors.erp.sandbox import create_app as erp_app
from connectors.erp.sandbox import start as erp_start
from connectors.erp.sandbox.server import RunningSandbox as ErpSandbox
from connectors.hubspot.config import from_settings as hubspot_connector
from connectors.hubspot.sandbox import create_app as hubspot_app
from connectors.hubspot.sandbox.state import Sandbox as HubSpotSandbox
from connectors.hubspot.sandbox.testing import serve_in_thread
from connectors.salesforce import SalesforceConfig, SalesforceConnector
from connectors.salesforce.sandbox import create_app as salesforce_app
from connectors.salesforce.sandbox.server import RunningSandbox, start
from console.presets import install_lead_to_cash
from sync_core.domain.handoff import Assignment, HandoffRules
from sync_core.persistence import lanes
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import EntityLink, Finding, Lane, OutboundOp, ReconcileRun, TraceSpan
from sync_core.retry import RetryPolicy
from sync_core.services import dead_letters, held_orders, lead_handoff, ledger_engine, reconciliation, trace
from sync_core.worker import Worker, drain


@dataclass
class Chain:
    engine: Engine
    worker: Worker
    hubspot: HubSpotSandbox
    hubspot_url: str
    salesforce: RunningSandbox
    erp: ErpSandbox

    # -- people at work --------------------------------------------------------------------------

    def marketer(self, object_type: str, properties: dict[str, Any], record_id: str | None = None) -> str:
        change: dict[str, Any] = {"objectType": object_type, "properties": properties}
        if record_id is not None:
            change["id"] = record_id
        (result,) = httpx.post(f"{self.hubspot_url}/__sandbox__/users/changes", json=change).json()["results"]
        assert result["status"] in ("created", "updated"), result
        return str(result["id"])

    def rep(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        with httpx.Client(verify=ssl.create_default_context(cafile=str(self.salesforce.ca_file))) as http:
            answer = http.request(method, f"{self.salesforce.url}/__sandbox__/{path}", json=body)
        assert answer.status_code < 300, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def erp_control(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = httpx.post(f"{self.erp.url}/__sandbox__/{path}", json=body, timeout=10)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    # -- what each system holds ------------------------------------------------------------------

    def sf(self, record_id: str) -> dict[str, Any]:
        found = self.salesforce.state.store.get(record_id)
        assert found is not None, record_id
        return dict(found.values)

    def hs(self, object_type: str, record_id: str) -> dict[str, str]:
        found = {r.id: dict(r.properties) for r in self.hubspot.store.snapshot(object_type)}
        return found[record_id]

    def twin(self, system: str, object_type: str, other: str, external_id: str) -> str:
        with transaction(self.engine) as session:
            cid = session.scalar(select(col(EntityLink.canonical_id)).where(
                col(EntityLink.system) == system, col(EntityLink.object_type) == object_type,
                col(EntityLink.external_id) == external_id))  # fmt: skip
            found = session.scalar(select(col(EntityLink.external_id)).where(
                col(EntityLink.system) == other, col(EntityLink.canonical_id) == cid))  # fmt: skip
        assert found is not None, f"{system} {object_type} {external_id} has no {other} twin"
        return str(found)

    # -- syncing ---------------------------------------------------------------------------------

    def sync(self, rounds: int = 6) -> None:
        """Rounds of every lane until nothing is left to send; Salesforce's clock moves past each second."""
        for _ in range(rounds):
            self.salesforce.state.clock.advance(2)
            with transaction(self.engine) as session:
                lanes.mark_all_due(session)
            drain(self.worker)
            with transaction(self.engine) as session:
                open_ops = session.scalar(select(OutboundOp.id).where(
                    col(OutboundOp.status).in_(["pending", "in_flight"])).limit(1))  # fmt: skip
            if open_ops is None:
                self.salesforce.state.clock.advance(2)
                with transaction(self.engine) as session:
                    lanes.mark_all_due(session)
                drain(self.worker)
                return


def _email_of(salesforce: RunningSandbox, user_id: str) -> str:
    record = salesforce.state.store.get(user_id)
    assert record is not None
    return str(record.values["Email"]).lower()


@pytest.fixture
def chain(ledger_url: str) -> Iterator[Chain]:
    engine = ledger_engine(ledger_url)
    install_lead_to_cash(engine)
    app = hubspot_app(seed=3, records=2)
    hubspot: HubSpotSandbox = app.state.sandbox
    salesforce = start(salesforce_app(seed=4, records=2))
    salesforce.state.clock.freeze(datetime.now(UTC).replace(microsecond=0))
    erp = erp_start(erp_app(seed=5, version=19, records=3))
    erp.sandbox.reset(at=datetime.now(UTC).replace(microsecond=0), pace=1)  # business time runs with ours
    # The sales team works in both CRMs: each Salesforce user has a HubSpot owner with the same email.
    people = [_email_of(salesforce, user) for user in salesforce.state.users.people]
    for email in people:
        hubspot.store.owners.add(email)
    lead_handoff.save_rules(engine, HandoffRules(assignment=Assignment(owners=tuple(people[:2]))), "admin")
    try:
        with serve_in_thread(app) as hubspot_url:
            httpx.post(f"{hubspot_url}/__sandbox__/faults", json={"search_per_second": 0})
            connectors = {
                "hubspot": hubspot_connector("hubspot", {"base_url": hubspot_url, "token": "sandbox-token",
                                                         "index_lag_seconds": 0, "search_per_second": 0}),
                "salesforce": SalesforceConnector(
                    SalesforceConfig(login_url=salesforce.url, client_id="sandbox", client_secret="sandbox",  # type: ignore[arg-type]
                                     ca_bundle=str(salesforce.ca_file), settle_seconds=0, leads=True),
                    clock=salesforce.state.clock,
                ),
                "erp": OdooConnector(OdooClient(erp.url, DATABASE, LOGIN, API_KEY, timeout_seconds=5.0)),
            }
            worker = Worker(engine, connectors, retry=RetryPolicy(base_seconds=0.02, factor=1.0, jitter=0.0))
            try:
                yield Chain(engine, worker, hubspot, hubspot_url, salesforce, erp)
            finally:
                hubspot.webhooks.stop()
                for connector in connectors.values():
                    close = getattr(connector, "close", None)
                    if close is not None:
                        close()
    finally:
        salesforce.stop()
        erp.stop()


def _erp_product(chain: Chain) -> tuple[str, float]:
    """A product the ERP sells: its code and list price."""
    records = httpx.get(f"{chain.erp.url}/__sandbox__/records/product.product", timeout=10).json()["records"]
    sold = sorted((r for r in records if r.get("default_code") and r.get("active", True) and r.get("sale_ok", True)),
                  key=lambda r: r["default_code"])  # fmt: skip
    return str(sold[0]["default_code"]), float(sold[0]["lst_price"])


def test_one_deal_from_a_hubspot_contact_to_cash(chain: Chain) -> None:
    # marketing: a contact that is not yet qualified stays in HubSpot
    contact = chain.marketer("contacts", {"email": "ada@northwind.example", "firstname": "Ada",
                                          "lastname": "Lovelace", "company": "Northwind", "lifecyclestage": "lead"})
    chain.sync()
    assert not any(r.values.get("Email") == "ada@northwind.example" for r in chain.salesforce.state.store.rows("Lead"))

    # qualified: a lead in Salesforce, owned by the first rep in turn, its id back in HubSpot
    chain.marketer("contacts", {"lifecyclestage": "marketingqualifiedlead"}, contact)
    chain.sync()
    lead_id = chain.twin("hubspot", "contact", "salesforce", contact)
    lead = chain.sf(lead_id)
    assert lead_id.startswith("00Q")
    assert (lead["Company"], lead["Email"], lead["OwnerId"]) == ("Northwind", "ada@northwind.example",
                                                                  chain.salesforce.state.users.people[0])
    assert chain.hs("contacts", contact)["salesforce_id"] == lead_id

    # sales works and converts it, with an opportunity
    chain.rep("PATCH", f"records/Lead/{lead_id}", {"fields": {"Status": "Working - Contacted"}})
    chain.sync()
    done = chain.rep("POST", f"leads/{lead_id}/convert", {"opportunity": {"Name": "Northwind rollout"}})
    chain.sync()
    assert chain.hs("contacts", contact)["lifecyclestage"] == "opportunity"
    assert chain.twin("hubspot", "contact", "salesforce", contact) == done["contact"]
    deal_hs = chain.twin("salesforce", "deal", "hubspot", done["opportunity"])
    assert chain.hs("deals", deal_hs)["dealname"] == "Northwind rollout"
    company_hs = chain.twin("salesforce", "company", "hubspot", done["account"])
    assert set(chain.hubspot.store.associations("deals", deal_hs, "companies")) == {company_hs}  # its account

    # the account gets its billing data, the opportunity a product the ERP sells, and is won
    code, price = _erp_product(chain)
    chain.sync()  # the ERP's catalogue reaches Salesforce's price book
    product = next(r for r in chain.salesforce.state.store.rows("Product2") if r.values.get("ProductCode") == code)
    entry = next(r for r in chain.salesforce.state.store.rows("PricebookEntry")
                 if r.values["Product2Id"] == product.id and r.values.get("UnitPrice") == price)  # fmt: skip
    chain.rep("PATCH", f"records/Account/{done['account']}", {"fields": {
        "BillingStreet": "1 Harbour Road", "BillingPostalCode": "20095", "BillingCity": "Hamburg",
        "BillingCountry": "Germany", "VAT_Number__c": "DE811907980"}})  # fmt: skip
    chain.rep("POST", "records/OpportunityLineItem", {"fields": {
        "OpportunityId": done["opportunity"], "PricebookEntryId": entry.id, "Quantity": 3, "UnitPrice": price}})
    chain.sync()
    chain.rep("PATCH", f"records/Opportunity/{done['opportunity']}", {"fields": {"StageName": "Closed Won"}})
    chain.sync()

    # one confirmed order in the ERP, keyed on the opportunity; its number in both CRMs
    orders = httpx.get(f"{chain.erp.url}/__sandbox__/records/sale.order", timeout=10).json()["records"]
    placed = [o for o in orders if o.get("origin") == f"sf-opp:{done['opportunity']}"]
    assert len(placed) == 1
    assert placed[0]["state"] == "sale"
    opportunity = chain.sf(done["opportunity"])
    assert opportunity["ERP_Order_Number__c"] == placed[0]["name"]
    assert opportunity["ERP_Order_Status__c"] == "Confirmed"
    assert chain.hs("deals", deal_hs)["revline_order_number"] == placed[0]["name"]
    account = chain.sf(done["account"])
    assert account["ERP_Customer_Ref__c"]

    # the ERP delivers, invoices, and is paid on time
    partner = placed[0]["partner_id"][0] if isinstance(placed[0]["partner_id"], list) else placed[0]["partner_id"]
    chain.erp_control("payers", {"partner_id": int(partner), "behaviour": "on_time"})
    chain.erp_control("clock/step", {"days": 5})
    chain.sync()
    opportunity = chain.sf(done["opportunity"])
    assert opportunity["Delivery_Status__c"] == "Delivered"
    assert opportunity["Invoice_Status__c"] == "Invoiced"
    assert opportunity["Invoice_Number__c"]
    chain.erp_control("clock/step", {"days": 45})
    chain.sync()
    assert chain.sf(done["opportunity"])["Payment_Status__c"] == "Paid"
    assert chain.hs("deals", deal_hs)["revline_payment_status"] == "paid"

    # one story: every step under one correlation id, found by the email, the order and the invoice
    (story_id,) = trace.search(chain.engine, "ada@northwind.example")
    assert trace.search(chain.engine, placed[0]["name"]) == [story_id]
    assert trace.search(chain.engine, opportunity["Invoice_Number__c"]) == [story_id]
    story = trace.story(chain.engine, story_id)
    assert story is not None
    milestones = [s.name for s in story.steps if s.name in trace.MILESTONES]
    assert milestones == ["lead.qualified", "lead.created", "lead.first_activity", "lead.converted", "deal.won",
                          "order.placed", "order.confirmed", "order.delivered", "invoice.posted",
                          "payment.received"]  # fmt: skip
    assert set(story.hops) == set(trace.HOPS)
    with transaction(chain.engine) as session:
        milestone_ids = set(session.scalars(
            select(TraceSpan.correlation_id).where(col(TraceSpan.name).in_(trace.MILESTONES))
            .where(col(TraceSpan.correlation_id) == story_id)))  # fmt: skip
    assert milestone_ids == {story_id}


def _deal(chain: Chain, code: str, price: float, *, vat: str | None = "DE811907980", name: str = "Contoso",
          won: bool = True) -> str:
    """An account with billing data and an opportunity with one product line, won by a sales rep (`won`)."""
    billing = {"Name": name, "Website": f"{name.lower()}.example", "BillingStreet": "1 Harbour Road",
               "BillingPostalCode": "20095", "BillingCity": "Hamburg", "BillingCountry": "Germany"}  # fmt: skip
    if vat:
        billing["VAT_Number__c"] = vat
    account = chain.rep("POST", "records/Account", {"fields": billing})["id"]
    opportunity = chain.rep("POST", "records/Opportunity", {"fields": {
        "Name": f"{name} rollout", "AccountId": account, "StageName": "Negotiation/Review", "CloseDate": "2026-12-31",
    }})["id"]  # fmt: skip
    product = chain.rep("POST", "records/Product2", {"fields": {"Name": code, "ProductCode": code, "IsActive": True}})
    book = next(r.id for r in chain.salesforce.state.store.rows("Pricebook2") if r.values.get("IsStandard"))
    entry = chain.rep("POST", "records/PricebookEntry", {"fields": {
        "Pricebook2Id": book, "Product2Id": product["id"], "UnitPrice": price, "IsActive": True}})["id"]  # fmt: skip
    chain.rep("POST", "records/OpportunityLineItem", {"fields": {
        "OpportunityId": opportunity, "PricebookEntryId": entry, "Quantity": 2, "UnitPrice": price}})  # fmt: skip
    if won:
        chain.rep("PATCH", f"records/Opportunity/{opportunity}", {"fields": {"StageName": "Closed Won"}})
    return str(opportunity)


def _orders(chain: Chain, opportunity: str) -> list[dict[str, Any]]:
    orders = httpx.get(f"{chain.erp.url}/__sandbox__/records/sale.order", timeout=10).json()["records"]
    return [o for o in orders if o.get("origin") == f"sf-opp:{opportunity}" and o.get("state") != "cancel"]


def _order_op(chain: Chain, opportunity: str) -> OutboundOp:
    with transaction(chain.engine) as session:
        found = session.scalars(select(OutboundOp).where(
            col(OutboundOp.operation) == "place", col(OutboundOp.source_id) == opportunity)).all()  # fmt: skip
        session.expunge_all()
    assert len(found) == 1
    return found[0]


def test_a_won_deal_read_again_and_again_and_an_erp_timeout_after_the_create_make_one_order(chain: Chain) -> None:
    code, price = _erp_product(chain)
    chain.erp_control("faults", {"timeout_after_write": {"next": 1, "hold_ms": 6000}})
    opportunity = _deal(chain, code, price)
    chain.sync()
    for step in range(4):  # the won opportunity changes again and again: read again each time
        chain.rep("PATCH", f"records/Opportunity/{opportunity}", {"fields": {"NextStep": f"kick-off {step}"}})
        chain.sync()
    placed = _orders(chain, opportunity)
    assert len(placed) == 1
    assert placed[0]["state"] == "sale"
    assert chain.sf(opportunity)["ERP_Order_Number__c"] == placed[0]["name"]


def test_an_erp_outage_during_closed_won_is_retried_into_one_order(chain: Chain) -> None:
    code, price = _erp_product(chain)
    chain.sync()
    chain.erp_control("faults", {"server_errors": {"sequence": [503] * 4}})
    opportunity = _deal(chain, code, price)
    chain.sync()
    chain.sync()
    placed = _orders(chain, opportunity)
    assert len(placed) == 1
    assert _order_op(chain, opportunity).status == "done"


def test_a_product_the_erp_lacks_is_remapped_then_ordered(chain: Chain) -> None:
    code, price = _erp_product(chain)
    opportunity = _deal(chain, "CUSTOM-BUNDLE", price)
    chain.sync()
    held = _order_op(chain, opportunity)
    assert (held.status, held.error_category) == ("dead", "mapping")
    assert "CUSTOM-BUNDLE" in (held.error_message or "")
    assert _orders(chain, opportunity) == []
    held_orders.remap_product(chain.engine, held.id or 0, "CUSTOM-BUNDLE", code, actor="ops@example.com",
                              reason="the bundle is sold as this product")  # fmt: skip
    chain.sync()
    (placed,) = _orders(chain, opportunity)
    lines = httpx.get(f"{chain.erp.url}/__sandbox__/records/sale.order.line", timeout=10).json()["records"]
    products = httpx.get(f"{chain.erp.url}/__sandbox__/records/product.product", timeout=10).json()["records"]
    codes = {p["id"]: p.get("default_code") for p in products}
    ordered = [codes[_id(line["product_id"])] for line in lines if _id(line["order_id"]) == placed["id"]]
    assert ordered == [code]


def _id(value: Any) -> int:
    return int(value[0]) if isinstance(value, list) else int(value)


def test_a_price_outside_tolerance_is_held_then_approved_or_rejected(chain: Chain) -> None:
    code, price = _erp_product(chain)
    approved = _deal(chain, code, round(price * 1.25, 2), name="Fabrikam")
    rejected = _deal(chain, code, round(price * 0.5, 2), name="Tailspin")
    chain.sync()
    for opportunity in (approved, rejected):
        op = _order_op(chain, opportunity)
        assert (op.status, op.error_category) == ("dead", "approval_required")
    held_orders.approve(chain.engine, _order_op(chain, approved).id or 0, actor="cfo@example.com",
                        reason="multi-year commitment")  # fmt: skip
    held_orders.reject(chain.engine, _order_op(chain, rejected).id or 0, actor="cfo@example.com",
                       reason="below cost")  # fmt: skip
    chain.sync()
    assert len(_orders(chain, approved)) == 1
    assert _orders(chain, rejected) == []
    assert _order_op(chain, rejected).status == "rejected"


def test_an_overdue_invoice_flags_billing_risk_in_both_crms_until_paid(chain: Chain) -> None:
    code, price = _erp_product(chain)
    opportunity = _deal(chain, code, price, name="Litware")
    chain.sync()
    (placed,) = _orders(chain, opportunity)
    account = chain.sf(opportunity)["AccountId"]
    company_hs = chain.twin("salesforce", "company", "hubspot", account)
    partner = _id(placed["partner_id"])
    assert chain.sf(account)["Billing_Risk__c"] is False  # nothing invoiced yet
    chain.erp_control("payers", {"partner_id": partner, "behaviour": "late"})  # pays 10 to 30 days after due
    chain.erp_control("clock/step", {"days": 5})  # delivered and invoiced
    chain.sync()
    invoices = httpx.get(f"{chain.erp.url}/__sandbox__/records/account.move", timeout=10).json()["records"]
    (invoice,) = [i for i in invoices if _id(i["partner_id"]) == partner and i.get("move_type") == "out_invoice"]
    due = date.fromisoformat(str(invoice["invoice_date_due"])[:10])
    today = chain.erp.sandbox.clock.now().date()
    chain.erp_control("clock/step", {"days": max(1, (due - today).days + 3)})  # past due, not paid yet
    chain.sync()
    assert chain.sf(account)["Billing_Risk__c"] is True
    assert chain.sf(account)["Amount_Overdue__c"] > 0
    assert chain.hs("companies", company_hs)["revline_billing_risk"] == "true"
    assert chain.sf(opportunity)["Payment_Status__c"] == "Overdue"

    chain.erp_control("clock/step", {"days": 30})  # the late payer pays
    chain.sync()
    assert chain.sf(account)["Billing_Risk__c"] is False
    assert chain.hs("companies", company_hs)["revline_billing_risk"] == "false"
    assert chain.sf(opportunity)["Payment_Status__c"] == "Paid"



# -- reconciliation across the three systems ------------------------------------------------------


def _pause_reading(chain: Chain, system: str, paused: bool = True) -> None:
    """Stop reading changes from one system: what lost webhooks and a lagging poll look like."""
    with transaction(chain.engine) as session:
        session.execute(update(Lane).where(col(Lane.system) == system, col(Lane.direction) == lanes.INBOUND)
                        .values(paused=paused))  # fmt: skip


def _stamp_salesforce_an_hour_ago(chain: Chain) -> None:
    """The rounds move Salesforce's frozen clock ahead of ours; a pass leaves records changed "in the
    future" to the sync (changes on their way), so these tests keep Salesforce's clock behind."""
    chain.salesforce.state.clock.freeze(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1))


def _reconcile(chain: Chain) -> ReconcileRun:
    """A full pass, run by the worker, then what its heals put in the outbox sent."""
    chain.salesforce.state.clock.advance(2)
    run_id = reconciliation.run_now(chain.engine, "ops@example.com")
    drain(chain.worker)
    with transaction(chain.engine) as session:
        run = session.get(ReconcileRun, run_id)
        assert run is not None
        session.expunge(run)
    assert run.status == "done"
    return run


def _listed(chain: Chain, status: str = "open") -> list[Finding]:
    with transaction(chain.engine) as session:
        rows = list(session.scalars(select(Finding).where(col(Finding.status) == status).order_by(col(Finding.id))))
        session.expunge_all()
    return rows


def _findings(chain: Chain, status: str = "open") -> dict[str, Finding]:
    """One deal's findings by kind, object and field."""
    return {f"{r.kind}:{r.object_type}:{r.field or ''}": r for r in _listed(chain, status)}


def test_reconciliation_finds_heals_and_holds_lead_to_cash_mismatches(chain: Chain) -> None:
    reconciliation.save_settings(chain.engine, "admin", grace=timedelta(0))
    _stamp_salesforce_an_hour_ago(chain)
    code, price = _erp_product(chain)
    opportunity = _deal(chain, code, round(price, 2), name="Northwind")
    chain.sync()
    (placed,) = _orders(chain, opportunity)
    account = chain.sf(opportunity)["AccountId"]
    deal_hs = chain.twin("salesforce", "deal", "hubspot", opportunity)
    customer = chain.sf(account)["ERP_Customer_Ref__c"]
    assert customer

    # converged: a full pass over the three systems finds nothing
    clean = _reconcile(chain)
    assert clean.findings_opened == 0, [(k, f.values) for k, f in _findings(chain).items()]
    assert clean.records_read > 0

    # what live sync cannot see: a rep edits the ERP's customer number and moves the won deal back;
    # marketing overwrites the order status on the HubSpot deal
    _pause_reading(chain, "salesforce")
    _pause_reading(chain, "hubspot")
    chain.rep("PATCH", f"records/Account/{account}", {"fields": {"ERP_Customer_Ref__c": "C-TYPO"}})
    chain.rep("PATCH", f"records/Opportunity/{opportunity}", {"fields": {"StageName": "Negotiation/Review"}})
    chain.marketer("deals", {"revline_order_status": "cancelled"}, deal_hs)
    run = _reconcile(chain)
    found = _findings(chain)
    assert set(found) == {"field_drift:company:customer_number", "field_drift:deal:stage",
                          "status_drift:deal:order_status", "order_without_won:deal:"}  # fmt: skip
    drift = found["field_drift:company:customer_number"]
    assert drift.values["salesforce"] == "C-TYPO"
    assert drift.values["expected"] == drift.values["erp"] == customer
    assert drift.healed_by == reconciliation.HEALER  # field drift heals on its own ...
    assert chain.sf(account)["ERP_Customer_Ref__c"] == customer  # ... through the outbox, sent with the pass
    stage = found["field_drift:deal:stage"]  # sales owns the stage: HubSpot follows it back
    assert (stage.values["salesforce"], stage.values["hubspot"]) == ("negotiation", "closed_won")
    assert chain.hs("deals", deal_hs)["dealstage"] != "closedwon"
    status = found["status_drift:deal:order_status"]
    assert (status.values["hubspot"], status.values["expected"]) == ("cancelled", "confirmed")
    assert status.heal_op_id is None  # status drift waits for a person
    assert status.money == float(chain.sf(opportunity)["Amount"])
    held = found["order_without_won:deal:"]
    assert placed["name"] in held.summary
    assert held.heal_op_id is None
    assert run.findings_opened == 4

    # a person heals the status; sales wins the deal again, and the sync reads again
    assert reconciliation.heal_now(chain.engine, [status.id or 0], "ops@example.com") == 1
    chain.sync()
    assert chain.hs("deals", deal_hs)["revline_order_status"] == "confirmed"
    _pause_reading(chain, "salesforce", paused=False)
    _pause_reading(chain, "hubspot", paused=False)
    chain.rep("PATCH", f"records/Opportunity/{opportunity}", {"fields": {"StageName": "Closed Won"}})
    chain.sync()
    _reconcile(chain)
    assert _findings(chain) == {}
    closed = {**_findings(chain, "healed"), **_findings(chain, "resolved")}
    assert {k: f.status for k, f in closed.items()} == {
        "field_drift:company:customer_number": "healed", "field_drift:deal:stage": "healed",
        "status_drift:deal:order_status": "resolved", "order_without_won:deal:": "resolved",
    }  # fmt: skip
    assert len(_orders(chain, opportunity)) == 1


def test_won_deals_without_orders_get_exactly_one_order_from_reconciliation(chain: Chain) -> None:
    reconciliation.save_settings(chain.engine, "admin", grace=timedelta(0), order_sla=timedelta(0))
    _stamp_salesforce_an_hour_ago(chain)
    code, price = _erp_product(chain)
    chain.sync()
    # one deal's order gave up while the ERP was down; another's closed-won was never read
    missed = _deal(chain, code, price, name="Contoso", won=False)
    chain.sync()
    chain.erp_control("faults", {"server_errors": {"sequence": [503] * 200}})
    retried = _deal(chain, code, price, name="Fabrikam")
    chain.sync()
    deadline = time.monotonic() + 60
    while _order_op(chain, retried).status != "dead":  # its retries run out (the waits between are short here)
        assert time.monotonic() < deadline, _order_op(chain, retried)
        time.sleep(0.2)
        with transaction(chain.engine) as session:
            lanes.mark_all_due(session, lanes.OUTBOUND)
        drain(chain.worker)
    _pause_reading(chain, "salesforce")
    chain.rep("PATCH", f"records/Opportunity/{missed}", {"fields": {"StageName": "Closed Won"}})
    assert httpx.delete(f"{chain.erp.url}/__sandbox__/faults", timeout=10).status_code == 200  # the ERP is back

    _reconcile(chain)
    seen = [*_listed(chain), *_listed(chain, "healed")]  # a heal the same pass saw done
    found = {f.records.get("salesforce"): f for f in seen if f.kind == "won_without_order"}
    assert set(found) == {retried, missed}
    assert all(f.healed_by == reconciliation.HEALER for f in found.values())
    # their accounts have no ERP customer yet either (the flow creates it with the order)
    customers = {f.records["salesforce"]: f for f in _listed(chain) if f.kind == "missing_customer"}
    assert set(customers) == {retried, missed}
    for opportunity, finding in customers.items():
        account = chain.sf(opportunity)["AccountId"]
        with transaction(chain.engine) as session:
            company = session.scalar(select(col(EntityLink.canonical_id)).where(
                col(EntityLink.system) == "salesforce", col(EntityLink.external_id) == account))  # fmt: skip
        assert (finding.object_type, finding.canonical_id) == ("company", company)
    # the heal decided the given-up order again, on its own row: a person's retry finds nothing dead to retry
    with pytest.raises(ValueError, match="only dead letters"):
        dead_letters.retry(chain.engine, _order_op(chain, retried).id or 0, "ops@example.com")
    _pause_reading(chain, "salesforce", paused=False)
    chain.sync()
    assert len(_orders(chain, retried)) == 1
    assert len(_orders(chain, missed)) == 1
    _reconcile(chain)  # a second heal of the same deals changes nothing
    chain.sync()
    assert [f for f in _listed(chain) if f.kind in ("won_without_order", "missing_customer")] == []
    assert len(_orders(chain, retried)) == 1
    assert len(_orders(chain, missed)) == 1


def test_a_record_deleted_in_salesforce_is_an_orphan_for_the_next_incremental_pass(chain: Chain) -> None:
    reconciliation.save_settings(chain.engine, "admin", grace=timedelta(0))
    _stamp_salesforce_an_hour_ago(chain)
    account = chain.rep("POST", "records/Account", {"fields": {"Name": "Vandelay", "Website": "vandelay.example"}})
    chain.sync()
    company_hs = chain.twin("salesforce", "company", "hubspot", account["id"])
    with httpx.Client(verify=ssl.create_default_context(cafile=str(chain.salesforce.ca_file))) as http:
        assert http.delete(f"{chain.salesforce.url}/__sandbox__/records/Account/{account['id']}").status_code == 204
    chain.salesforce.state.clock.advance(2)
    run_id = reconciliation.run_now(chain.engine, "scheduler", reconciliation.INCREMENTAL)
    drain(chain.worker)
    (orphan,) = [f for f in _listed(chain) if f.kind == "orphan"]
    assert orphan.records == {"salesforce": account["id"]}
    assert orphan.run_id == run_id
    assert chain.hs("companies", company_hs)["name"] == "Vandelay"  # deletions are not synced: a person decides


def test_a_won_deal_held_for_a_person_is_a_finding_the_heal_leaves_to_them(chain: Chain) -> None:
    reconciliation.save_settings(chain.engine, "admin", grace=timedelta(0), order_sla=timedelta(0))
    _stamp_salesforce_an_hour_ago(chain)
    code, price = _erp_product(chain)
    opportunity = _deal(chain, code, price, vat=None, name="Globex")  # billing data the ERP needs is missing
    chain.sync()
    held = _order_op(chain, opportunity)
    assert (held.status, held.error_category) == ("dead", "validation")
    _reconcile(chain)
    (finding,) = [f for f in _listed(chain) if f.kind == "won_without_order"]
    assert finding.records["salesforce"] == opportunity
    assert finding.heal_op_id is None  # re-deciding would only hold it again: the repair queue has it
    assert _order_op(chain, opportunity).updated_at == held.updated_at
