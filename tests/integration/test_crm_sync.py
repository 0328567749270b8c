"""HubSpot and Salesforce sandboxes kept in step by the engine end to end, on SQLite and PostgreSQL.

Both sandboxes are served for real (HubSpot over HTTP, Salesforce over HTTPS) and spoken to by the
connectors through their vendor clients; people's edits go through the sandboxes' control APIs, so
they look to the connectors like edits made in the vendors' own UIs. What each system holds is read
from the sandboxes' state, what Revline did from the ledger.
"""

from __future__ import annotations

import ssl
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import col

from connectors import build
from connectors.hubspot.sandbox import create_app as hubspot_app
from connectors.hubspot.sandbox.state import Sandbox as HubSpotSandbox
from connectors.hubspot.sandbox.store import INTEGRATION, Change
from connectors.hubspot.sandbox.testing import serve_in_thread
from connectors.salesforce.sandbox import create_app as salesforce_app
from connectors.salesforce.sandbox.server import RunningSandbox, start
from console.api import routes
from console.presets import install_hubspot_salesforce
from sync_core.persistence import lanes
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import EntityLink, InboxEvent, OutboundOp
from sync_core.retry import RetryPolicy
from sync_core.services import ledger_engine
from sync_core.worker import Worker, drain

HUBSPOT_SEED, SALESFORCE_SEED = 7, 11
SEEDED = 4  # companies per sandbox, two contacts each
APP_SECRET = "sandbox-secret"


def _domain(value: str | None) -> str | None:
    """`https://www.Acme.example/` -> `acme.example`: how a person compares two websites."""
    if not value:
        return None
    text = value.strip().lower().removeprefix("https://").removeprefix("http://").removeprefix("www.")
    return text.split("/", 1)[0] or None


def _trust(crm: Crm) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(crm.salesforce.ca_file))


def _email(value: str | None) -> str | None:
    return value.strip().lower() if value else None


