"""`revline demo` on the three sandboxes: lead to cash across HubSpot, Salesforce and the ERP.

The sandboxes run as `revline sandbox` processes on their usual ports (8101 HTTP, 8102 HTTPS, and
the ERP on 8103 with its business clock running a day a minute, so orders get delivered,
invoiced and paid, or not, while you watch). Their connections are saved in the ledger with
encrypted secrets, so extra `revline worker` processes can join. HubSpot's webhooks go to the
console's receiver. The traffic acts as people through the sandboxes' control APIs, so every
change arrives the way a person's would: marketers add contacts and qualify some; sales reps
work and convert the leads, fill in their accounts' billing data, put products on the
opportunities and win or lose them; and now and then something goes wrong the way it does in
real life: a locked row, a 503, a product the ERP does not sell, a price far from the list, a
missing VAT number, the ERP down for a while.
"""

from __future__ import annotations

import itertools
import logging
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine

from console.presets import install_lead_to_cash
from sync_core.domain.handoff import Assignment, HandoffRules
from sync_core.services import connections, lead_handoff, reconciliation

log = logging.getLogger(__name__)

HUBSPOT_TOKEN, HUBSPOT_SECRET = "sandbox-token", "sandbox-secret"


class Sandboxes:
    """The two sandbox processes, started and stopped together."""

    def __init__(
        self, hubspot_port: int = 8101, salesforce_port: int = 8102, erp_port: int = 8103, records: int = 20
    ) -> None:
        self.hubspot_url = f"http://127.0.0.1:{hubspot_port}"
        self.salesforce_url = f"https://127.0.0.1:{salesforce_port}"
        self.erp_url = f"http://127.0.0.1:{erp_port}"
        revline = str(Path(sys.executable).with_name("revline"))
        self.processes = [
            subprocess.Popen([revline, "sandbox", "hubspot", "--port", str(hubspot_port), "--records", str(records)]),
            subprocess.Popen(
                [revline, "sandbox", "salesforce", "--port", str(salesforce_port), "--records", str(records),
                 "--seed", "11"]
            ),
            # The ERP's business clock runs a day a minute: orders get delivered, invoiced and paid (or not).
            subprocess.Popen([revline, "sandbox", "erp", "--port", str(erp_port), "--pace", "1440"]),
        ]
        self.ca_file = Path(tempfile.mkdtemp(prefix="revline-demo-")) / "salesforce-ca.pem"

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(f"{self.hubspot_url}/__sandbox__", timeout=2).raise_for_status()
                httpx.get(f"{self.erp_url}/web/version", timeout=2).raise_for_status()
                # The CA is what we are about to trust, so this one fetch cannot verify it.
                answer = httpx.get(f"{self.salesforce_url}/__sandbox__/ca.pem", verify=False, timeout=2)
                answer.raise_for_status()
                self.ca_file.write_text(answer.text)
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                    raise RuntimeError("the sandboxes did not start; is something else on 8101-8103?") from None
                time.sleep(0.3)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(5)  # uvicorn waits for keep-alive connections; the demo need not
            except subprocess.TimeoutExpired:
                process.kill()


def connect(engine: Engine, sandboxes: Sandboxes, key: str, console_url: str | None) -> None:
    """Save the three connections (secrets encrypted), install the lead-to-cash preset with a round robin
    over the sales team, point HubSpot's webhooks at us."""
    connections.save(
        engine, "hubspot", "hubspot", {"base_url": sandboxes.hubspot_url, "index_lag_seconds": 1},
        {"token": HUBSPOT_TOKEN}, key, "demo",
    )
    connections.save(
        engine, "salesforce", "salesforce",
        {"login_url": sandboxes.salesforce_url, "ca_bundle": str(sandboxes.ca_file), "client_id": "sandbox",
         "settle_seconds": 1, "leads": True},
        {"client_secret": "sandbox"}, key, "demo",
    )
    connections.save(
        engine, "erp", "erp", {"url": sandboxes.erp_url, "database": "revline", "login": "admin"},
        {"api_key": "sandbox-key"}, key, "demo",
    )
    install_lead_to_cash(engine)
    # A demo is watched for minutes, not days: an order is late after five minutes.
    reconciliation.save_settings(engine, "demo", order_sla=timedelta(minutes=5))
    # The sales team uses both CRMs; new leads go to them in turn.
    owners = tuple(share_sales_team(sandboxes.hubspot_url, sandboxes.salesforce_url, str(sandboxes.ca_file)))[:3]
    if owners:
        lead_handoff.save_rules(engine, HandoffRules(assignment=Assignment(owners=owners)), "demo")
    if console_url is None:
        return
    control = f"{sandboxes.hubspot_url}/__sandbox__/webhooks"
    httpx.put(f"{control}/settings", json={"targetUrl": f"{console_url}/webhooks/hubspot", "secret": HUBSPOT_SECRET})
    for event in ("contact.creation", "contact.propertyChange", "company.creation", "company.propertyChange",
                  "deal.creation", "deal.propertyChange"):  # fmt: skip
        httpx.post(f"{control}/subscriptions", json={"eventType": event})


