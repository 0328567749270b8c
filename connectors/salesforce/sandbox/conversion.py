"""Lead conversion, as a sales user does it in Salesforce's UI (the REST API has no convert call).

Converting a Lead makes, in one transaction: the Account (or uses the one given), a Contact under
it, optionally an Opportunity, and marks the Lead converted with the three ids, its status
"Closed - Converted" and the date. Fields carry over as Salesforce's standard lead mapping carries
them, plus Revline's external ids (an admin maps those custom fields across, so the Contact keeps
the canonical id its lead had).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from connectors.salesforce.sandbox.api_errors import RecordRejectedError, SfError
from connectors.salesforce.sandbox.schema import SOBJECTS
from connectors.salesforce.sandbox.store import Record
from connectors.salesforce.sandbox.values import stamp
from connectors.salesforce.sandbox.writes import Writer

_TO_CONTACT = {
    "FirstName": "FirstName", "LastName": "LastName", "Email": "Email", "Phone": "Phone", "Title": "Title",
    "LeadSource": "LeadSource", "Lead_Score__c": "Lead_Score__c", "Revline_Id__c": "Revline_Id__c",
    "HubSpot_Id__c": "HubSpot_Id__c", "OwnerId": "OwnerId",
}  # fmt: skip
_TO_ACCOUNT = {"Company": "Name", "Industry": "Industry", "City": "BillingCity", "Country": "BillingCountry",
               "OwnerId": "OwnerId"}  # fmt: skip


@dataclass(frozen=True)
class Converted:
    lead: str
    account: str
    contact: str
    opportunity: str | None


def convert(writer: Writer, lead_id: str, user: str, account_id: str | None = None,
            opportunity: Mapping[str, Any] | None = None) -> Converted:
    """Convert `lead_id` as `user`; `opportunity` (fields, may be empty) makes one, None makes none."""
    store = writer.store
    with store.atomic():
        lead = store.get(lead_id)
        if lead is None or lead.sobject != "Lead":
            raise RecordRejectedError([SfError("INVALID_ID_FIELD", f"no lead {lead_id}", ())], status=404)
        if lead.values.get("IsConverted"):
            raise RecordRejectedError([SfError("INVALID_STATUS", "this lead was already converted", ())])
        values = lead.values
        if account_id is None:
            account = writer.create(SOBJECTS["Account"], _carry(values, _TO_ACCOUNT), user).id
        else:
            account = account_id
        contact = writer.create(SOBJECTS["Contact"], {**_carry(values, _TO_CONTACT), "AccountId": account}, user).id
        deal = None
        if opportunity is not None:
            now = writer.clock.now()
            fields = {
                "Name": f"{values.get('Company') or values.get('LastName')} -", "StageName": "Qualification",
                "CloseDate": (now + timedelta(days=30)).date().isoformat(), **opportunity, "AccountId": account,
            }  # fmt: skip
            deal = writer.create(SOBJECTS["Opportunity"], fields, user).id
            # As Salesforce does: the converted contact is the new opportunity's primary contact.
            writer.create(SOBJECTS["OpportunityContactRole"],
                          {"OpportunityId": deal, "ContactId": contact, "IsPrimary": True}, user)
        moment = stamp(writer.clock.now())
        store.put(Record("Lead", {
            **values, "IsConverted": True, "Status": "Closed - Converted", "ConvertedAccountId": account,
            "ConvertedContactId": contact, "ConvertedOpportunityId": deal, "ConvertedDate": moment.date(),
            "LastModifiedDate": moment, "LastModifiedById": user, "SystemModstamp": moment,
        }))  # fmt: skip
        return Converted(lead_id, account, contact, deal)


def _carry(values: Mapping[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    return {target: values[source] for source, target in fields.items() if values.get(source) not in (None, "")}