@dataclass
class Crm:
    """Two seeded sandboxes, the preset policy on a fresh ledger, and a worker between them."""

    engine: Engine
    worker: Worker
    hubspot: HubSpotSandbox
    hubspot_url: str
    salesforce: RunningSandbox
    hubspot_changes: list[Change] = field(default_factory=list)  # every change HubSpot's store made

    # -- people at work in each system ---------------------------------------------------------

    def hubspot_edit(self, object_type: str, properties: dict[str, Any], record_id: str | None = None) -> str:
        """Create (no id) or update a HubSpot record as a person in HubSpot's UI; returns its id."""
        change: dict[str, Any] = {"objectType": object_type, "properties": properties}
        if record_id is not None:
            change["id"] = record_id
        answer = httpx.post(f"{self.hubspot_url}/__sandbox__/users/changes", json=change).json()
        (result,) = answer["results"]
        assert result["status"] in ("created", "updated"), result
        return str(result["id"])

    def salesforce_edit(self, sobject: str, fields: dict[str, Any], record_id: str | None = None) -> str:
        """Create (no id) or update a Salesforce record as a sales person; returns its Id."""
        base = f"{self.salesforce.url}/__sandbox__/records/{sobject}"
        with httpx.Client(verify=_trust(self)) as http:
            if record_id is None:
                response = http.post(base, json={"fields": fields})
            else:
                response = http.patch(f"{base}/{record_id}", json={"fields": fields})
        assert response.status_code in (200, 201), response.text
        return str(response.json()["id"])

    # -- what each system holds ----------------------------------------------------------------

    def hubspot_records(self, object_type: str) -> dict[str, dict[str, str]]:
        return {r.id: dict(r.properties) for r in self.hubspot.store.snapshot(object_type)}

    def salesforce_records(self, sobject: str) -> dict[str, dict[str, Any]]:
        return {r.id: dict(r.values) for r in self.salesforce.state.store.rows(sobject)}

    def hubspot_writes(self, property_name: str) -> list[Change]:
        """Property changes Revline's token made in HubSpot."""
        return [c for c in self.hubspot_changes if c.source == INTEGRATION and c.property_name == property_name]

    # -- what Revline knows --------------------------------------------------------------------

    def canonical_id(self, system: str, object_type: str, external_id: str) -> str:
        with transaction(self.engine) as session:
            found = session.scalar(
                select(col(EntityLink.canonical_id)).where(
                    col(EntityLink.system) == system,
                    col(EntityLink.object_type) == object_type,
                    col(EntityLink.external_id) == external_id,
                )
            )
        assert found is not None, f"{system} {object_type} {external_id} is not linked"
        return str(found)

    def external_id(self, system: str, object_type: str, canonical_id: str) -> str:
        with transaction(self.engine) as session:
            found = session.scalar(
                select(col(EntityLink.external_id)).where(
                    col(EntityLink.system) == system,
                    col(EntityLink.object_type) == object_type,
                    col(EntityLink.canonical_id) == canonical_id,
                )
            )
        assert found is not None, f"canonical {object_type} {canonical_id} has no {system} record"
        return str(found)

    def twin(self, system: str, object_type: str, external_id: str) -> str:
        """The other system's id of the record `external_id` in `system`."""
        other = "salesforce" if system == "hubspot" else "hubspot"
        return self.external_id(other, object_type, self.canonical_id(system, object_type, external_id))

    def ops(self, *where: Any) -> list[OutboundOp]:
        with transaction(self.engine) as session:
            rows = session.scalars(select(OutboundOp).where(*where).order_by(col(OutboundOp.id))).all()
            session.expunge_all()
            return list(rows)

    # -- syncing -------------------------------------------------------------------------------

    def sync(self, max_rounds: int = 10) -> int:
        """Tick and drain until a round plans nothing and nothing is left to send; returns rounds run.

        The last round starts after every Salesforce change (people's and Revline's own) is readable,
        so it proves that the echoes of Revline's writes plan nothing more.
        """
        for rounds in range(1, max_rounds + 1):
            self._wait_for_salesforce()
            started = time.time()
            planned = self._count(OutboundOp)
            with transaction(self.engine) as session:
                lanes.mark_all_due(session)
            drain(self.worker)
            settled = self._salesforce_readable_at() <= started
            if settled and self._count(OutboundOp) == planned and not self._open():
                return rounds
            time.sleep(0.05)  # retries of writes waiting for a referenced record are due shortly
        raise AssertionError(f"the two systems did not settle in {max_rounds} rounds")

    def _salesforce_readable_at(self) -> float:
        """When the latest Salesforce change can be read: SystemModstamp has whole seconds, and the
        connector reads only seconds that are over (a second still running may gain records)."""
        store = self.salesforce.state.store
        sobjects = ("Account", "Contact", "Opportunity")
        stamps = [r.values["SystemModstamp"] for t in sobjects for r in store.rows(t, True)]
        latest: datetime = max(stamps)
        return latest.timestamp() + 1

    def _wait_for_salesforce(self) -> None:
        wait = self._salesforce_readable_at() - time.time()
        if wait > 0:
            time.sleep(wait + 0.01)

    def _count(self, table: Any, *where: Any) -> int:
        with transaction(self.engine) as session:
            return int(session.scalar(select(func.count()).select_from(table).where(*where)) or 0)

    def _open(self) -> bool:
        return bool(
            self._count(OutboundOp, col(OutboundOp.status).in_(["pending", "in_flight"]))
            or self._count(InboxEvent, col(InboxEvent.processed_at).is_(None))
        )


def _hubspot_faults(hubspot_url: str, **faults: Any) -> None:
    """Replace the HubSpot sandbox's fault profile (search unthrottled, plus `faults`)."""
    response = httpx.post(f"{hubspot_url}/__sandbox__/faults", json={"search_per_second": 0, **faults})
    assert response.status_code == 200, response.text