def share_sales_team(hubspot_url: str, salesforce_url: str, ca_file: str) -> list[str]:
    """Give Salesforce's sales people a HubSpot user too (owners are matched by email); their emails."""
    people = httpx.get(f"{salesforce_url}/__sandbox__/users", verify=ca_file).json().get("people", [])
    emails = []
    for person in people:
        first, _, last = str(person.get("name") or "").partition(" ")
        answer = httpx.post(f"{hubspot_url}/__sandbox__/owners",
                            json={"email": person["email"], "firstName": first, "lastName": last})  # fmt: skip
        answer.raise_for_status()
        emails.append(str(person["email"]).lower())
    return emails


_FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim", "Margaret"]
_LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Hamilton"]
_WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Soylent", "Hooli"]
_TITLES = ["CFO", "Head of RevOps", "VP Sales", "Buyer", "Controller", "CTO", "Procurement Lead"]
_STAGES = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead"]
# (the rest: people, accounts, products and deals the traffic picks from)
_INDUSTRIES = ["Technology", "Manufacturing", "Retail", "Finance", "Healthcare", "Energy"]
_DEALS = ["Rollout", "Expansion", "Pilot", "Renewal", "Upgrade"]
_COUNTRIES = [("Germany", "DE"), ("France", "FR"), ("Netherlands", "NL"), ("United States", "")]


