"""`revline demo` on the two sandboxes: HubSpot and Salesforce kept in step, people working in both.

The sandboxes run as `revline sandbox` processes on their usual ports (8101 HTTP, 8102 HTTPS, and
the ERP on 8103 with its business clock running a day a minute).
Their connections are saved in the ledger with encrypted secrets, so extra `revline worker`
processes can join. HubSpot's webhooks go to the console's receiver. The traffic acts as
people through the sandboxes' control APIs, so every change arrives the way a person's
would: marketers add contacts and companies and move lifecycle stages in HubSpot, sales
reps add accounts and contacts and edit them in Salesforce, and now and then the systems
misbehave (a locked row, a 503, a title too long for Salesforce).
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
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine

from console.presets import install_hubspot_salesforce
from sync_core.services import connections

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
    """Save both connections (secrets encrypted), install the preset, point HubSpot's webhooks at us."""
    connections.save(
        engine, "hubspot", "hubspot", {"base_url": sandboxes.hubspot_url, "index_lag_seconds": 1},
        {"token": HUBSPOT_TOKEN}, key, "demo",
    )
    connections.save(
        engine, "salesforce", "salesforce",
        {"login_url": sandboxes.salesforce_url, "ca_bundle": str(sandboxes.ca_file), "client_id": "sandbox",
         "settle_seconds": 1},
        {"client_secret": "sandbox"}, key, "demo",
    )
    # The ERP is connected, ready for the lead-to-cash flows; no lanes read or write it yet.
    connections.save(
        engine, "erp", "erp", {"url": sandboxes.erp_url, "database": "revline", "login": "admin"},
        {"api_key": "sandbox-key"}, key, "demo",
    )
    install_hubspot_salesforce(engine)
    if console_url is None:
        return
    control = f"{sandboxes.hubspot_url}/__sandbox__/webhooks"
    httpx.put(f"{control}/settings", json={"targetUrl": f"{console_url}/webhooks/hubspot", "secret": HUBSPOT_SECRET})
    for event in ("contact.creation", "contact.propertyChange", "company.creation", "company.propertyChange"):
        httpx.post(f"{control}/subscriptions", json={"eventType": event})


_FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim", "Margaret"]
_LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Hamilton"]
_WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Soylent", "Hooli"]
_TITLES = ["CFO", "Head of RevOps", "VP Sales", "Buyer", "Controller", "CTO", "Procurement Lead"]
_STAGES = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead"]
_INDUSTRIES = ["Technology", "Manufacturing", "Retail", "Finance", "Healthcare", "Energy"]


class CrmTraffic:
    """People at work in HubSpot and Salesforce, through the sandboxes' control APIs."""

    def __init__(self, sandboxes: Sandboxes, seed: int = 7, fault_every: int = 40) -> None:
        self.hubspot = httpx.Client(base_url=f"{sandboxes.hubspot_url}/__sandbox__", timeout=10)
        self.salesforce = httpx.Client(
            base_url=f"{sandboxes.salesforce_url}/__sandbox__", verify=str(sandboxes.ca_file), timeout=10
        )
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

    def systems_misbehave(self) -> None:
        """In turn: a locked row in Salesforce, a 503 from HubSpot, a title Salesforce cannot hold."""
        kind = next(self._faults) % 3
        if kind == 0:
            self.salesforce.post("/faults", json={"lock_row": {"next": 1}})
        elif kind == 1:
            self.hubspot.post("/faults", json={"error_sequence": [503]})
        else:
            n = next(self._serial)
            self._hubspot_change("contacts", {
                "email": f"long.title.{n}@example.com", "firstname": "Verbose", "lastname": f"Person {n}",
                "jobtitle": "Senior Vice President of " + "Strategic Cross-Functional Revenue Operations " * 3,
            })

    def step(self, number: int) -> None:
        if self.fault_every and number % self.fault_every == 0:
            self.systems_misbehave()
            return
        action = self.random.choice(
            [self.marketer_adds_a_lead, self.rep_adds_an_account, self.rep_edits_a_contact, self.marketer_moves_a_stage]
        )
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