@pytest.fixture
def crm(ledger_url: str) -> Iterator[Crm]:
    engine = ledger_engine(ledger_url)
    install_hubspot_salesforce(engine)
    app = hubspot_app(seed=HUBSPOT_SEED, records=SEEDED)
    hubspot: HubSpotSandbox = app.state.sandbox
    salesforce = start(salesforce_app(seed=SALESFORCE_SEED, records=SEEDED))
    # The sales team works in both CRMs: each Salesforce user has a HubSpot owner with the same email.
    for user in salesforce.state.users.people:
        record = salesforce.state.store.get(user)
        assert record is not None
        hubspot.store.owners.add(str(record.values["Email"]), str(record.values["FirstName"]),
                                 str(record.values["LastName"]))  # fmt: skip
    try:
        with serve_in_thread(app) as hubspot_url:
            # Search pacing and HubSpot's 5 searches a second are the connector tests' business; here they
            # would only stretch every idle round to a quarter of a second.
            _hubspot_faults(hubspot_url)
            connectors = build(
                {
                    "hubspot": {
                        "kind": "hubspot",
                        "base_url": hubspot_url,
                        "token": "sandbox-token",
                        "index_lag_seconds": 0,
                        "search_per_second": 0,
                    },
                    "salesforce": {
                        "kind": "salesforce",
                        "login_url": salesforce.url,
                        "client_id": "sandbox",
                        "client_secret": "sandbox",
                        "ca_bundle": str(salesforce.ca_file),
                        "settle_seconds": 0,
                    },
                }
            )
            # Writes waiting for a record they point at are retried at once, not seconds later.
            worker = Worker(engine, connectors, retry=RetryPolicy(base_seconds=0.02, factor=1.0, jitter=0.0))
            setup = Crm(engine, worker, hubspot, hubspot_url, salesforce)
            hubspot.store.subscribe(setup.hubspot_changes.extend)
            try:
                yield setup
            finally:
                hubspot.webhooks.stop()
                for connector in connectors.values():
                    close = getattr(connector, "close", None)
                    if close is not None:
                        close()  # idle keep-alive TLS connections would hold the sandbox's shutdown
    finally:
        salesforce.stop()


@dataclass(frozen=True)
class Pair:
    """One record entered by hand in both systems before Revline was connected."""

    object_type: str
    hubspot_id: str
    salesforce_id: str


def _enter_overlaps(crm: Crm) -> dict[str, Pair]:
    """The same companies and people typed into both systems, each side in its own style."""
    northwind_hs = crm.hubspot_edit("companies", {"name": "Northwind Traders", "domain": "northwind.example"})
    contoso_hs = crm.hubspot_edit("companies", {"name": "Contoso", "domain": "contoso.example"})
    ada_hs = crm.hubspot_edit(
        "contacts",
        {
            "email": "  Ada.Lovelace@Northwind.example ",
            "firstname": "Ada",
            "lastname": "Lovelace",
            "lifecyclestage": "lead",
            "associatedcompanyid": northwind_hs,
        },
    )
    grace_hs = crm.hubspot_edit(
        "contacts",
        {
            "email": "grace.hopper@contoso.example",
            "firstname": "Grace",
            "lastname": "Hopper",
            "associatedcompanyid": contoso_hs,
        },
    )
    northwind_sf = crm.salesforce_edit(
        "Account", {"Name": "Northwind Traders Inc.", "Website": "https://www.northwind.example", "Industry": "Retail"}
    )
    contoso_sf = crm.salesforce_edit("Account", {"Name": "Contoso Ltd", "Website": "CONTOSO.example"})
    ada_sf = crm.salesforce_edit(
        "Contact",
        {
            "FirstName": "Ada",
            "LastName": "Lovelace",
            "Email": "ADA.LOVELACE@northwind.EXAMPLE",
            "AccountId": northwind_sf,
        },
    )
    grace_sf = crm.salesforce_edit(
        "Contact",
        {"FirstName": "Grace", "LastName": "Hopper", "Email": "Grace.Hopper@Contoso.Example", "AccountId": contoso_sf},
    )
    return {
        "northwind": Pair("company", northwind_hs, northwind_sf),
        "contoso": Pair("company", contoso_hs, contoso_sf),
        "ada": Pair("contact", ada_hs, ada_sf),
        "grace": Pair("contact", grace_hs, grace_sf),
    }