class CrmTraffic:
    """People at work in HubSpot and Salesforce, through the sandboxes' control APIs."""

    def __init__(self, sandboxes: Sandboxes, seed: int = 7, fault_every: int = 40) -> None:
        self.hubspot = httpx.Client(base_url=f"{sandboxes.hubspot_url}/__sandbox__", timeout=10)
        self.hubspot_api = httpx.Client(  # what a person's delete in HubSpot's UI amounts to
            base_url=sandboxes.hubspot_url, headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"}, timeout=10
        )
        self.salesforce = httpx.Client(
            base_url=f"{sandboxes.salesforce_url}/__sandbox__", verify=str(sandboxes.ca_file), timeout=10
        )
        self.erp = httpx.Client(base_url=f"{sandboxes.erp_url}/__sandbox__", timeout=10)
        self.random = random.Random(seed)
        self.fault_every = fault_every
        self._serial = itertools.count(1)
        self._faults = itertools.count()
        self._stop = threading.Event()
        self._hubspot_contacts: list[str] = []  # ids of the contacts this traffic made, to edit later

    # -- people -------------------------------------------------------------------------------------

    def _hubspot_change(self, object_type: str, properties: dict[str, Any], record_id: str | None = None) -> Any:
        change: dict[str, Any] = {"objectType": object_type, "properties": properties}
        if record_id is not None:
            change["id"] = record_id
        return self.hubspot.post("/users/changes", json=change).json()

    def _salesforce_change(self, sobject: str, fields: dict[str, Any], record_id: str | None = None) -> Any:
        if record_id is None:
            return self.salesforce.post(f"/records/{sobject}", json={"fields": fields}).json()
        return self.salesforce.patch(f"/records/{sobject}/{record_id}", json={"fields": fields}).json()

    def _some(self, client: httpx.Client, path: str, key: str) -> list[dict[str, Any]]:
        found = client.get(path).json()
        records: list[dict[str, Any]] = found.get(key, []) if isinstance(found, dict) else []
        return records

    def marketer_adds_a_lead(self) -> None:
        n = next(self._serial)
        first, last = self.random.choice(_FIRST), self.random.choice(_LAST)
        created = self._hubspot_change("contacts", {
            "email": f"{first}.{last}.{n}@example.com".lower(), "firstname": first, "lastname": last,
            "jobtitle": self.random.choice(_TITLES), "lifecyclestage": self.random.choice(_STAGES[:2]),
        })
        self._hubspot_contacts.extend(str(r["id"]) for r in created.get("results", []) if "id" in r)

    def rep_adds_an_account(self) -> None:
        n = next(self._serial)
        name = f"{self.random.choice(_WORDS)} {n}"
        self._salesforce_change("Account", {
            "Name": name, "Website": f"https://www.{name.lower().replace(' ', '-')}.example",
            "Industry": self.random.choice(_INDUSTRIES), "BillingCity": "Lyon",
        })

    def rep_edits_a_contact(self) -> None:
        contacts = self._some(self.salesforce, "/records/Contact", "records")
        if contacts:
            contact = self.random.choice(contacts)
            self._salesforce_change("Contact", {"Title": self.random.choice(_TITLES)}, contact["Id"])

    def marketer_moves_a_stage(self) -> None:
        if self._hubspot_contacts:
            contact = self.random.choice(self._hubspot_contacts)
            self._hubspot_change("contacts", {"lifecyclestage": self.random.choice(_STAGES)}, contact)

    # -- lead to cash ---------------------------------------------------------------------------------

    def marketer_qualifies_a_contact(self) -> None:
        if self._hubspot_contacts:
            contact = self.random.choice(self._hubspot_contacts)
            self._hubspot_change("contacts", {"lifecyclestage": "marketingqualifiedlead"}, contact)

    def _leads(self, status: str) -> list[dict[str, Any]]:
        leads = self._some(self.salesforce, "/records/Lead", "records")
        return [r for r in leads if r.get("Status") == status and not r.get("IsConverted")]

    def rep_works_a_lead(self) -> None:
        fresh = self._leads("Open - Not Contacted")
        if fresh:
            self._salesforce_change("Lead", {"Status": "Working - Contacted"}, self.random.choice(fresh)["Id"])

    def rep_converts_a_lead(self, without_vat: bool = False) -> None:
        """Convert a lead worked on, with an opportunity, and complete its new account's billing data."""
        worked = self._leads("Working - Contacted")
        if not worked:
            return
        lead = self.random.choice(worked)
        name = f"{lead.get('Company') or lead.get('LastName')} - {self.random.choice(_DEALS)}"
        done = self.salesforce.post(f"/leads/{lead['Id']}/convert", json={"opportunity": {"Name": name}}).json()
        if isinstance(done, dict) and done.get("account"):
            self._complete_billing(str(done["account"]), without_vat)

    def _entries(self) -> list[dict[str, Any]]:
        """Standard price book entries of the products the ERP publishes (their codes start SKU-)."""
        products = {r["Id"]: r for r in self._some(self.salesforce, "/records/Product2", "records")}
        entries = self._some(self.salesforce, "/records/PricebookEntry", "records")
        codes = {product_id: str(r.get("ProductCode") or "") for product_id, r in products.items()}
        return [e for e in entries if codes.get(e.get("Product2Id"), "").startswith("SKU-")]

    def _open_opportunities(self, with_lines: bool) -> list[dict[str, Any]]:
        lines = {r["OpportunityId"] for r in self._some(self.salesforce, "/records/OpportunityLineItem", "records")}
        found = self._some(self.salesforce, "/records/Opportunity", "records")
        return [o for o in found if not o.get("IsClosed") and (o["Id"] in lines) == with_lines]

    def rep_adds_products(self, price_factor: float = 1.0, unknown_product: bool = False) -> None:
        bare, entries = self._open_opportunities(with_lines=False), self._entries()
        if not bare or not entries:
            return
        opportunity = self.random.choice(bare)
        entry = self.random.choice(entries)
        if unknown_product:  # a product sales sells that the ERP does not: the order waits for a remap
            n = next(self._serial)
            product = self._salesforce_change("Product2", {"Name": f"Custom Bundle {n}", "ProductCode": f"CUSTOM-{n}",
                                                           "IsActive": True})["id"]  # fmt: skip
            fields = {"Pricebook2Id": entry["Pricebook2Id"], "Product2Id": product, "UnitPrice": 990, "IsActive": True}
            entry = self._salesforce_change("PricebookEntry", fields)["record"]
        self._salesforce_change("OpportunityLineItem", {
            "OpportunityId": opportunity["Id"], "PricebookEntryId": entry["Id"], "Quantity": self.random.randint(1, 5),
            "UnitPrice": round(float(entry["UnitPrice"]) * price_factor, 2),
        })  # fmt: skip

    def _complete_billing(self, account: str, without_vat: bool = False) -> None:
        country, vat = self.random.choice(_COUNTRIES)
        billing = {"BillingStreet": f"{self.random.randint(1, 99)} Market Street", "BillingCity": "Hamburg",
                   "BillingPostalCode": f"{self.random.randint(10000, 99999)}", "BillingCountry": country}  # fmt: skip
        if vat and not without_vat:
            billing["VAT_Number__c"] = f"{vat}{self.random.randint(100000000, 999999999)}"
        self._salesforce_change("Account", billing, account)

    def rep_closes_a_deal(self) -> None:
        """Win (three times in four) or lose an opportunity with products; a won one's account gets its
        billing data first, as the order desk asks."""
        ready = self._open_opportunities(with_lines=True)
        if ready:
            opportunity = self.random.choice(ready)
            won = self.random.random() < 0.75
            if won and opportunity.get("AccountId"):
                self._complete_billing(str(opportunity["AccountId"]))
            self._salesforce_change("Opportunity", {"StageName": "Closed Won" if won else "Closed Lost"},
                                    opportunity["Id"])  # fmt: skip

    def systems_misbehave(self) -> None:
        """In turn: a locked row in Salesforce, a 503 from HubSpot, a title Salesforce cannot hold, a product the
        ERP does not sell, a price far from the list, an account without its VAT number, the ERP down a while,
        a contact deleted in HubSpot (deletions do not sync: reconciliation finds the orphan)."""
        kind = next(self._faults) % 8
        if kind == 0:
            self.salesforce.post("/faults", json={"lock_row": {"next": 1}})
        elif kind == 1:
            self.hubspot.post("/faults", json={"error_sequence": [503]})
        elif kind == 2:
            n = next(self._serial)
            self._hubspot_change("contacts", {
                "email": f"long.title.{n}@example.com", "firstname": "Verbose", "lastname": f"Person {n}",
                "jobtitle": "Senior Vice President of " + "Strategic Cross-Functional Revenue Operations " * 3,
            })
        elif kind == 3:
            self.rep_adds_products(unknown_product=True)
        elif kind == 4:
            self.rep_adds_products(price_factor=1.3)
        elif kind == 5:  # an account without its VAT number, won at once: the order waits for it
            ready = self._open_opportunities(with_lines=True)
            if ready and ready[0].get("AccountId"):
                self._complete_billing(str(ready[0]["AccountId"]), without_vat=True)
                self._salesforce_change("Opportunity", {"StageName": "Closed Won"}, ready[0]["Id"])
        elif kind == 6:
            self.erp.post("/faults", json={"server_errors": {"sequence": [503] * 6}})
        elif self._hubspot_contacts:
            gone = self._hubspot_contacts.pop(self.random.randrange(len(self._hubspot_contacts)))
            self.hubspot_api.delete(f"/crm/v3/objects/contacts/{gone}")

    def step(self, number: int) -> None:
        if self.fault_every and number % self.fault_every == 0:
            self.systems_misbehave()
            return
        action = self.random.choices(
            [self.marketer_adds_a_lead, self.marketer_qualifies_a_contact, self.rep_works_a_lead,
             self.rep_converts_a_lead, self.rep_adds_products, self.rep_closes_a_deal, self.rep_adds_an_account,
             self.rep_edits_a_contact, self.marketer_moves_a_stage],
            weights=[4, 3, 3, 2, 3, 2, 1, 1, 1],
        )[0]  # fmt: skip
        action()

    def run(self, interval: float) -> None:
        for number in itertools.count(1):
            if self._stop.wait(interval):
                return
            try:
                self.step(number)
            except httpx.HTTPError:
                log.exception("a demo change failed; carrying on")

    def start(self, interval: float) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(interval,), daemon=True, name="crm-traffic")
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
