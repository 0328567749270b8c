"""The Salesforce sandbox through the real simple-salesforce (requests for OAuth): every operation and error shape."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceOperationError,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from connectors.salesforce.sandbox import RunningSandbox, create_app, query, soql, start
from connectors.salesforce.sandbox.ids import checksum

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000\+0000$")
SOBJECTS = (
    "Account",
    "Contact",
    "Lead",
    "Opportunity",
    "OpportunityLineItem",
    "Product2",
    "Pricebook2",
    "PricebookEntry",
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with start(create_app(seed=7, records=12)) as running:
        yield running


@pytest.fixture
def org(sandbox: RunningSandbox) -> RunningSandbox:
    """The module's sandbox, back to its seeded start for each test."""
    sandbox.state.reset()
    return sandbox


@pytest.fixture
def http(org: RunningSandbox) -> Iterator[requests.Session]:
    session = requests.Session()
    session.verify = str(org.ca_file)
    session.trust_env = False
    yield session
    session.close()


def get_token(http: requests.Session, url: str, **form: str) -> dict[str, Any]:
    data = {"grant_type": "client_credentials", "client_id": "sandbox", "client_secret": "sandbox", **form}
    response = http.post(f"{url}/services/oauth2/token", data=data)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def sf(org: RunningSandbox, http: requests.Session) -> Salesforce:
    token = get_token(http, org.url)
    return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=http)


def first_error(error: Any) -> dict[str, Any]:
    content = error.content
    assert isinstance(content, list), content
    item: dict[str, Any] = content[0]
    return item


def counts(http: requests.Session, url: str) -> dict[str, int]:
    body: dict[str, Any] = http.get(f"{url}/__sandbox__/requests?limit=0").json()
    result: dict[str, int] = body["counts"]
    return result


def control(http: requests.Session, url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = http.post(f"{url}/__sandbox__/{path}", json=body or {})
    assert response.status_code < 300, response.text
    return response.json()


# -- OAuth, headers, sessions ---------------------------------------------------------------------


def test_client_credentials_token_and_identity(org: RunningSandbox, http: requests.Session) -> None:
    token = get_token(http, org.url)
    assert token["token_type"] == "Bearer"
    assert token["instance_url"] == org.url
    assert token["issued_at"].isdigit()
    assert token["id"].endswith("/" + org.state.users.integration)
    assert http.get(f"{org.url}/services/data/").status_code == 200

    refused = http.post(
        f"{org.url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "sandbox", "client_secret": "wrong"},
    )
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_client")
    unsupported = http.post(f"{org.url}/services/oauth2/token", data={"grant_type": "implicit"})
    assert unsupported.json()["error"] == "unsupported_grant_type"


def test_every_response_carries_limit_info_and_the_client_parses_it(org: RunningSandbox, sf: Salesforce) -> None:
    sf.query("SELECT Id FROM Account LIMIT 1")
    sf.query("SELECT Id FROM Account LIMIT 1")
    usage = sf.api_usage["api-usage"]
    assert (usage.used, usage.total) == (2, 15000)
    with pytest.raises(SalesforceResourceNotFound) as missing:
        sf.Account.get("001000000000000AAA")
    assert first_error(missing.value)["errorCode"] == "NOT_FOUND"
    response = sf.session.get(f"{org.url}/services/data/v59.0/limits/", headers=sf.headers)
    assert response.headers["Sforce-Limit-Info"] == "api-usage=4/15000"


def test_an_unknown_or_expired_session_is_401_invalid_session_id_as_a_list(
    org: RunningSandbox, http: requests.Session
) -> None:
    stranger = Salesforce(instance_url=org.url, session_id="00D!nope", session=http)
    with pytest.raises(SalesforceExpiredSession) as refused:
        stranger.query("SELECT Id FROM Account")
    assert refused.value.status == 401
    assert first_error(refused.value) == {
        "message": "Session expired or invalid",
        "errorCode": "INVALID_SESSION_ID",
        "fields": [],
    }

    token = get_token(http, org.url)
    sf = Salesforce(instance_url=org.url, session_id=token["access_token"], session=http)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 12
    control(http, org.url, "faults", {"expire_sessions": True})
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT COUNT() FROM Account")
    fresh = get_token(http, org.url)["access_token"]
    assert Salesforce(instance_url=org.url, session_id=fresh, session=http).query("SELECT COUNT() FROM Account")


def test_sessions_expire_after_their_time_to_live(org: RunningSandbox, sf: Salesforce, http: requests.Session) -> None:
    control(http, org.url, "faults", {"session_ttl_seconds": 60})
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 12
    org.state.clock.advance(61)
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT COUNT() FROM Lead")


# -- describe ---------------------------------------------------------------------------------------


def test_describe_lists_fields_with_types_keys_and_picklists(sf: Salesforce) -> None:
    listed = {s["name"] for s in sf.describe()["sobjects"]}
    assert set(SOBJECTS) <= listed
    assert sf.Account.metadata()["objectDescribe"]["keyPrefix"] == "001"
    assert sf.restful("")["query"] == "/services/data/v59.0/query"
    for name in SOBJECTS:
        assert sf.__getattr__(name).describe()["name"] == name
    account = sf.Account.describe()
    fields = {f["name"]: f for f in account["fields"]}
    assert account["keyPrefix"] == "001"
    assert fields["Name"]["nillable"] is False
    assert fields["Name"]["type"] == "string"
    assert fields["Industry"]["restrictedPicklist"] is True
    assert "Technology" in [p["value"] for p in fields["Industry"]["picklistValues"]]
    for key in ("Revline_Id__c", "HubSpot_Id__c"):
        assert (fields[key]["unique"], fields[key]["externalId"], fields[key]["custom"]) == (True, True, True)
    assert (fields["Legacy_Id__c"]["unique"], fields["Legacy_Id__c"]["externalId"]) == (False, True)
    assert fields["Id"]["createable"] is False
    assert fields["SystemModstamp"]["type"] == "datetime"
    opportunity = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}
    for erp in ("ERP_Order_Number__c", "ERP_Order_Status__c", "Invoice_Status__c", "Amount_Overdue__c"):
        assert erp in opportunity
    assert opportunity["StageName"]["restrictedPicklist"] is True
    assert opportunity["AccountId"]["referenceTo"] == ["Account"]
    assert opportunity["AccountId"]["relationshipName"] == "Account"
    assert {"Revline_Id__c", "HubSpot_Id__c"} <= {f["name"] for f in sf.Contact.describe()["fields"]}
    assert {"Revline_Id__c", "HubSpot_Id__c"} <= {f["name"] for f in sf.Lead.describe()["fields"]}