def test_initial_sync_matches_overlapping_records_instead_of_duplicating(crm: Crm) -> None:
    hubspot_before = {"companies": crm.hubspot_records("companies"), "contacts": crm.hubspot_records("contacts")}
    salesforce_before = {"Account": crm.salesforce_records("Account"), "Contact": crm.salesforce_records("Contact")}
    pairs = _enter_overlaps(crm)
    crm.sync()

    # every overlapping pair is one canonical record, linked once in each system
    for name, pair in pairs.items():
        canonical = crm.canonical_id("hubspot", pair.object_type, pair.hubspot_id)
        assert crm.canonical_id("salesforce", pair.object_type, pair.salesforce_id) == canonical, name
    with transaction(crm.engine) as session:
        links = session.execute(
            select(col(EntityLink.object_type), col(EntityLink.canonical_id), col(EntityLink.system))
        ).all()
    twins = Counter((object_type, canonical) for object_type, canonical, _ in links)
    assert set(twins.values()) == {2}  # one HubSpot and one Salesforce record per canonical record
    assert {system for _, _, system in links} == {"hubspot", "salesforce"}

    # each system holds every record once: seeded on either side, plus the overlaps counted once
    companies, accounts = crm.hubspot_records("companies"), crm.salesforce_records("Account")
    contacts, sf_contacts = crm.hubspot_records("contacts"), crm.salesforce_records("Contact")
    expected_companies = len(hubspot_before["companies"]) + len(salesforce_before["Account"]) + 2
    expected_contacts = len(hubspot_before["contacts"]) + len(salesforce_before["Contact"]) + 2
    assert len(companies) == len(accounts) == expected_companies
    assert len(contacts) == len(sf_contacts) == expected_contacts
    assert Counter(object_type for object_type, _ in twins) == {
        "company": expected_companies,
        "contact": expected_contacts,
    }
    hubspot_domains = Counter(_domain(c.get("domain")) for c in companies.values())
    salesforce_domains = Counter(_domain(a.get("Website")) for a in accounts.values())
    assert hubspot_domains == salesforce_domains
    assert set(hubspot_domains.values()) == {1}
    hubspot_emails = Counter(_email(c.get("email")) for c in contacts.values())
    salesforce_emails = Counter(_email(c.get("Email")) for c in sf_contacts.values())
    assert hubspot_emails == salesforce_emails
    assert set(hubspot_emails.values()) == {1}
    assert None not in hubspot_emails

    # the twins agree on who works where: a contact's company is its account's twin
    for hubspot_id, contact in contacts.items():
        twin = sf_contacts[crm.twin("hubspot", "contact", hubspot_id)]
        assert _email(twin["Email"]) == _email(contact["email"])
        company = contact.get("associatedcompanyid")
        account = twin.get("AccountId")
        assert (company is None) == (account is None), contact["email"]
        if company is not None:
            assert crm.twin("hubspot", "company", company) == account, contact["email"]

    # an email spelled differently is the same email: Salesforce's spelling is left alone ...
    assert sf_contacts[pairs["ada"].salesforce_id]["Email"] == "ADA.LOVELACE@northwind.EXAMPLE"
    # ... while HubSpot owns the domain, so Salesforce's Website now reads as HubSpot spells it
    assert accounts[pairs["northwind"].salesforce_id]["Website"] == "northwind.example"
    assert not crm.ops(col(OutboundOp.status) == "dead")


def test_initial_sync_writes_each_systems_ids_back(crm: Crm) -> None:
    pairs = _enter_overlaps(crm)
    crm.sync()
    # what works today: a record read in Salesforce carries its Salesforce Id in HubSpot
    contacts = crm.hubspot_records("contacts")
    for pair in (pairs["ada"], pairs["grace"]):
        assert contacts[pair.hubspot_id].get("salesforce_id") == pair.salesforce_id
    # every record carries its twin's id: HubSpot's in HubSpot_Id__c, Salesforce's in salesforce_id
    for object_type, sobject, name in (("company", "Account", "companies"), ("contact", "Contact", "contacts")):
        in_salesforce = {i: v.get("HubSpot_Id__c") for i, v in crm.salesforce_records(sobject).items()}
        in_hubspot = {i: p.get("salesforce_id") for i, p in crm.hubspot_records(name).items()}
        assert in_salesforce == {i: crm.twin("salesforce", object_type, i) for i in in_salesforce}, sobject
        assert in_hubspot == {i: crm.twin("hubspot", object_type, i) for i in in_hubspot}, name


def _api_calls(crm: Crm) -> dict[str, Counter[str]]:
    """Each sandbox's request log, counted per endpoint."""
    hubspot = httpx.get(f"{crm.hubspot_url}/__sandbox__/requests", params={"limit": 0}).json()
    with httpx.Client(verify=_trust(crm)) as http:
        salesforce = http.get(f"{crm.salesforce.url}/__sandbox__/requests", params={"limit": 0}).json()
    return {"hubspot": Counter(hubspot["byEndpoint"]), "salesforce": Counter(salesforce["counts"])}


