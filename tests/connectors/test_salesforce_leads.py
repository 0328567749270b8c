"""People as sales works them (SalesforceConfig.leads): Leads and Contacts as one feed, writes routed
to the right sObject, and a converted Lead handing over to its Contact — through simple-salesforce."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from connectors.salesforce import SalesforceConfig, SalesforceConnector
from connectors.salesforce.sandbox import RunningSandbox, create_app, start
from sync_core.domain.changes import SourceRecord, WriteRequest


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with start(create_app(seed=5, records=6)) as running:
        yield running


@pytest.fixture
def org(sandbox: RunningSandbox) -> RunningSandbox:
    sandbox.state.reset()
    sandbox.state.clock.freeze(datetime.now(UTC).replace(microsecond=0))
    return sandbox


@pytest.fixture
def http(org: RunningSandbox) -> Iterator[requests.Session]:
    session = requests.Session()
    session.verify = str(org.ca_file)
    session.trust_env = False
    yield session
    session.close()


@pytest.fixture
def connector(org: RunningSandbox) -> Iterator[SalesforceConnector]:
    config = SalesforceConfig(login_url=org.url, client_id="sandbox", client_secret="sandbox",  # type: ignore[arg-type]
                              ca_bundle=str(org.ca_file), leads=True, timeout_seconds=5)  # fmt: skip
    found = SalesforceConnector(config, clock=org.state.clock)
    yield found
    found.close()


def _write(cid: str, external_id: str | None = None, **fields: Any) -> WriteRequest:
    return WriteRequest(cid, external_id, fields, (f"key-{cid}",))


def _drain(connector: SalesforceConnector, cursor: str | None) -> tuple[list[SourceRecord], str | None]:
    found: list[SourceRecord] = []
    while True:
        page = connector.read_changes("contact", cursor, 50)
        found.extend(page.records)
        cursor = page.cursor
        if not page.has_more:
            return found, cursor


def test_people_without_an_account_become_leads_and_with_one_contacts(
    org: RunningSandbox, connector: SalesforceConnector
) -> None:
    account = next(iter(org.state.store.rows("Account"))).id
    lead, contact = connector.write_batch("contact", [
        _write("c-lead", LastName="Lovelace", Email="ada@acme.example", Company="Acme", Lifecycle_Stage__c="Lead"),
        _write("c-contact", LastName="Hopper", Email="grace@initech.example", AccountId=account, Company="Initech"),
    ])  # fmt: skip
    assert lead.ok
    assert contact.ok
    assert lead.external_id is not None
    assert contact.external_id is not None
    assert lead.external_id.startswith("00Q")
    assert contact.external_id.startswith("003")
    stored_lead = org.state.store.get(lead.external_id)
    stored_contact = org.state.store.get(contact.external_id)
    assert stored_lead is not None
    assert stored_contact is not None
    assert (stored_lead.values["Company"], stored_lead.values["Revline_Id__c"]) == ("Acme", "c-lead")
    assert stored_contact.values["AccountId"] == account  # and the lead-only Company was left out for it

    # updates go to each record's own sObject; a retry of the create updates instead of duplicating
    again = connector.write_batch("contact", [
        _write("c-lead", lead.external_id, Title="CTO", Status="Working - Contacted"),
        _write("c-contact", contact.external_id, Title="Admiral"),
    ])  # fmt: skip
    assert [r.ok for r in again] == [True, True]
    assert org.state.store.get(lead.external_id).values["Status"] == "Working - Contacted"  # type: ignore[union-attr]
    [retried] = connector.write_batch("contact", [_write("c-lead", LastName="Lovelace", Company="Acme")])
    assert retried.external_id == lead.external_id
    assert sum(1 for r in org.state.store.rows("Lead") if r.values.get("Revline_Id__c") == "c-lead") == 1

    both = connector.read("contact", [lead.external_id, contact.external_id, "00Q000000000000AAA"])
    assert sorted(r.external_id for r in both) == sorted([lead.external_id, contact.external_id])


def test_leads_and_contacts_are_one_feed_and_a_conversion_hands_over(
    org: RunningSandbox, connector: SalesforceConnector, http: requests.Session
) -> None:
    seeded, cursor = _drain(connector, None)
    people = len(org.state.store.rows("Lead")) + len(org.state.store.rows("Contact"))
    assert len({r.external_id for r in seeded}) == people
    [lead] = connector.write_batch("contact", [_write("c-1", LastName="Ng", Email="ng@acme.example", Company="Acme")])
    org.state.clock.advance(3)
    read, cursor = _drain(connector, cursor)
    assert [r.external_id for r in read] == [lead.external_id]
    assert read[0].last_written_by_revline

    answer = http.post(f"{org.url}/__sandbox__/leads/{lead.external_id}/convert",
                       json={"opportunity": {"Name": "Acme rollout", "Amount": 5000}})  # fmt: skip
    assert answer.status_code == 200, answer.text
    done = answer.json()
    org.state.clock.advance(3)
    read, cursor = _drain(connector, cursor)
    by_id: dict[str, list[SourceRecord]] = {}
    for record in read:
        by_id.setdefault(record.external_id, []).append(record)
    assert set(by_id) == {done["contact"]}  # the lead is gone as such: news of the contact it became
    news = by_id[done["contact"]]
    conversion = next(r for r in news if r.replaces)
    assert conversion.replaces == lead.external_id
    assert conversion.fields["ConvertedOpportunityId"] == done["opportunity"]
    assert conversion.fields["ConvertedAccountId"] == done["account"]
    assert conversion.fields["Status"] == "Closed - Converted"
    contact = next(r for r in news if not r.replaces)
    assert contact.canonical_id == "c-1"  # Revline's id carried over to the contact
    assert contact.fields["AccountId"] == done["account"]
    nothing = connector.read_changes("contact", cursor, 50)
    assert nothing.records == ()
    second = http.post(f"{org.url}/__sandbox__/leads/{lead.external_id}/convert", json={})
    assert second.status_code == 400
