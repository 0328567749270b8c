"""The baseline: the HubSpot <-> Salesforce backfill a customer would write without Revline.

Same two client libraries as Revline's connectors (hubspot-api-client, simple-salesforce), used
the way their READMEs show: list every record page by page, look each one up in the other system
(Salesforce by a SOQL query on Email / Website, HubSpot by email or a domain search), then create
or update it there, one record at a time. Companies go first so contacts can point at them; each
side's id is stored on the copy when it is created (HubSpot_Id__c / salesforce_id), as people do.

    python -m bench.naive_crm --hubspot http://127.0.0.1:8101 --salesforce https://127.0.0.1:8102 \
        --ca /path/to/ca.pem [--direction both|hs-to-sf|sf-to-hs]

`bench/crm.py` runs it side by side with Revline on the same data.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import hubspot
import requests
from hubspot.crm.companies import Filter, FilterGroup, PublicObjectSearchRequest
from hubspot.crm.companies import SimplePublicObjectInput as CompanyInput
from hubspot.crm.companies import SimplePublicObjectInputForCreate as CompanyCreate
from hubspot.crm.contacts import ApiException as ContactApiException
from hubspot.crm.contacts import SimplePublicObjectInput as ContactInput
from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactCreate
from simple_salesforce.api import Salesforce

# The few industry values a customer's script would translate (HubSpot option <-> Salesforce picklist).
INDUSTRY_TO_SF = {
    "COMPUTER_SOFTWARE": "Technology", "BANKING": "Banking", "RETAIL": "Retail", "INSURANCE": "Insurance",
    "CONSTRUCTION": "Construction", "HOSPITALITY": "Hospitality", "UTILITIES": "Utilities",
}  # fmt: skip
INDUSTRY_TO_HS = {v: k for k, v in INDUSTRY_TO_SF.items()}


@dataclass
class Tally:
    created: int = 0
    updated: int = 0


def connect_hubspot(url: str, token: str = "sandbox-token") -> hubspot.HubSpot:
    return hubspot.Client.create(access_token=token, host=url.rstrip("/"))


def connect_salesforce(
    url: str, ca_file: str | None, client_id: str = "sandbox", secret: str = "sandbox"
) -> Salesforce:
    """OAuth client credentials, then simple-salesforce over that session."""
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_file or True
    token = session.post(
        f"{url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    ).json()
    return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=session)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# -- HubSpot -> Salesforce -------------------------------------------------------------------------


def _hubspot_pages(api: object, properties: list[str]):  # type: ignore[no-untyped-def]
    after = None
    while True:
        page = api.get_page(limit=100, after=after, properties=properties)  # type: ignore[attr-defined]
        yield from page.results
        if page.paging is None or page.paging.next is None:
            return
        after = page.paging.next.after


def hubspot_to_salesforce(hs: hubspot.HubSpot, sf: Salesforce) -> Tally:
    tally = Tally()
    accounts: dict[str, str] = {}  # HubSpot company id -> Salesforce Account Id
    companies = hs.crm.companies.basic_api
    for company in _hubspot_pages(companies, ["name", "domain", "phone", "city", "country", "industry",
                                              "annualrevenue"]):
        p = company.properties
        fields = {
            "Name": p.get("name"), "Website": p.get("domain"), "Phone": p.get("phone"),
            "BillingCity": p.get("city"), "BillingCountry": p.get("country"),
            "Industry": INDUSTRY_TO_SF.get(p.get("industry") or ""), "AnnualRevenue": p.get("annualrevenue"),
        }
        found = sf.query(f"SELECT Id FROM Account WHERE Website = {_quote(p.get('domain') or '')}")
        if found["totalSize"]:
            account_id = found["records"][0]["Id"]
            sf.Account.update(account_id, fields)
            tally.updated += 1
        else:
            account_id = sf.Account.create({**fields, "HubSpot_Id__c": company.id})["id"]
            tally.created += 1
        accounts[company.id] = account_id
    contacts = hs.crm.contacts.basic_api
    for contact in _hubspot_pages(contacts, ["email", "firstname", "lastname", "phone", "jobtitle",
                                             "associatedcompanyid"]):
        p = contact.properties
        fields = {
            "Email": p.get("email"), "FirstName": p.get("firstname"), "LastName": p.get("lastname"),
            "Phone": p.get("phone"), "Title": p.get("jobtitle"),
            "AccountId": accounts.get(p.get("associatedcompanyid") or ""),
        }
        found = sf.query(f"SELECT Id FROM Contact WHERE Email = {_quote(p.get('email') or '')}")
        if found["totalSize"]:
            sf.Contact.update(found["records"][0]["Id"], fields)
            tally.updated += 1
        else:
            sf.Contact.create({**fields, "HubSpot_Id__c": contact.id})
            tally.created += 1
    return tally


# -- Salesforce -> HubSpot -------------------------------------------------------------------------


def salesforce_to_hubspot(hs: hubspot.HubSpot, sf: Salesforce) -> Tally:
    tally = Tally()
    companies: dict[str, str] = {}  # Salesforce Account Id -> HubSpot company id
    soql = "SELECT Id, Name, Website, Phone, BillingCity, BillingCountry, Industry, AnnualRevenue FROM Account"
    for account in sf.query_all_iter(soql):
        properties = {
            "name": account["Name"], "domain": account["Website"], "phone": account["Phone"],
            "city": account["BillingCity"], "country": account["BillingCountry"],
            "industry": INDUSTRY_TO_HS.get(account["Industry"] or ""),
            "annualrevenue": account["AnnualRevenue"], "salesforce_id": account["Id"],
        }
        properties = {k: str(v) for k, v in properties.items() if v is not None}
        search = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=[Filter(property_name="domain", operator="EQ",
                                                       value=account["Website"])])],
            limit=1,
        )
        found = hs.crm.companies.search_api.do_search(search)
        if found.results:
            company_id = found.results[0].id
            hs.crm.companies.basic_api.update(company_id, CompanyInput(properties=properties))
            tally.updated += 1
        else:
            company_id = hs.crm.companies.basic_api.create(CompanyCreate(properties=properties)).id
            tally.created += 1
        companies[account["Id"]] = company_id
    soql = "SELECT Id, Email, FirstName, LastName, Phone, Title, AccountId FROM Contact"
    for row in sf.query_all_iter(soql):
        properties = {
            "email": row["Email"], "firstname": row["FirstName"], "lastname": row["LastName"],
            "phone": row["Phone"], "jobtitle": row["Title"], "associatedcompanyid": companies.get(row["AccountId"]),
            "salesforce_id": row["Id"],
        }
        properties = {k: str(v) for k, v in properties.items() if v is not None}
        try:
            existing = hs.crm.contacts.basic_api.get_by_id(row["Email"], id_property="email")
        except ContactApiException as error:
            if error.status != 404:
                raise
            existing = None
        if existing is not None:
            hs.crm.contacts.basic_api.update(existing.id, ContactInput(properties=properties))
            tally.updated += 1
        else:
            hs.crm.contacts.basic_api.create(ContactCreate(properties=properties))
            tally.created += 1
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hubspot", default="http://127.0.0.1:8101")
    parser.add_argument("--salesforce", default="https://127.0.0.1:8102")
    parser.add_argument("--ca", default=None, help="the Salesforce sandbox's CA (GET /__sandbox__/ca.pem)")
    parser.add_argument("--direction", choices=["both", "hs-to-sf", "sf-to-hs"], default="both")
    args = parser.parse_args()
    hs, sf = connect_hubspot(args.hubspot), connect_salesforce(args.salesforce, args.ca)
    if args.direction in ("both", "hs-to-sf"):
        print("HubSpot -> Salesforce:", hubspot_to_salesforce(hs, sf))
    if args.direction in ("both", "sf-to-hs"):
        print("Salesforce -> HubSpot:", salesforce_to_hubspot(hs, sf))


if __name__ == "__main__":
    main()
