"""The repair queue over `revline demo` on the HubSpot, Salesforce and ERP sandboxes, in headless Chromium:
an operator fixes a missing-product group with one remap and a bulk retry and watches the orders appear;
an operator approves a held order and rejects another; a viewer reads the queue, and a repair sent
without the button is refused.

Deals are planted as a sales rep would make them, through the Salesforce sandbox's control API; the
demo's own traffic is slowed right down and its faults are off, so the groups hold only these deals.
"""

from __future__ import annotations

import re
import ssl
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, select
from sqlmodel import col

from console.state.repair import cause_slug
from sync_core.domain.access import Role
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import AuditLog, OutboundOp, Shadow
from tests.e2e.conftest import Demo, _free_ports, running_demo, sign_in
from tests.e2e.test_console import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

BILLING = {"BillingStreet": "1 Harbour Road", "BillingPostalCode": "20095", "BillingCity": "Hamburg",
           "BillingCountry": "Germany", "VAT_Number__c": "DE811907980"}  # fmt: skip


@pytest.fixture(scope="module")
def sandbox_ports() -> tuple[int, int, int]:
    hubspot, salesforce, erp = _free_ports(3)
    return hubspot, salesforce, erp


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, sandbox_ports: tuple[int, int, int]) -> Iterator[Demo]:
    """The demo on the three sandboxes, on free ports, with hardly any traffic of its own and no faults."""

    def systems(_port: int) -> Sequence[str]:
        ports = ",".join(str(p) for p in sandbox_ports)
        return ["--systems", "sandboxes", "--sandbox-ports", ports, "--interval", "60", "--fault-every", "0"]

    yield from running_demo(tmp_path_factory, systems)