def test_created_records_get_their_new_ids_back_without_being_read_again(crm: Crm) -> None:
    crm.sync()  # the seeded records first
    # HubSpot -> Salesforce: the Salesforce Ids come back from the write results, not from reading Salesforce
    company = crm.hubspot_edit("companies", {"name": "Babbage Engines", "domain": "babbage.example"})
    contact = crm.hubspot_edit(
        "contacts", {"email": "charles@babbage.example", "lastname": "Babbage", "associatedcompanyid": company}
    )
    before = _api_calls(crm)
    crm.sync()
    after = _api_calls(crm)
    assert crm.hubspot_records("companies")[company]["salesforce_id"] == crm.twin("hubspot", "company", company)
    assert crm.hubspot_records("contacts")[contact]["salesforce_id"] == crm.twin("hubspot", "contact", contact)
    assert after["salesforce"]["query"] - before["salesforce"]["query"] == 0  # no read by Id
    for name in ("companies", "contacts"):  # one write-back per object, in one batch call
        update = f"POST /crm/v3/objects/{name}/batch/update"
        assert after["hubspot"][update] - before["hubspot"][update] == 1, name

    # Salesforce -> HubSpot: the HubSpot ids likewise; what HubSpot itself fills in on a new contact (the
    # fields it owns) comes with the change feed, which returns Revline's writes anyway
    account = crm.salesforce_edit("Account", {"Name": "Difference Ltd", "Website": "difference.example"})
    person = crm.salesforce_edit(
        "Contact", {"LastName": "Lovelace", "Email": "ada@difference.example", "AccountId": account}
    )
    before = _api_calls(crm)
    crm.sync()
    after = _api_calls(crm)
    assert crm.salesforce_records("Account")[account]["HubSpot_Id__c"] == crm.twin("salesforce", "company", account)
    assert crm.salesforce_records("Contact")[person]["HubSpot_Id__c"] == crm.twin("salesforce", "contact", person)
    reads = [e for e in after["hubspot"] if e.endswith("/batch/read")]
    assert sum(after["hubspot"][e] - before["hubspot"][e] for e in reads) == 0  # no read by id


def test_changes_on_both_sides_converge_under_the_policy(crm: Crm) -> None:
    pairs = _enter_overlaps(crm)
    crm.sync()
    ada, grace = pairs["ada"], pairs["grace"]
    northwind, contoso = pairs["northwind"], pairs["contoso"]
    assert crm.salesforce_records("Contact")[ada.salesforce_id]["Lifecycle_Stage__c"] == "Lead"

    # people at work: marketing edits in HubSpot, sales in Salesforce, on different records and fields
    crm.hubspot_edit("contacts", {"jobtitle": "Head of Analytical Engines"}, ada.hubspot_id)
    crm.salesforce_edit("Contact", {"Phone": "+1 415 555 0199"}, grace.salesforce_id)
    crm.hubspot_edit("companies", {"industry": "BANKING"}, northwind.hubspot_id)  # Salesforce's field
    crm.hubspot_edit("companies", {"industry": "COMPUTER_SOFTWARE"}, contoso.hubspot_id)  # ... left blank there
    crm.salesforce_edit("Contact", {"Lifecycle_Stage__c": "Customer"}, ada.salesforce_id)  # HubSpot's field
    crm.salesforce_edit("Contact", {"AccountId": northwind.salesforce_id}, grace.salesforce_id)  # she moved
    crm.sync()

    contacts, sf_contacts = crm.hubspot_records("contacts"), crm.salesforce_records("Contact")
    # two-way fields travel both ways
    assert sf_contacts[ada.salesforce_id]["Title"] == "Head of Analytical Engines"
    assert contacts[grace.hubspot_id]["phone"] == "+1 415 555 0199"
    # Salesforce owns industry while it has one: HubSpot's edit is put back to Salesforce's value
    assert crm.salesforce_records("Account")[northwind.salesforce_id]["Industry"] == "Retail"
    assert crm.hubspot_records("companies")[northwind.hubspot_id]["industry"] == "RETAIL"
    assert crm.salesforce_records("Account")[contoso.salesforce_id]["Industry"] == "Technology"  # filled in
    # HubSpot owns the lifecycle stage: Salesforce's edit is put back, and Revline never writes it to HubSpot
    assert sf_contacts[ada.salesforce_id]["Lifecycle_Stage__c"] == "Lead"
    assert contacts[ada.hubspot_id]["lifecyclestage"] == "lead"
    assert crm.hubspot_writes("lifecyclestage") == []
    assert not [op for op in crm.ops(col(OutboundOp.target_system) == "hubspot") if "lifecycle_stage" in op.payload]
    # the account follows Salesforce, translated to HubSpot's own company id, and HubSpot associates them
    assert contacts[grace.hubspot_id]["associatedcompanyid"] == northwind.hubspot_id
    assert northwind.hubspot_id in crm.hubspot.store.associations("contacts", grace.hubspot_id, "companies")
    assert not crm.ops(col(OutboundOp.status) == "dead")