def test_trailing_slashes_are_accepted_both_ways(org: RunningSandbox, sf: Salesforce) -> None:
    base = f"{org.url}/services/data/v59.0"
    for path in (
        "limits",
        "limits/",
        "sobjects/Account/describe",
        "sobjects/Account/describe/",
        "query?q=SELECT+Id+FROM+Account",
    ):
        assert sf.session.get(f"{base}/{path}", headers=sf.headers, allow_redirects=False).status_code == 200, path
    assert sf.session.get(f"{base}/query/?q=SELECT+Id+FROM+Account", headers=sf.headers).status_code == 200


def test_unknown_paths_are_404_and_wrong_methods_405(org: RunningSandbox, sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        sf.restful("sobjects/Spaceship/describe")
    with pytest.raises(SalesforceResourceNotFound):
        sf.restful("no/such/thing")
    response = sf.session.put(f"{org.url}/services/data/v59.0/limits", headers=sf.headers)
    assert response.status_code == 405
    assert response.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"


# -- records ----------------------------------------------------------------------------------------


def test_create_get_update_delete_with_server_kept_fields(org: RunningSandbox, sf: Salesforce) -> None:
    created = sf.Account.create({"Name": "Acme", "Industry": "Technology", "Revline_Id__c": "c-1"})
    assert created["success"] is True
    assert created["errors"] == []
    account_id = created["id"]
    assert len(account_id) == 18
    assert account_id.startswith("001")
    assert account_id[15:] == checksum(account_id[:15])
    record = sf.Account.get(account_id)
    assert record["attributes"] == {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{account_id}"}
    assert record["LastModifiedById"] == record["CreatedById"] == org.state.users.integration
    assert record["IsDeleted"] is False
    assert all(STAMP.match(record[f]) for f in ("CreatedDate", "LastModifiedDate", "SystemModstamp"))
    assert sf.Account.get(account_id[:15])["Id"] == account_id  # 15-character ids work too

    org.state.clock.advance(5)
    assert sf.Account.update(account_id, {"Phone": "+1 555 0100"}) == 204
    changed = sf.Account.get(account_id)
    assert changed["Phone"] == "+1 555 0100"
    assert changed["SystemModstamp"] > record["SystemModstamp"]

    contact = sf.Contact.create({"LastName": "Lovelace", "AccountId": account_id})["id"]
    assert sf.Contact.get(contact)["Name"] == "Lovelace"
    assert sf.Account.delete(account_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as gone:
        sf.Account.get(account_id)
    assert first_error(gone.value)["errorCode"] == "NOT_FOUND"
    with pytest.raises(SalesforceResourceNotFound) as again:
        sf.Account.delete(account_id)
    assert first_error(again.value)["errorCode"] == "ENTITY_IS_DELETED"
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.get(contact)  # deleting an account deletes its contacts


def test_upsert_by_external_id_201_200_and_300(sf: Salesforce) -> None:
    assert sf.Account.upsert("Revline_Id__c/r-1", {"Name": "Initech"}) == 201
    assert sf.Account.upsert("Revline_Id__c/r-1", {"Phone": "42"}) == 200
    created = sf.Account.upsert("Revline_Id__c/r-2", {"Name": "Hooli"}, raw_response=True)
    body = created.json()
    assert created.status_code == 201
    assert body["created"] is True
    assert body["success"] is True
    updated = sf.Account.upsert("Revline_Id__c/r-2", {"Phone": "1"}, raw_response=True)
    assert updated.status_code == 200
    assert updated.json() == {
        "id": body["id"],
        "success": True,
        "errors": [],
        "created": False,
    }
    fetched = sf.Account.get_by_custom_id("Revline_Id__c", "r-1")
    assert (fetched["Name"], fetched["Phone"], fetched["Revline_Id__c"]) == ("Initech", "42", "r-1")

    # Legacy_Id__c is an external id but not unique: two holders make the upsert ambiguous
    sf.Account.create({"Name": "One", "Legacy_Id__c": "L-7"})
    sf.Account.create({"Name": "Two", "Legacy_Id__c": "L-7"})
    with pytest.raises(SalesforceMoreThanOneRecord) as several:
        sf.Account.upsert("Legacy_Id__c/L-7", {"Phone": "0"})
    assert several.value.status == 300
    assert len(several.value.content) == 2
    assert all("/sobjects/Account/001" in u for u in several.value.content)
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf.Account.get_by_custom_id("Legacy_Id__c", "L-7")
    with pytest.raises(SalesforceResourceNotFound) as not_a_key:
        sf.Account.upsert("Name/x", {"Phone": "0"})
    assert first_error(not_a_key.value)["errorCode"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "code", "fields"),
    [
        ({"Industry": "Technology"}, "REQUIRED_FIELD_MISSING", ["Name"]),
        ({"Name": "X", "Colour__c": "red"}, "INVALID_FIELD", []),
        ({"Name": "X", "Industry": "Gardening"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Industry"]),
        ({"Name": "X", "Revline_Id__c": "taken"}, "DUPLICATE_VALUE", []),
        ({"Name": "X", "ParentId": "not-an-id"}, "MALFORMED_ID", ["ParentId"]),
        ({"Name": "X" * 256}, "STRING_TOO_LONG", ["Name"]),
        ({"Name": "X", "CreatedDate": "2020-01-01T00:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["CreatedDate"]),
        ({"Name": "X", "AnnualRevenue": "lots"}, "JSON_PARSER_ERROR", []),
    ],
)
def test_validation_errors_come_in_salesforce_shape(
    sf: Salesforce, body: dict[str, Any], code: str, fields: list[str]
) -> None:
    sf.Account.create({"Name": "Holder", "Revline_Id__c": "taken"})
    before = sf.query("SELECT COUNT() FROM Account")["totalSize"]
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Account.create(body)
    error = first_error(refused.value)
    assert refused.value.status == 400
    assert set(error) == {"message", "errorCode", "fields"}
    assert (error["errorCode"], error["fields"]) == (code, fields)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == before


def test_contact_email_and_contacts_referencing_accounts_by_external_id(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as bad_email:
        sf.Contact.create({"LastName": "Lee", "Email": "not-an-email"})
    assert first_error(bad_email.value)["errorCode"] == "INVALID_EMAIL_ADDRESS"
    sf.Account.create({"Name": "Parent", "Revline_Id__c": "acc-1"})
    contact = sf.Contact.create({"LastName": "Lee", "Account": {"Revline_Id__c": "acc-1"}})["id"]
    assert (
        sf.query(f"SELECT Account.Name FROM Contact WHERE Id = '{contact}'")["records"][0]["Account"]["Name"]
        == "Parent"
    )


# -- SOQL -----------------------------------------------------------------------------------------


@pytest.fixture
def soql_data(sf: Salesforce) -> dict[str, str]:
    """Six marked accounts and their contacts; names are what the queries below select."""
    accounts = [
        ("Alpha", "Technology", 100.0, 10, "Paris"),
        ("Beta", "Retail", 250.0, 20, None),
        ("Gamma", "Technology", 250.0, 30, "Berlin"),
        ("delta", "Finance", 75.5, 40, "paris"),
        ("Epsilon", None, None, 50, "Rome"),
        ("O'Brien & Sons", "Retail", 900.0, 60, "Dublin"),
    ]
    ids = {}
    for name, industry, revenue, employees, city in accounts:
        values = {"Name": name, "Industry": industry, "AnnualRevenue": revenue, "NumberOfEmployees": employees}
        ids[name] = sf.Account.create({**values, "BillingCity": city, "AccountNumber": "SOQL"})["id"]
    sf.Contact.create({"LastName": "Ann", "AccountId": ids["Alpha"], "Department": "SOQL"})
    sf.Contact.create({"LastName": "Bob", "AccountId": ids["Gamma"], "Department": "SOQL"})
    sf.Contact.create({"LastName": "Cid", "Department": "SOQL"})
    return ids


def names(sf: Salesforce, where: str, order: str = "Name") -> list[str]:
    result = sf.query_all(f"SELECT Name FROM Account WHERE AccountNumber = 'SOQL' AND ({where}) ORDER BY {order}")
    return [r["Name"] for r in result["records"]]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Industry = 'technology'", ["Alpha", "Gamma"]),  # text compares case-insensitively
        ("Industry != 'Technology'", ["Beta", "delta", "Epsilon", "O'Brien & Sons"]),  # != keeps nulls
        ("AnnualRevenue < 250", ["Alpha", "delta"]),
        ("AnnualRevenue <= 250", ["Alpha", "Beta", "delta", "Gamma"]),
        ("AnnualRevenue > 250", ["O'Brien & Sons"]),
        ("AnnualRevenue >= 250", ["Beta", "Gamma", "O'Brien & Sons"]),
        ("Industry IN ('Retail', 'Finance')", ["Beta", "delta", "O'Brien & Sons"]),
        ("Industry NOT IN ('Retail', 'Finance')", ["Alpha", "Epsilon", "Gamma"]),
        ("Name LIKE '%a'", ["Alpha", "Beta", "delta", "Gamma"]),
        ("Name LIKE '_amma'", ["Gamma"]),
        ("Name = 'O\\'Brien & Sons'", ["O'Brien & Sons"]),
        ("Industry = null", ["Epsilon"]),
        ("BillingCity != null", ["Alpha", "delta", "Epsilon", "Gamma", "O'Brien & Sons"]),
        ("Industry = 'Technology' AND NumberOfEmployees > 15", ["Gamma"]),
        ("Industry = 'Finance' OR BillingCity = 'Rome'", ["delta", "Epsilon"]),
        ("(Industry = 'Retail' OR Industry = 'Finance') AND NOT (BillingCity = 'Dublin')", ["Beta", "delta"]),
        ("NOT Industry = 'Technology'", ["Beta", "delta", "Epsilon", "O'Brien & Sons"]),
        ("BillingCity = 'PARIS'", ["Alpha", "delta"]),
    ],
)
def test_soql_filters(sf: Salesforce, soql_data: dict[str, str], where: str, expected: list[str]) -> None:
    assert names(sf, where) == sorted(expected, key=str.lower)


def test_soql_id_in_matches_15_and_18_character_ids_and_builds_its_set_once(
    org: RunningSandbox, sf: Salesforce, soql_data: dict[str, str]
) -> None:
    wanted = [soql_data["Alpha"], soql_data["Gamma"][:15], "001000000000000AAA"]
    listed = ", ".join(f"'{i}'" for i in wanted)
    assert names(sf, f"Id IN ({listed})") == ["Alpha", "Gamma"]
    assert names(sf, f"Id NOT IN ({listed})") == sorted(
        ["Beta", "delta", "Epsilon", "O'Brien & Sons"], key=str.lower
    )
    # The IN list becomes one set per query, not one per record the filter looks at.
    the_plan = query.plan(soql.parse(f"SELECT Id FROM Account WHERE Id IN ({listed})", datetime.now(UTC)))
    evaluator = query.Evaluator(the_plan, org.state.store)
    membership = the_plan.query.where
    assert isinstance(membership, soql.Membership)
    first = evaluator.members(membership)
    assert evaluator.members(membership) is first
    assert len(first) == 3


def test_soql_order_by_limit_offset_and_count(sf: Salesforce, soql_data: dict[str, str]) -> None:
    assert names(sf, "Id != null", "AnnualRevenue DESC, Name ASC") == [
        "O'Brien & Sons",
        "Beta",
        "Gamma",
        "Alpha",
        "delta",
        "Epsilon",
    ]  # fmt: skip  (nulls last when descending)
    assert names(sf, "Id != null", "AnnualRevenue ASC NULLS LAST, Name DESC")[:2] == ["delta", "Alpha"]
    assert names(sf, "Id != null", "AnnualRevenue")[0] == "Epsilon"  # nulls first ascending
    page = sf.query("SELECT Name FROM Account WHERE AccountNumber = 'SOQL' ORDER BY Name LIMIT 2 OFFSET 1")
    assert [r["Name"] for r in page["records"]] == ["Beta", "delta"]
    assert page["totalSize"] == 2
    counted = sf.query("SELECT COUNT() FROM Account WHERE AccountNumber = 'SOQL' AND Industry = 'Retail'")
    assert (counted["totalSize"], counted["records"], counted["done"]) == (2, [], True)


def test_soql_parent_fields(sf: Salesforce, soql_data: dict[str, str], org: RunningSandbox) -> None:
    rows = sf.query(
        "SELECT LastName, Account.Name, Account.Owner.Name FROM Contact WHERE Department = 'SOQL' ORDER BY LastName"
    )
    records = rows["records"]
    assert [r["LastName"] for r in records] == ["Ann", "Bob", "Cid"]
    assert records[0]["Account"]["Name"] == "Alpha"
    assert records[0]["Account"]["attributes"]["type"] == "Account"
    assert records[0]["Account"]["Owner"]["Name"] == "Revline Integration"
    assert records[2]["Account"] is None
    assert names(sf, "Owner.Name = 'Revline Integration'") == sorted(soql_data, key=str.lower)
    filtered = sf.query("SELECT LastName FROM Contact WHERE Account.BillingCity = 'Berlin'")
    assert [r["LastName"] for r in filtered["records"]] == ["Bob"]


def test_soql_date_and_datetime_literals(org: RunningSandbox, sf: Salesforce) -> None:
    clock = org.state.clock
    clock.freeze(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    account = sf.Account.create({"Name": "Dated"})["id"]
    for name, close in (("Early", "2026-01-10"), ("Late", "2026-02-20")):
        sf.Opportunity.create({"Name": name, "StageName": "Prospecting", "CloseDate": close, "AccountId": account})
    clock.advance(3600)
    sf.Opportunity.create({"Name": "Later", "StageName": "Closed Won", "CloseDate": "2026-03-02", "AccountId": account})

    def opportunities(where: str) -> list[str]:
        result = sf.query(f"SELECT Name FROM Opportunity WHERE AccountId = '{account}' AND {where} ORDER BY Name")
        return [r["Name"] for r in result["records"]]

    assert opportunities("CloseDate > 2026-01-31") == ["Late", "Later"]
    assert opportunities("CloseDate <= 2026-01-10") == ["Early"]
    assert opportunities("CreatedDate > 2026-03-02T09:30:00Z") == ["Later"]
    assert opportunities("CreatedDate <= 2026-03-02T10:00:00+01:00") == ["Early", "Late"]  # 09:00 UTC
    assert opportunities("CreatedDate = TODAY") == ["Early", "Late", "Later"]
    assert opportunities("CloseDate = LAST_N_DAYS:30") == ["Late", "Later"]
    assert opportunities("IsWon = true") == ["Later"]
    probability = sf.query(f"SELECT Probability FROM Opportunity WHERE Name = 'Later' AND AccountId = '{account}'")
    assert probability["records"][0]["Probability"] == 100.0


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'", "MALFORMED_QUERY"),
        ("SELECT Nope FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE CreatedDate > '2020-01-01'", "INVALID_FIELD"),
        ("SELECT Id, Planet.Name FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Spaceship", "INVALID_TYPE"),
        ("SELECT Id FROM Account LIMIT 5 OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE"),
    ],
)
def test_soql_errors(sf: Salesforce, soql: str, code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.query(soql)
    assert first_error(refused.value)["errorCode"] == code


def test_query_pages_of_2000_with_next_records_url_and_query_all(org: RunningSandbox, sf: Salesforce) -> None:
    sf.bulk2.Lead.insert(records=[{"LastName": f"L{i}", "Company": "Paging Co"} for i in range(2050)], wait=0)
    first = sf.query("SELECT Id FROM Lead WHERE Company = 'Paging Co'")
    assert (first["totalSize"], first["done"], len(first["records"])) == (2050, False, 2000)
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert (second["done"], len(second["records"]), second.get("nextRecordsUrl")) == (True, 50, None)
    assert len({r["Id"] for r in first["records"] + second["records"]}) == 2050

    small = sf.query(
        "SELECT Id FROM Lead WHERE Company = 'Paging Co'", headers={"Sforce-Query-Options": "batchSize=500"}
    )
    assert len(small["records"]) == 500
    before = counts(sf.session, org.url).get("query.more", 0)
    assert len(sf.query_all("SELECT Id FROM Lead WHERE Company = 'Paging Co'")["records"]) == 2050
    assert counts(sf.session, org.url)["query.more"] == before + 1


def test_query_all_includes_deleted_records(sf: Salesforce) -> None:
    keep = sf.Account.create({"Name": "Keep", "AccountNumber": "QA"})["id"]
    gone = sf.Account.create({"Name": "Gone", "AccountNumber": "QA"})["id"]
    sf.Account.delete(gone)
    live = sf.query("SELECT Id FROM Account WHERE AccountNumber = 'QA'")
    assert [r["Id"] for r in live["records"]] == [keep]
    everything = sf.query_all(
        "SELECT Id, IsDeleted FROM Account WHERE AccountNumber = 'QA' ORDER BY Name", include_deleted=True
    )
    assert [(r["Id"], r["IsDeleted"]) for r in everything["records"]] == [(gone, True), (keep, False)]


# -- collections, updated/deleted, limits -------------------------------------------------------------


def collection(sf: Salesforce, path: str, method: str, records: list[dict[str, Any]], all_or_none: bool = False) -> Any:
    return sf.restful(path, method=method, json={"allOrNone": all_or_none, "records": records})


def test_collections_create_update_upsert_in_one_call_each(org: RunningSandbox, sf: Salesforce) -> None:
    before = counts(sf.session, org.url)
    created = collection(
        sf,
        "composite/sobjects",
        "POST",
        [
            {"attributes": {"type": "Account"}, "Name": "C1"},
            {"attributes": {"type": "Contact"}, "Email": "x@y.z"},
            {"attributes": {"type": "Account"}, "Name": "C2"},
        ],
    )
    assert [r["success"] for r in created] == [True, False, True]
    assert created[1]["errors"] == [
        {
            "statusCode": "REQUIRED_FIELD_MISSING",
            "message": "Required fields are missing: [LastName]",
            "fields": ["LastName"],
        }
    ]
    updated = collection(
        sf,
        "composite/sobjects",
        "PATCH",
        [
            {"attributes": {"type": "Account"}, "Id": created[0]["id"], "Phone": "1"},
            {"attributes": {"type": "Account"}, "Id": created[2]["id"], "Industry": "Gardening"},
        ],
    )
    assert [r["success"] for r in updated] == [True, False]
    assert updated[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    upserted = collection(
        sf,
        "composite/sobjects/Account/Revline_Id__c",
        "PATCH",
        [
            {"attributes": {"type": "Account"}, "Name": "U1", "Revline_Id__c": "u-1"},
            {"attributes": {"type": "Account"}, "Name": "U2", "Revline_Id__c": "u-2"},
        ],
    )
    assert [(r["success"], r["created"]) for r in upserted] == [(True, True), (True, True)]
    again = collection(
        sf,
        "composite/sobjects/Account/Revline_Id__c",
        "PATCH",
        [{"attributes": {"type": "Account"}, "Phone": "9", "Revline_Id__c": "u-1"}],
    )
    assert (again[0]["id"], again[0]["created"]) == (upserted[0]["id"], False)
    after = counts(sf.session, org.url)
    for endpoint, calls in (("composite.create", 1), ("composite.update", 1), ("composite.upsert", 2)):
        assert after[endpoint] - before.get(endpoint, 0) == calls


def test_collections_all_or_none_rolls_everything_back(sf: Salesforce) -> None:
    results = collection(
        sf,
        "composite/sobjects",
        "POST",
        [{"attributes": {"type": "Account"}, "Name": "Kept?"}, {"attributes": {"type": "Account"}, "Phone": "1"}],
        all_or_none=True,
    )
    assert [r["success"] for r in results] == [False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert sf.query("SELECT COUNT() FROM Account WHERE Name = 'Kept?'")["totalSize"] == 0


def test_collections_refuse_more_than_200_records(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as refused:
        collection(
            sf, "composite/sobjects", "POST", [{"attributes": {"type": "Account"}, "Name": f"N{i}"} for i in range(201)]
        )
    assert first_error(refused.value)["errorCode"] == "EXCEEDED_ID_LIMIT"
    within = collection(
        sf, "composite/sobjects", "POST", [{"attributes": {"type": "Account"}, "Name": f"N{i}"} for i in range(200)]
    )
    assert all(r["success"] for r in within)


def test_updated_and_deleted_resources(org: RunningSandbox, sf: Salesforce) -> None:
    clock = org.state.clock
    start_at = clock.freeze(datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1))
    changed = sf.Account.create({"Name": "Changed"})["id"]
    removed = sf.Account.create({"Name": "Removed"})["id"]
    clock.advance(120)
    sf.Account.delete(removed)
    clock.advance(120)
    updated = sf.Account.updated(start_at - timedelta(minutes=1), start_at + timedelta(minutes=10))
    assert updated["ids"] == [changed]
    assert STAMP.match(updated["latestDateCovered"])
    deleted = sf.Account.deleted(start_at, start_at + timedelta(minutes=10))
    assert [d["id"] for d in deleted["deletedRecords"]] == [removed]
    assert deleted["deletedRecords"][0]["deletedDate"].startswith(
        (start_at + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M")
    )
    with pytest.raises(SalesforceMalformedRequest) as too_old:
        sf.Account.updated(start_at - timedelta(days=31), start_at)
    assert first_error(too_old.value)["errorCode"] == "INVALID_REPLICATION_DATE"


def test_daily_allocation_refuses_with_403_once_spent_and_frees_after_24_hours(
    org: RunningSandbox, sf: Salesforce, http: requests.Session
) -> None:
    sf.limits()
    control(http, org.url, "faults", {"daily_limit": 3})
    limits = sf.limits()["DailyApiRequests"]
    assert limits == {"Max": 3, "Remaining": 1}
    sf.query("SELECT Id FROM Account LIMIT 1")
    with pytest.raises(SalesforceRefusedRequest) as refused:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert refused.value.status == 403
    assert first_error(refused.value) == {
        "message": "TotalRequests Limit exceeded.",
        "errorCode": "REQUEST_LIMIT_EXCEEDED",
        "fields": [],
    }
    response = sf.session.get(f"{org.url}/services/data/v59.0/limits", headers=sf.headers)
    assert response.status_code == 403
    assert response.headers["Sforce-Limit-Info"] == "api-usage=3/3"
    org.state.clock.advance(24 * 3600)
    assert sf.limits()["DailyApiRequests"] == {"Max": 3, "Remaining": 2}


# -- Bulk API 2.0 ------------------------------------------------------------------------------------


def test_bulk_ingest_protocol_states_and_result_files(org: RunningSandbox, sf: Salesforce) -> None:
    base = f"{org.url}/services/data/v59.0/jobs/ingest"
    headers = dict(sf.headers)
    job = sf.session.post(
        base,
        headers=headers,
        json={
            "object": "Account",
            "operation": "upsert",
            "externalIdFieldName": "Revline_Id__c",
            "contentType": "CSV",
            "lineEnding": "LF",
        },
    ).json()
    assert job["state"] == "Open"
    assert job["operation"] == "upsert"
    data = 'Name,Revline_Id__c,Industry\nBulk One,b-1,Retail\n"Bulk, Two",b-2,Gardening\n,b-3,\n'
    put = sf.session.put(
        f"{base}/{job['id']}/batches", headers={**headers, "Content-Type": "text/csv"}, data=data.encode()
    )
    assert put.status_code == 201
    closed = sf.session.patch(f"{base}/{job['id']}", headers=headers, json={"state": "UploadComplete"}).json()
    assert closed["state"] == "UploadComplete"
    info = sf.session.get(f"{base}/{job['id']}", headers=headers).json()
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == ("JobComplete", 3, 2)

    def rows(which: str) -> list[dict[str, str]]:
        text = sf.session.get(f"{base}/{job['id']}/{which}", headers=headers).text
        return list(csv.DictReader(io.StringIO(text)))

    successful = rows("successfulResults")
    assert [(r["sf__Created"], r["Name"]) for r in successful] == [("true", "Bulk One")]
    assert successful[0]["sf__Id"].startswith("001")
    failed = rows("failedResults")
    assert [r["sf__Error"].split(":")[0] for r in failed] == [
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "REQUIRED_FIELD_MISSING",
    ]
    assert rows("unprocessedRecords") == []


def test_bulk_job_errors(org: RunningSandbox, sf: Salesforce) -> None:
    base = f"{org.url}/services/data/v59.0/jobs/ingest"
    headers = dict(sf.headers)
    refused = sf.session.post(base, headers=headers, json={"object": "Account", "operation": "upsert"})
    assert (refused.status_code, refused.json()[0]["errorCode"]) == (400, "INVALIDJOB")
    assert sf.session.get(f"{base}/7508d0000000999AAA", headers=headers).status_code == 404
    job = sf.session.post(base, headers=headers, json={"object": "Account", "operation": "insert"}).json()
    csv_headers = {**headers, "Content-Type": "text/csv"}
    sf.session.put(f"{base}/{job['id']}/batches", headers=csv_headers, data=b"Name,Colour__c\nA,red\n")
    sf.session.patch(f"{base}/{job['id']}", headers=headers, json={"state": "UploadComplete"})
    info = sf.session.get(f"{base}/{job['id']}", headers=headers).json()
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : Field name not found : Colour__c"
    unprocessed = sf.session.get(f"{base}/{job['id']}/unprocessedRecords", headers=headers).text
    assert list(csv.reader(io.StringIO(unprocessed))) == [["Name", "Colour__c"], ["A", "red"]]
    late = sf.session.put(f"{base}/{job['id']}/batches", headers=csv_headers, data=b"Name\nB\n")
    assert (late.status_code, late.json()[0]["errorCode"]) == (409, "INVALIDJOBSTATE")
    with pytest.raises(SalesforceOperationError):
        sf.bulk2.Account.insert(records=[{"Name": "A", "Colour__c": "red"}], wait=0)


def test_bulk_upsert_insert_and_update_through_simple_salesforce(org: RunningSandbox, sf: Salesforce) -> None:
    inserted = sf.bulk2.Account.insert(records=[{"Name": "Ins 1"}, {"Name": "Ins 2"}], wait=0)
    assert (inserted[0]["numberRecordsProcessed"], inserted[0]["numberRecordsFailed"]) == (2, 0)
    records = [{"Name": f"Up {i}", "Revline_Id__c": f"bu-{i}"} for i in range(3)]
    first = sf.bulk2.Account.upsert(records=records, external_id_field="Revline_Id__c", wait=0)
    results = sf.bulk2.Account.get_all_ingest_records(first[0]["job_id"])
    assert sorted(r["sf__Created"] for r in results["successfulRecords"]) == ["true"] * 3
    second = sf.bulk2.Account.upsert(
        records=[{"Phone": "7", "Revline_Id__c": "bu-1"}], external_id_field="Revline_Id__c", wait=0
    )
    again = sf.bulk2.Account.get_all_ingest_records(second[0]["job_id"])["successfulRecords"]
    assert [r["sf__Created"] for r in again] == ["false"]
    target = again[0]["sf__Id"]
    sf.bulk2.Account.update(records=[{"Id": target, "Website": "bulk.example", "Phone": "#N/A"}], wait=0)
    record = sf.Account.get(target)
    assert (record["Website"], record["Phone"], record["Name"]) == ("bulk.example", None, "Up 1")
    assert sf.query("SELECT COUNT() FROM Account WHERE Revline_Id__c LIKE 'bu-%'")["totalSize"] == 3


def test_bulk_query_results_carry_record_count_and_locator(org: RunningSandbox, sf: Salesforce) -> None:
    chunks = list(sf.bulk2.Contact.query("SELECT Id, LastName, Account.Name FROM Contact", max_records=10, wait=0))
    parsed = [list(csv.DictReader(io.StringIO(c))) for c in chunks]
    assert [len(p) for p in parsed] == [10, 10, 4]
    assert set(parsed[0][0]) == {"Id", "LastName", "Account.Name"}
    base = f"{org.url}/services/data/v59.0/jobs/query"
    job = sf.session.post(base, headers=sf.headers, json={"operation": "query", "query": "SELECT Id FROM Lead"}).json()
    assert job["state"] == "UploadComplete"
    assert sf.session.get(f"{base}/{job['id']}", headers=sf.headers).json()["state"] == "JobComplete"
    page = sf.session.get(f"{base}/{job['id']}/results", headers=sf.headers, params={"maxRecords": 5})
    assert page.headers["Sforce-NumberOfRecords"] == "5"
    assert page.headers["Sforce-Locator"] != "null"
    last = sf.session.get(
        f"{base}/{job['id']}/results", headers=sf.headers, params={"locator": page.headers["Sforce-Locator"]}
    )
    assert (last.headers["Sforce-NumberOfRecords"], last.headers["Sforce-Locator"]) == ("7", "null")


# -- faults --------------------------------------------------------------------------------------------


def test_server_errors_in_sequence_then_at_random(org: RunningSandbox, sf: Salesforce, http: requests.Session) -> None:
    control(http, org.url, "faults", {"server_errors": {"sequence": [503, 500]}})
    for status, code in ((503, "SERVER_UNAVAILABLE"), (500, "UNKNOWN_EXCEPTION")):
        with pytest.raises(SalesforceGeneralError) as failed:
            sf.Account.create({"Name": "Never"})
        assert failed.value.status == status
        assert first_error(failed.value)["errorCode"] == code
    assert sf.query("SELECT COUNT() FROM Account WHERE Name = 'Never'")["totalSize"] == 0
    control(http, org.url, "faults", {"seed": 3, "server_errors": {"rate": 0.5}})
    outcomes = []
    for _ in range(20):
        try:
            sf.limits()
            outcomes.append(True)
        except SalesforceGeneralError:
            outcomes.append(False)
    assert 3 <= outcomes.count(False) <= 17


def test_locked_rows_latency_and_timeouts_after_the_write(
    org: RunningSandbox, sf: Salesforce, http: requests.Session
) -> None:
    control(http, org.url, "faults", {"lock_row": {"next": 2}})
    with pytest.raises(SalesforceMalformedRequest) as locked:
        sf.Account.create({"Name": "Locked"})
    assert first_error(locked.value)["errorCode"] == "UNABLE_TO_LOCK_ROW"
    per_record = collection(sf, "composite/sobjects", "POST", [{"attributes": {"type": "Account"}, "Name": "L"}] * 2)
    assert [r["errors"][0]["statusCode"] for r in per_record] == ["UNABLE_TO_LOCK_ROW"] * 2

    control(http, org.url, "faults", {"lock_row": {"next": 0}, "latency_ms": 150})
    started = datetime.now(UTC)
    sf.limits()
    assert datetime.now(UTC) - started >= timedelta(milliseconds=150)

    control(http, org.url, "faults", {"latency_ms": 0, "timeout_after_write": {"next": 1, "hold_ms": 1200}})
    with pytest.raises(requests.ReadTimeout):
        sf.restful("sobjects/Account/", method="POST", json={"Name": "Applied anyway"}, timeout=0.4)
    assert sf.query("SELECT COUNT() FROM Account WHERE Name = 'Applied anyway'")["totalSize"] == 1


# -- control API ---------------------------------------------------------------------------------------


def test_request_log_counts_each_endpoint(org: RunningSandbox, sf: Salesforce, http: requests.Session) -> None:
    http.delete(f"{org.url}/__sandbox__/requests")
    sf.query("SELECT Id FROM Account LIMIT 1")
    sf.Account.create({"Name": "Logged"})
    sf.Account.describe()
    log = http.get(f"{org.url}/__sandbox__/requests").json()
    assert log["counts"] == {"query": 1, "sobject.create": 1, "sobject.describe": 1}
    assert (log["total"], log["api_calls"]) == (3, 3)
    assert [(e["method"], e["status"]) for e in log["requests"]] == [("GET", 200), ("POST", 201), ("GET", 200)]
    assert log["requests"][1]["user"] == org.state.users.integration


def test_people_act_through_the_control_api(org: RunningSandbox, sf: Salesforce, http: requests.Session) -> None:
    mine = sf.Account.create({"Name": "By the integration"})["id"]
    people = http.get(f"{org.url}/__sandbox__/users").json()
    person = people["people"][1]
    response = http.patch(
        f"{org.url}/__sandbox__/records/Account/{mine}", json={"fields": {"Phone": "555"}, "user": person["username"]}
    )
    assert response.status_code == 200, response.text
    record = sf.Account.get(mine)
    assert record["LastModifiedById"] == person["id"] != org.state.users.integration
    made = http.post(f"{org.url}/__sandbox__/records/Contact", json={"fields": {"LastName": "Human"}})
    assert made.status_code == 201
    assert sf.Contact.get(made.json()["id"])["LastModifiedById"] == people["people"][0]["id"]
    refused = http.post(f"{org.url}/__sandbox__/records/Contact", json={"fields": {"Email": "a@b.co"}})
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert http.delete(f"{org.url}/__sandbox__/records/Account/{mine}").status_code == 204
    assert (
        sf.query_all(f"SELECT LastModifiedById FROM Account WHERE Id = '{mine}'", include_deleted=True)["records"][0][
            "LastModifiedById"
        ]
        == people["people"][0]["id"]
    )
    assert counts(http, org.url) == {"oauth.token": 1, "sobject.create": 1, "sobject.get": 2, "queryAll": 1}


def test_people_can_log_in_with_the_password_flow(org: RunningSandbox, http: requests.Session) -> None:
    person = http.get(f"{org.url}/__sandbox__/users").json()["people"][0]
    token = get_token(http, org.url, grant_type="password", username=person["username"], password="sandbox")
    assert token["id"].endswith(person["id"])
    as_person = Salesforce(instance_url=org.url, session_id=token["access_token"], session=http)
    made = as_person.Lead.create({"LastName": "Walk-in", "Company": "Street"})["id"]
    assert as_person.Lead.get(made)["CreatedById"] == person["id"]


def test_seeding_is_deterministic_and_resettable(org: RunningSandbox, sf: Salesforce, http: requests.Session) -> None:
    def snapshot() -> list[tuple[str, str, str | None]]:
        rows = sf.query_all("SELECT Id, Name, Industry FROM Account ORDER BY Id")["records"]
        return [(r["Id"], r["Name"], r["Industry"]) for r in rows]

    seeded = snapshot()
    assert len(seeded) == 12
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 24
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 12
    assert sf.query("SELECT COUNT() FROM Opportunity WHERE StageName != null AND CloseDate != null")["totalSize"] == 12
    assert sf.query("SELECT COUNT() FROM Product2 WHERE ProductCode LIKE 'SKU-%'")["totalSize"] >= 3
    assert (
        sf.query("SELECT COUNT() FROM PricebookEntry WHERE Pricebook2.Name = 'Standard Price Book'")["totalSize"] >= 3
    )
    assert sf.query("SELECT COUNT() FROM OpportunityLineItem")["totalSize"] >= 6
    sf.Account.create({"Name": "Extra"})
    control(http, org.url, "seed", {"seed": 8, "records": 12})
    other = snapshot()
    assert [n for _, n, _ in other] != [n for _, n, _ in seeded]
    control(http, org.url, "reset")
    assert snapshot() == seeded
    assert http.get(f"{org.url}/__sandbox__/ca.pem").content == org.ca_file.read_bytes()


def test_fault_profile_rejects_unknown_keys(org: RunningSandbox, http: requests.Session) -> None:
    response = http.post(f"{org.url}/__sandbox__/faults", json={"meteor_strike": 1})
    assert response.status_code == 400
    assert "meteor_strike" in response.json()["error"]
    cleared = http.delete(f"{org.url}/__sandbox__/faults").json()
    assert cleared["server_errors"] == {"rate": 0.0, "sequence": []}
    assert cleared["daily_limit"] == 15000
