"""Owners and a deal's contacts through the vendor clients: HubSpot owners and v4 associations,
Salesforce Users and OpportunityContactRoles, against the sandboxes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hubspot import Client

from connectors.hubspot.config import from_settings
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.sandbox import ACCESS_TOKEN, Sandbox, build_app
from connectors.hubspot.sandbox.faults import FaultProfile
from connectors.hubspot.sandbox.store import INTEGRATION
from connectors.hubspot.sandbox.testing import serve_in_thread
from connectors.salesforce import SalesforceConfig, SalesforceConnector
from connectors.salesforce.sandbox import RunningSandbox, create_app, start
from connectors.salesforce.sandbox.schema import SOBJECTS
from sync_core.domain.changes import WriteRequest
from sync_core.domain.errors import ErrorCategory, PermanentError

ALEX, SAM, JORDAN = "alex.rivera@revline.sandbox", "sam.chen@revline.sandbox", "jordan.blake@revline.sandbox"

# -- HubSpot --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Sandbox, str]]:
    sandbox = Sandbox()
    with serve_in_thread(build_app(sandbox)) as url:
        yield sandbox, url


@pytest.fixture
def portal(served: tuple[Sandbox, str]) -> tuple[Sandbox, str]:
    sandbox, url = served
    sandbox.reset()
    sandbox.set_faults(FaultProfile(search_per_second=0))
    return sandbox, url


def hubspot(url: str) -> HubSpotConnector:
    return from_settings("hubspot", {"url": url, "token": ACCESS_TOKEN, "index_lag_seconds": 0, "search_per_second": 0})


def test_the_owners_api_answers_the_vendor_client(portal: tuple[Sandbox, str]) -> None:
    sandbox, url = portal
    owners = Client.create(access_token=ACCESS_TOKEN, host=url).crm.owners.owners_api
    page = owners.get_page(limit=2)
    assert [o.email for o in page.results] == [ALEX, SAM]
    assert page.paging.next.after == "103"
    first = page.results[0]
    assert (first.id, first.first_name, first.last_name, first.archived) == ("101", "Alex", "Rivera", False)
    assert first.user_id is not None
    assert str(first.user_id) != first.id  # a user id is not an owner id
    assert [o.id for o in owners.get_page(email=JORDAN).results] == ["103"]
    assert owners.get_by_id(owner_id=str(first.user_id), id_property="userId").email == ALEX

    sandbox.store.owners.archive("103")  # Jordan left: the owner is archived, still readable
    assert [o.email for o in owners.get_page().results] == [ALEX, SAM]
    archived = owners.get_page(archived=True).results
    assert [(o.email, o.archived, o.user_id) for o in archived] == [(JORDAN, True, None)]
    # ... and no record can be given to it any more, as HubSpot answers
    answer = httpx.post(f"{url}/crm/v3/objects/deals", headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
                        json={"properties": {"dealname": "X", "hubspot_owner_id": "103"}})  # fmt: skip
    assert answer.status_code == 400
    assert answer.json()["category"] == "VALIDATION_ERROR"
    assert "INVALID_OWNER_ID" in answer.json()["message"]


def test_hubspot_owners_read_and_write_as_emails(portal: tuple[Sandbox, str]) -> None:
    sandbox, url = portal
    connector = hubspot(url)
    owned = sandbox.store.create("deals", {"dealname": "Owned", "hubspot_owner_id": "102"}, INTEGRATION)
    sandbox.store.owners.archive("102")  # Sam left after winning it: the deal still names him
    contact = sandbox.store.create("contacts", {"email": "c@acme.example", "hubspot_owner_id": "101"}, INTEGRATION)
    (deal,) = connector.read("deal", [owned.id])
    assert deal.fields["hubspot_owner_id"] == SAM
    (person,) = connector.read("contact", [contact.id])
    assert person.fields["hubspot_owner_id"] == ALEX

    given = WriteRequest("rv-1", None, {"dealname": "Given", "hubspot_owner_id": "Alex.Rivera@Revline.Sandbox"}, ())
    nobody = WriteRequest("rv-2", None, {"dealname": "Lost", "hubspot_owner_id": "nobody@revline.sandbox"}, ())
    left = WriteRequest("rv-3", None, {"dealname": "Left", "hubspot_owner_id": SAM}, ())
    results = connector.write_batch("deal", [given, nobody, left])
    assert results[0].ok
    assert sandbox.store.get("deals", str(results[0].external_id)).properties["hubspot_owner_id"] == "101"  # type: ignore[union-attr]
    for refused in results[1:]:  # no active owner with that email: a mapping error, and nothing written
        assert isinstance(refused.error, PermanentError)
        assert refused.error.category is ErrorCategory.MAPPING
        assert "no active user with email" in refused.error.message
    assert {d.properties.get("dealname") for d in sandbox.store.snapshot("deals")} == {"Owned", "Given"}


def test_hubspot_deal_contacts_are_associations_kept_exactly(portal: tuple[Sandbox, str]) -> None:
    sandbox, url = portal
    connector = hubspot(url)
    ada, bob, cy = (sandbox.store.create("contacts", {"email": f"{n}@acme.example"}, INTEGRATION).id
                    for n in ("ada", "bob", "cy"))  # fmt: skip
    fields = {"dealname": "D", "associatedcontactids": [bob, ada]}
    (written,) = connector.write_batch("deal", [WriteRequest("rv-9", None, fields, ())])
    deal_id = str(written.external_id)
    assert set(sandbox.store.associations("deals", deal_id, "contacts")) == {ada, bob}
    (read,) = connector.read("deal", [deal_id])
    assert read.fields["associatedcontactids"] == sorted([ada, bob], key=int)

    # the list written is the list HubSpot holds: Bob is removed, Cy added
    (again,) = connector.write_batch("deal", [WriteRequest("rv-9", deal_id, {"associatedcontactids": [ada, cy]}, ())])
    assert again.ok
    assert set(sandbox.store.associations("deals", deal_id, "contacts")) == {ada, cy}
    assert set(sandbox.store.associations("contacts", bob, "deals")) == set()  # both directions
    connector.write_batch("deal", [WriteRequest("rv-9", deal_id, {"associatedcontactids": None}, ())])
    (cleared,) = connector.read("deal", [deal_id])
    assert cleared.fields["associatedcontactids"] is None


# -- Salesforce -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def running() -> Iterator[RunningSandbox]:
    with start(create_app(seed=11, records=2)) as org:
        yield org


@pytest.fixture
def org(running: RunningSandbox) -> RunningSandbox:
    running.state.reset()
    running.state.clock.freeze(datetime.now(UTC).replace(microsecond=0))
    return running


@pytest.fixture
def salesforce(org: RunningSandbox) -> Iterator[SalesforceConnector]:
    config = SalesforceConfig(login_url=org.url, client_id="sandbox", client_secret="sandbox",  # type: ignore[arg-type]
                              ca_bundle=str(org.ca_file), settle_seconds=0)  # fmt: skip
    connector = SalesforceConnector(config, clock=org.state.clock)
    yield connector
    connector.close()


def _email(org: RunningSandbox, user: str) -> str:
    record = org.state.store.get(user)
    assert record is not None
    return str(record.values["Email"]).lower()


def _create(org: RunningSandbox, sobject: str, values: dict[str, Any], user: str | None = None) -> str:
    return org.state.writer.create(SOBJECTS[sobject], values, user or org.state.users.person).id


def _roles(org: RunningSandbox, opportunity: str) -> set[str]:
    roles = org.state.store.find("OpportunityContactRole", "OpportunityId", opportunity)
    return {str(r.values["ContactId"]) for r in roles}


def test_salesforce_owners_read_and_write_as_emails(org: RunningSandbox, salesforce: SalesforceConnector) -> None:
    ana, ben = org.state.users.people[:2]
    account = _create(org, "Account", {"Name": "Acme", "OwnerId": ana})
    opportunity = _create(org, "Opportunity", {"Name": "Acme rollout", "StageName": "Prospecting", "AccountId": account,
                                               "CloseDate": "2026-09-30", "OwnerId": ben})  # fmt: skip
    (deal,) = salesforce.read("deal", [opportunity])
    assert deal.fields["OwnerId"] == _email(org, ben)
    (company,) = salesforce.read("company", [account])
    assert company.fields["OwnerId"] == _email(org, ana)

    given = WriteRequest("rv-1", None, {"Name": "Globex", "OwnerId": _email(org, ben).upper()}, ())
    nobody = WriteRequest("rv-2", None, {"Name": "Initech", "OwnerId": "nobody@revline.sandbox"}, ())
    unowned = WriteRequest("rv-3", None, {"Name": "Hooli"}, ())
    results = salesforce.write_batch("company", [given, nobody, unowned])
    assert results[0].ok
    assert results[2].ok
    assert org.state.store.get(str(results[0].external_id)).values["OwnerId"] == ben  # type: ignore[union-attr]
    assert isinstance(results[1].error, PermanentError)
    assert results[1].error.category is ErrorCategory.MAPPING
    assert "nobody@revline.sandbox" in results[1].error.message
    assert "Initech" not in {r.values["Name"] for r in org.state.store.rows("Account")}  # nothing written for it
    # Salesforce gave the unowned account to Revline's integration user: it reads as having no owner
    (hooli,) = salesforce.read("company", [str(results[2].external_id)])
    assert hooli.fields["OwnerId"] is None


def test_salesforce_deal_contacts_are_contact_roles_kept_exactly(
    org: RunningSandbox, salesforce: SalesforceConnector
) -> None:
    account = _create(org, "Account", {"Name": "Acme"})
    ada, bob, cy = (_create(org, "Contact", {"LastName": n, "AccountId": account}) for n in ("Ada", "Bob", "Cy"))
    fields = {"Name": "Acme rollout", "StageName": "Prospecting", "CloseDate": "2026-09-30", "AccountId": account,
              "OpportunityContactRoles": [bob, ada]}  # fmt: skip
    (written,) = salesforce.write_batch("deal", [WriteRequest("rv-7", None, fields, ())])
    assert written.ok
    opportunity = str(written.external_id)
    assert _roles(org, opportunity) == {ada, bob}
    (read,) = salesforce.read("deal", [opportunity])
    assert read.fields["OpportunityContactRoles"] == sorted([ada, bob])

    # the list written is the list Salesforce holds: Bob's role deleted, Cy's created
    change = WriteRequest("rv-7", opportunity, {"OpportunityContactRoles": [cy, ada]}, ())
    (again,) = salesforce.write_batch("deal", [change])
    assert again.ok
    assert _roles(org, opportunity) == {ada, cy}
    # a role sales added by hand reads with the rest
    _create(org, "OpportunityContactRole", {"OpportunityId": opportunity, "ContactId": bob, "Role": "Evaluator"})
    (read,) = salesforce.read("deal", [opportunity])
    assert read.fields["OpportunityContactRoles"] == sorted([ada, bob, cy])


def test_a_lead_on_a_deal_holds_no_contact_role_until_converted(
    org: RunningSandbox, salesforce: SalesforceConnector
) -> None:
    account = _create(org, "Account", {"Name": "Initech"})
    contact = _create(org, "Contact", {"LastName": "Ada", "AccountId": account})
    lead = _create(org, "Lead", {"LastName": "Bob", "Company": "Initech"})
    fields = {"Name": "Initech rollout", "StageName": "Prospecting", "CloseDate": "2026-09-30", "AccountId": account,
              "OpportunityContactRoles": [lead, contact]}  # fmt: skip
    (written,) = salesforce.write_batch("deal", [WriteRequest("rv-8", None, fields, ())])
    assert written.ok  # the opportunity is written; Salesforce cannot give a Lead a contact role
    assert _roles(org, str(written.external_id)) == {contact}