@pytest.fixture
def receiver(crm: Crm, ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The console's webhook receiver served for real, and HubSpot's webhooks pointed at it."""
    monkeypatch.setenv("REVLINE_DATABASE_URL", ledger_url)
    monkeypatch.setenv("REVLINE_HUBSPOT_APP_SECRET", APP_SECRET)
    with serve_in_thread(routes()) as console_url:
        target = f"{console_url}/webhooks/hubspot"  # the exact URI HubSpot signs
        # Events wait for a flush, then go out together: one batch for the reorder fault to shuffle.
        settings = {"targetUrl": target, "batchWindowMs": 60_000}
        response = httpx.put(f"{crm.hubspot_url}/__sandbox__/webhooks/settings", json=settings)
        assert response.status_code == 200, response.text
        yield target


def test_duplicated_and_reordered_webhooks_have_one_effect_each_and_never_go_backwards(crm: Crm, receiver: str) -> None:
    pairs = _enter_overlaps(crm)
    crm.sync()
    ada = pairs["ada"]
    canonical = crm.canonical_id("hubspot", "contact", ada.hubspot_id)
    subscribed = httpx.post(
        f"{crm.hubspot_url}/__sandbox__/webhooks/subscriptions",
        json={"eventType": "contact.propertyChange", "propertyName": "jobtitle"},
    )
    assert subscribed.status_code == 201, subscribed.text
    _hubspot_faults(crm.hubspot_url, webhook_duplicate_rate=1.0, webhook_reorder=True, seed=4)
    ops_before = len(crm.ops(col(OutboundOp.target_system) == "salesforce"))
    httpx.delete(f"{crm.salesforce.url}/__sandbox__/requests", verify=_trust(crm))
    httpx.delete(f"{crm.hubspot_url}/__sandbox__/requests")

    titles = ["Analyst", "Senior Analyst", "Lead Analyst", "Principal Analyst", "Chief Analyst"]
    seen_in_salesforce: list[str] = []
    for batch in (titles[:3], titles[3:]):
        for title in batch:
            crm.hubspot_edit("contacts", {"jobtitle": title}, ada.hubspot_id)
            time.sleep(0.003)  # HubSpot stamps milliseconds: each edit its own occurrence
        flushed = httpx.post(f"{crm.hubspot_url}/__sandbox__/webhooks/flush", json={"timeout": 10}, timeout=15)
        assert flushed.status_code == 200, flushed.text
        crm.sync()
        seen_in_salesforce.append(crm.salesforce_records("Contact")[ada.salesforce_id]["Title"])

    deliveries = flushed.json()
    assert deliveries["failed"] == 0
    assert deliveries["delivered"] == 2 * len(titles)  # every event arrived twice
    # the inbox kept each change once, and the worker consumed every one
    with transaction(crm.engine) as session:
        inbox = session.execute(
            select(col(InboxEvent.dedupe_key), col(InboxEvent.processed_at))
            .where(col(InboxEvent.system) == "hubspot", col(InboxEvent.external_id) == ada.hubspot_id)
            .order_by(col(InboxEvent.id))
        ).all()
    assert len(inbox) == len(titles)
    assert all(processed is not None for _, processed in inbox)
    occurred = [int(key.rsplit(":", 1)[1]) for key, _ in inbox]
    assert occurred != sorted(occurred)  # and they did arrive out of order
    # read through the inbox (batch read by id), not only found again by polling
    assert (
        httpx.get(f"{crm.hubspot_url}/__sandbox__/requests")
        .json()["byEndpoint"]
        .get("POST /crm/v3/objects/contacts/batch/read", 0)
        >= 2
    )

    # Salesforce ends on the latest title and never went back to an older one
    assert seen_in_salesforce == [titles[2], titles[-1]]
    # at most one write per distinct change, each for this contact
    writes = crm.ops(col(OutboundOp.target_system) == "salesforce")[ops_before:]
    assert 1 <= len(writes) <= len(titles)
    assert {op.canonical_id for op in writes} == {canonical}
    assert all(op.status == "done" for op in writes)
    assert 1 <= _salesforce_write_calls(crm) <= len(writes)


def _salesforce_write_calls(crm: Crm, kind: str = "") -> int:
    """Write requests Salesforce served since its log was last cleared (collections and bulk jobs).

    `kind` narrows them to one operation (`upsert` creates what Revline has not linked yet).
    """
    counts = httpx.get(f"{crm.salesforce.url}/__sandbox__/requests", verify=_trust(crm)).json()["counts"]
    return sum(n for endpoint, n in counts.items() if endpoint.startswith(("composite", "bulk")) and kind in endpoint)


def test_a_partial_batch_failure_dead_letters_only_the_failing_records(crm: Crm) -> None:
    pairs = _enter_overlaps(crm)
    crm.sync()
    httpx.delete(f"{crm.salesforce.url}/__sandbox__/requests", verify=_trust(crm))
    httpx.delete(f"{crm.hubspot_url}/__sandbox__/requests")
    dead_before = len(crm.ops(col(OutboundOp.status) == "dead"))

    # HubSpot takes a first name of any length; Salesforce's FirstName holds 40 characters
    long_name = "Maria-Magdalena-Konstantina-Alexandra-Luise"
    from_hubspot = {
        "pat@partial.example": crm.hubspot_edit("contacts", {"email": "pat@partial.example", "lastname": "Pat"}),
        "long@partial.example": crm.hubspot_edit(
            "contacts", {"email": "long@partial.example", "firstname": long_name, "lastname": "Long"}
        ),
        "kim@partial.example": crm.hubspot_edit("contacts", {"email": "kim@partial.example", "lastname": "Kim"}),
    }
    # Salesforce lets a second contact share an email; HubSpot holds one contact per email
    from_salesforce = {
        "lee@partial.example": crm.salesforce_edit("Contact", {"Email": "lee@partial.example", "LastName": "Lee"}),
        "again": crm.salesforce_edit(
            "Contact", {"Email": "ada.lovelace@northwind.example", "FirstName": "Ada", "LastName": "Again"}
        ),
        "sam@partial.example": crm.salesforce_edit("Contact", {"Email": "sam@partial.example", "LastName": "Sam"}),
    }
    crm.sync()

    # the good records of each batch arrived ...
    sf_emails = Counter(_email(c.get("Email")) for c in crm.salesforce_records("Contact").values())
    hubspot_emails = Counter(_email(c.get("email")) for c in crm.hubspot_records("contacts").values())
    assert sf_emails["pat@partial.example"] == sf_emails["kim@partial.example"] == 1
    assert hubspot_emails["lee@partial.example"] == hubspot_emails["sam@partial.example"] == 1
    # ... in one call each way, the bad ones with them
    assert _salesforce_write_calls(crm, "upsert") == 1
    hubspot_calls = httpx.get(f"{crm.hubspot_url}/__sandbox__/requests").json()["byEndpoint"]
    assert hubspot_calls.get("POST /crm/v3/objects/contacts/batch/upsert") == 1
    # ... and only the bad ones became dead letters, each with the vendor's reason
    assert sf_emails["long@partial.example"] == 0
    assert hubspot_emails["ada.lovelace@northwind.example"] == 1
    assert crm.hubspot_records("contacts")[pairs["ada"].hubspot_id]["lastname"] == "Lovelace"
    dead = crm.ops(col(OutboundOp.status) == "dead")[dead_before:]
    assert sorted((op.target_system, op.source_id) for op in dead) == sorted(
        [("salesforce", from_hubspot["long@partial.example"]), ("hubspot", from_salesforce["again"])]
    )
    too_long = next(op for op in dead if op.target_system == "salesforce")
    assert too_long.error_category == "validation"
    assert "STRING_TOO_LONG" in (too_long.error_message or "")
    duplicate = next(op for op in dead if op.target_system == "hubspot")
    assert duplicate.error_category == "duplicate"
    assert "already exists" in (duplicate.error_message or "")
    assert not crm.ops(col(OutboundOp.status).in_(["pending", "in_flight"]))  # the stream went on


def test_an_edit_in_salesforce_writes_nothing_back_that_salesforce_already_holds(crm: Crm) -> None:
    crm.sync()
    sources = {i: p.get("hs_analytics_source") for i, p in crm.hubspot_records("contacts").items()}
    hubspot_id = next(i for i, source in sources.items() if source == "PAID_SEARCH")
    salesforce_id = crm.twin("hubspot", "contact", hubspot_id)
    assert crm.salesforce_records("Contact")[salesforce_id]["LeadSource"] == "Web"
    before = len(crm.ops())
    crm.salesforce_edit("Contact", {"Title": "Category Buyer"}, salesforce_id)
    crm.sync()
    assert crm.hubspot_records("contacts")[hubspot_id]["jobtitle"] == "Category Buyer"
    assert [op.payload for op in crm.ops()[before:] if op.target_system == "salesforce"] == []


def test_a_deals_owner_and_contacts_land_on_the_other_crm(crm: Crm) -> None:
    with transaction(crm.engine) as session:
        for system in ("hubspot", "salesforce"):
            lanes.ensure_lanes(session, system, "deal")
    pairs = _enter_overlaps(crm)
    crm.sync()
    people = crm.salesforce.state.users.people
    emails = {}
    for user in people:
        record = crm.salesforce.state.store.get(user)
        assert record is not None
        emails[user] = str(record.values["Email"]).lower()
    owners = {o.email: o.id for o in crm.hubspot.store.owners.listed()}
    ana, ben = people[1], people[2]

    # sales opens a deal for Ada's company, owned by Ana, with Ada deciding
    opportunity = crm.salesforce_edit("Opportunity", {
        "Name": "Northwind rollout", "StageName": "Proposal/Price Quote", "CloseDate": "2026-09-30",
        "Amount": 50000, "AccountId": pairs["northwind"].salesforce_id, "OwnerId": ana,
    })  # fmt: skip
    crm.salesforce_edit("OpportunityContactRole", {
        "OpportunityId": opportunity, "ContactId": pairs["ada"].salesforce_id, "Role": "Decision Maker",
        "IsPrimary": True,
    })  # fmt: skip
    crm.sync()
    deal_id = crm.twin("salesforce", "deal", opportunity)
    deal = crm.hubspot_records("deals")[deal_id]
    assert deal["hubspot_owner_id"] == owners[emails[ana]]  # the same person, by email
    assert set(crm.hubspot.store.associations("deals", deal_id, "contacts")) == {pairs["ada"].hubspot_id}
    assert set(crm.hubspot.store.associations("deals", deal_id, "companies")) == {pairs["northwind"].hubspot_id}

    # the deal moves to Ben, and Grace joins the buying committee
    crm.salesforce_edit("OpportunityContactRole", {"OpportunityId": opportunity,
                                                   "ContactId": pairs["grace"].salesforce_id})  # fmt: skip
    crm.salesforce_edit("Opportunity", {"OwnerId": ben}, opportunity)
    crm.sync()
    assert crm.hubspot_records("deals")[deal_id]["hubspot_owner_id"] == owners[emails[ben]]
    assert set(crm.hubspot.store.associations("deals", deal_id, "contacts")) == {
        pairs["ada"].hubspot_id, pairs["grace"].hubspot_id,
    }

    # a deal marketing opens in HubSpot reaches Salesforce with its owner and its contact
    pilot = crm.hubspot_edit("deals", {"dealname": "Contoso pilot", "dealstage": "appointmentscheduled",
                                       "amount": "12000", "closedate": "2026-10-15",
                                       "hubspot_owner_id": owners[emails[ana]]})  # fmt: skip
    crm.hubspot.store.associate("deals", pilot, "contacts", pairs["grace"].hubspot_id)
    crm.sync()
    pilot_sf = crm.twin("hubspot", "deal", pilot)
    assert crm.salesforce_records("Opportunity")[pilot_sf]["OwnerId"] == ana
    roles = crm.salesforce_records("OpportunityContactRole").values()
    assert {r["ContactId"] for r in roles if r["OpportunityId"] == pilot_sf} == {pairs["grace"].salesforce_id}

    # an owner Salesforce has no user for: that deal is a mapping error naming the person, the rest sync on
    outsider = crm.hubspot.store.owners.add("pat@agency.example", "Pat", "Agency")
    crm.hubspot_edit("deals", {"dealname": "Agency deal", "dealstage": "appointmentscheduled",
                               "closedate": "2026-11-01", "hubspot_owner_id": outsider.id})  # fmt: skip
    crm.sync()
    (dead,) = crm.ops(col(OutboundOp.status) == "dead")
    assert (dead.target_system, dead.object_type, dead.error_category) == ("salesforce", "deal", "mapping")
    assert "pat@agency.example" in (dead.error_message or "")
    assert "Agency deal" not in {r["Name"] for r in crm.salesforce_records("Opportunity").values()}