class Sales:
    """A sales rep at work in the Salesforce sandbox, and what the ERP sandbox holds."""

    def __init__(self, ports: tuple[int, int, int], ca_file: str) -> None:
        self.salesforce = httpx.Client(base_url=f"https://127.0.0.1:{ports[1]}/__sandbox__",
                                       verify=ssl.create_default_context(cafile=ca_file), timeout=10)
        self.erp = httpx.Client(base_url=f"http://127.0.0.1:{ports[2]}/__sandbox__", timeout=10)

    def create(self, sobject: str, fields: dict[str, Any]) -> str:
        answer = self.salesforce.post(f"/records/{sobject}", json={"fields": fields})
        assert answer.status_code < 300, answer.text
        return str(answer.json()["id"])

    def update(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        answer = self.salesforce.patch(f"/records/{sobject}/{record_id}", json={"fields": fields})
        assert answer.status_code < 300, answer.text

    def won_deal(self, code: str, price: float, name: str) -> str:
        """An account with its billing data and an opportunity with two of product `code` at `price`, won."""
        account = self.create("Account", {"Name": name, "Website": f"{name.lower().replace(' ', '-')}.example",
                                           **BILLING})
        opportunity = self.create("Opportunity", {"Name": f"{name} rollout", "AccountId": account,
                                                  "StageName": "Negotiation/Review", "CloseDate": "2026-12-31"})
        entry = self._entry(code, price)
        self.create("OpportunityLineItem", {"OpportunityId": opportunity, "PricebookEntryId": entry, "Quantity": 2,
                                            "UnitPrice": price})
        self.update("Opportunity", opportunity, {"StageName": "Closed Won"})
        return opportunity

    def _entry(self, code: str, price: float) -> str:
        """The standard price book entry of product `code` (the product and entry made when sales has none)."""
        books = self.salesforce.get("/records/Pricebook2").json()["records"]
        book = next(b["Id"] for b in books if b.get("IsStandard"))
        products = self.salesforce.get("/records/Product2").json()["records"]
        product = next((p["Id"] for p in products if p.get("ProductCode") == code), None)
        if product is None:
            product = self.create("Product2", {"Name": code, "ProductCode": code, "IsActive": True})
        entries = self.salesforce.get("/records/PricebookEntry").json()["records"]
        found = next((e["Id"] for e in entries if e.get("Product2Id") == product and e.get("Pricebook2Id") == book),
                     None)  # fmt: skip
        if found is not None:
            return str(found)
        return self.create("PricebookEntry", {"Pricebook2Id": book, "Product2Id": product, "UnitPrice": price,
                                              "IsActive": True})

    def sold_product(self) -> tuple[str, float]:
        """A product the ERP sells: its code and list price."""
        records = self.erp.get("/records/product.product").json()["records"]
        sold = sorted((r for r in records if r.get("default_code") and r.get("active", True)
                       and r.get("sale_ok", True)), key=lambda r: r["default_code"])  # fmt: skip
        return str(sold[0]["default_code"]), float(sold[0]["lst_price"])

    def orders_for(self, opportunities: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The ERP's live orders of these opportunities, by opportunity."""
        found = self.erp.get("/records/sale.order").json()["records"]
        wanted = {f"sf-opp:{o}": o for o in opportunities}
        return {wanted[o["origin"]]: o for o in found if o.get("origin") in wanted and o.get("state") != "cancel"}


@pytest.fixture(scope="module")
def sales(demo: Demo, sandbox_ports: tuple[int, int, int]) -> Iterator[Sales]:
    # The CA is what we are about to trust, so this one fetch cannot verify it (as the demo does).
    answer = httpx.get(f"https://127.0.0.1:{sandbox_ports[1]}/__sandbox__/ca.pem", verify=False, timeout=10)
    ca = demo.log.parent / "salesforce-ca.pem"
    ca.write_text(answer.text)
    client = Sales(sandbox_ports, str(ca))
    yield client
    client.salesforce.close()
    client.erp.close()


def _catalogue_read(ledger: Engine, code: str) -> bool:
    """Whether the ERP's product lane has read `code` (a remap to it is checked against that)."""
    with transaction(ledger) as session:
        seen = session.scalars(select(Shadow.seen).where(col(Shadow.system) == "erp",
                                                         col(Shadow.object_type) == "product")).all()
    return any(str(values.get("code") or "").upper() == code.upper() for values in seen)


def _order_ops(ledger: Engine, opportunities: Sequence[str]) -> dict[str, OutboundOp]:
    with transaction(ledger) as session:
        ops = session.scalars(select(OutboundOp).where(
            col(OutboundOp.operation) == "place", col(OutboundOp.source_id).in_(list(opportunities)))).all()
        session.expunge_all()
    return {op.source_id: op for op in ops}


def _held(ledger: Engine, opportunities: Sequence[str], cause: str) -> dict[str, OutboundOp] | None:
    """The opportunities' order rows once every one is held for `cause`, else None."""
    ops = _order_ops(ledger, opportunities)
    if len(ops) == len(opportunities) and all(o.status == "dead" and o.root_cause == cause for o in ops.values()):
        return ops
    return None


def _audit(ledger: Engine, actor: str) -> list[tuple[str, str]]:
    with transaction(ledger) as session:
        rows = session.execute(select(AuditLog.action, AuditLog.subject).where(col(AuditLog.actor) == actor)
                               .order_by(col(AuditLog.id))).all()
    return [(str(a), str(s)) for a, s in rows]


def test_an_operator_fixes_a_missing_product_group_with_one_remap_and_a_bulk_retry(
    new_page: Callable[[], Page], users: dict[Role, str], ledger: Engine, sales: Sales
) -> None:
    code, price = sales.sold_product()
    wait_for("the ERP's catalogue in the ledger", lambda: _catalogue_read(ledger, code), 120)
    custom = f"CUSTOM-{uuid.uuid4().hex[:6].upper()}"
    deals = [sales.won_deal(custom, price, f"Bundle Buyer {n} {custom}") for n in range(3)]
    cause = f"mapping:product:{custom}"
    wait_for("three orders held for the custom product", lambda: _held(ledger, deals, cause), 120)

    operator = users[Role.OPERATOR]
    page = new_page()
    sign_in(page, operator, then="/repair")
    group = page.locator(f"#group-{cause_slug(cause)}")
    expect(group.locator(".group-title")).to_have_text(f"The ERP sells no product {custom}: remap it to one it sells")
    expect(group.locator(".group-count")).to_have_text("3")
    expect(group.locator(".group-money")).to_have_text(f"{3 * 2 * price:,.0f}")
    page.locator(f"#group-open-{cause_slug(cause)}").click()
    expect(page.locator("#repair-group-title")).to_contain_text(custom)
    expect(page.locator("[id^='repair-row-']")).to_have_count(3)

    # one record first: the dry run says it would be held again, and writes nothing
    op_id = _order_ops(ledger, deals)[deals[0]].id
    page.locator(f"#open-{op_id}").click()
    expect(page.locator("#repair-plain")).to_contain_text(f"the ERP sells no product '{custom}'")
    expect(page.locator("#repair-systems")).to_contain_text("salesforce")
    expect(page.locator("#repair-trace")).to_have_attribute("href", re.compile(r"^/trace\?q="))
    page.locator("#repair-dry-run").click()
    expect(page.locator("#repair-dry")).to_contain_text("hold in erp deal")

    # the group: map the product once, retry everything it held
    expect(page.locator("#bulk-action")).to_contain_text("remap")
    page.locator("#bulk-to-code").fill(code)
    page.locator("#bulk-reason").fill(f"{custom} is sold as {code}")
    page.locator("#bulk-preview").click()
    expect(page.locator("#bulk-count")).to_have_text("3")
    page.locator("#bulk-confirm").click()
    expect(page.locator("#bulk-progress-text")).to_have_text("3 of 3", timeout=30_000)
    expect(page.get_by_text("done for 3 of 3 records")).to_be_visible()
    expect(page.locator(f"#group-{cause_slug(cause)}")).to_have_count(0)

    # and the orders appear in the ERP, each once, with the product it sells
    orders = wait_for("the three orders in the ERP", lambda: (found := sales.orders_for(deals)) and
                      len(found) == 3 and found, 120)  # fmt: skip
    assert sorted(orders) == sorted(deals)
    # the executor records each write once the ERP has answered it
    wait_for("the orders recorded as placed", lambda: all(
        op.status == "done" for op in _order_ops(ledger, deals).values()), 60)  # fmt: skip
    actions = [action for action, _ in _audit(ledger, operator)]
    assert actions.count("order.product_mapped") == 1
    assert actions.count("repair.bulk_remap") == 1
    assert actions.count("dead_letter.retry") == 3


def test_an_operator_approves_a_held_order_and_rejects_another(
    new_page: Callable[[], Page], users: dict[Role, str], ledger: Engine, sales: Sales
) -> None:
    code, price = sales.sold_product()
    wait_for("the ERP's catalogue in the ledger", lambda: _catalogue_read(ledger, code), 120)
    off_list = round(price * 1.3, 2)
    tag = uuid.uuid4().hex[:6]
    approved, rejected = (sales.won_deal(code, off_list, f"Discount Seeker {n} {tag}") for n in range(2))
    cause = f"approval_required:price:{code}"
    ops = wait_for("two orders held for their prices", lambda: _held(ledger, [approved, rejected], cause), 120)

    operator = users[Role.OPERATOR]
    page = new_page()
    sign_in(page, operator, then=f"/repair?cause={cause}")
    expect(page.locator("#repair-group-title")).to_contain_text(code)
    expect(page.locator(f"#repair-row-{ops[approved].id}")).to_be_visible()

    page.locator(f"#open-{ops[approved].id}").click()
    expect(page.locator("#repair-plain")).to_contain_text("prices differ from the ERP pricelist")
    page.locator("#repair-reason").fill("volume deal agreed with the customer")
    page.locator("#repair-approve").click()
    expect(page.get_by_text(f"Order {ops[approved].id} is approved")).to_be_visible()

    page.locator(f"#open-{ops[rejected].id}").click()
    expect(page.locator("#repair-record-title")).to_contain_text(f"#{ops[rejected].id}")
    page.locator("#repair-reason").fill("no discount without a volume commitment")
    page.locator("#repair-reject").click()
    page.locator("#repair-reject-confirm").click()
    expect(page.get_by_text(f"Order {ops[rejected].id} is rejected")).to_be_visible()
    expect(page.locator("#repair-record-status")).to_have_text("rejected")
    expect(page.locator("#repair-history")).to_contain_text("no discount without a volume commitment")

    orders = wait_for("the approved order in the ERP", lambda: sales.orders_for([approved, rejected]), 120)
    assert list(orders) == [approved]
    assert _order_ops(ledger, [rejected])[rejected].status == "rejected"
    decided = [(a, s) for a, s in _audit(ledger, operator) if a in ("order.approve", "order.reject")]
    assert decided == [("order.approve", f"outbound_op:{ops[approved].id}"),
                       ("order.reject", f"outbound_op:{ops[rejected].id}")]  # fmt: skip


def test_a_viewer_reads_the_queue_but_a_repair_sent_anyway_is_refused(
    new_page: Callable[[], Page], users: dict[Role, str], ledger: Engine, sales: Sales
) -> None:
    _, price = sales.sold_product()
    custom = f"CUSTOM-{uuid.uuid4().hex[:6].upper()}"
    deal = sales.won_deal(custom, price, f"Watched Buyer {custom}")
    cause = f"mapping:product:{custom}"
    op_id = wait_for("an order held for the custom product", lambda: _held(ledger, [deal], cause), 120)[deal].id

    page = new_page()
    sign_in(page, users[Role.VIEWER], then=f"/repair?cause={cause}")
    page.locator(f"#open-{op_id}").click()
    expect(page.locator("#repair-plain")).to_contain_text(custom)
    expect(page.locator("#bulk-preview")).to_be_disabled()
    retry = page.locator("#repair-retry")
    expect(retry).to_be_disabled()
    page.locator("#repair-dry-run").click()  # reading is a viewer's to do
    expect(page.locator("#repair-dry")).to_contain_text("hold in erp deal")
    retry.evaluate(
        """button => {
            const props = Object.keys(button).find(key => key.startsWith('__reactProps$'));
            button[props].onClick({preventDefault() {}, stopPropagation() {}});
        }"""
    )
    expect(page.get_by_text("Your role (viewer) cannot do this")).to_be_visible()
    assert _order_ops(ledger, [deal])[deal].status == "dead"
    assert [a for a in _audit(ledger, users[Role.VIEWER]) if not a[0].startswith("user.")] == []
