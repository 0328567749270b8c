"""Pure translations: object types to sObjects, rows to SourceRecords, writes to sObject bodies, default mappings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sync_core.domain.changes import SourceRecord, WriteRequest
from sync_core.domain.errors import ErrorCategory, PermanentError
from sync_core.domain.mapping import FieldMap, ObjectMapping

SOBJECTS = {
    "company": "Account",
    "contact": "Contact",
    "deal": "Opportunity",
    "product": "Product2",
    "price_entry": "PricebookEntry",
}
# The external-id field Revline writes its canonical id to: the upsert key that makes a retry
# after an unknown outcome update the record the first attempt created instead of duplicating it.
REVLINE_ID = "Revline_Id__c"
BULK_NULL = "#N/A"  # how a Bulk API CSV sets a field to null (an empty cell leaves it unchanged)
_ID = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?$")
# Salesforce's picklist values for Industry, keyed by canonical (lower snake case) industry.
INDUSTRIES = {
    v.lower().replace(" & ", "_and_").replace(" ", "_"): v
    for v in (
        "Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications", "Construction",
        "Consulting", "Education", "Electronics", "Energy", "Engineering", "Entertainment", "Environmental",
        "Finance", "Food & Beverage", "Government", "Healthcare", "Hospitality", "Insurance", "Machinery",
        "Manufacturing", "Media", "Not For Profit", "Other", "Recreation", "Retail", "Shipping", "Technology",
        "Telecommunications", "Transportation", "Utilities",
    )
}  # fmt: skip
# Finer canonical industries (HubSpot has them) sent to Salesforce's nearest value; listed after the
# picklist's own, so reading a value back gives the coarse canonical one.
INDUSTRIES |= {
    "it_services": "Technology", "internet": "Technology", "logistics": "Transportation",
    "marketing": "Media", "real_estate": "Other", "pharmaceuticals": "Biotechnology",
}  # fmt: skip
# Marketing attribution, owned by HubSpot, lands in the standard LeadSource picklist.
ORIGINAL_SOURCES = {
    "organic_search": "Web", "paid_search": "Web", "email_marketing": "Web", "social_media": "Web",
    "referrals": "Partner Referral", "other_campaigns": "Other", "direct_traffic": "Web",
    "offline": "Phone Inquiry", "paid_social": "Web", "purchased_list": "Purchased List",
}  # fmt: skip
LIFECYCLE_STAGES = {
    "subscriber": "Subscriber",
    "lead": "Lead",
    "mql": "Marketing Qualified Lead",
    "sql": "Sales Qualified Lead",
    "opportunity": "Opportunity",
    "customer": "Customer",
    "evangelist": "Evangelist",
    "other": "Other",
}


# Opportunity stages, keyed by canonical stage.
STAGES = {
    "prospecting": "Prospecting", "qualification": "Qualification", "needs_analysis": "Needs Analysis",
    "value_proposition": "Value Proposition", "decision_makers": "Id. Decision Makers",
    "perception_analysis": "Perception Analysis", "proposal": "Proposal/Price Quote",
    "negotiation": "Negotiation/Review", "closed_won": "Closed Won", "closed_lost": "Closed Lost",
}  # fmt: skip
# What the ERP reports back, in the picklists of Revline's custom Opportunity fields.
ORDER_STATUSES = {"draft": "Draft", "sent": "Quotation Sent", "confirmed": "Confirmed", "cancelled": "Cancelled"}
DELIVERY_STATUSES = {"pending": "Pending", "started": "Started", "partial": "Partially Delivered",
                     "delivered": "Delivered"}  # fmt: skip
INVOICE_STATUSES = {"nothing": "Nothing to Invoice", "to_invoice": "To Invoice", "invoiced": "Invoiced",
                    "upselling": "Upselling"}  # fmt: skip
PAYMENT_STATUSES = {"not_paid": "Not Paid", "in_payment": "In Payment", "partial": "Partially Paid", "paid": "Paid",
                    "reversed": "Reversed", "overdue": "Overdue"}  # fmt: skip
# The Opportunity's products, read with it from OpportunityLineItem as canonical order lines.
LINES = "OpportunityLineItems"
# The Opportunity's contacts, read and written as its OpportunityContactRoles (the ContactIds, None for none).
CONTACT_ROLES = "OpportunityContactRoles"
# Who owns a record: a User Id in Salesforce, the user's email in the records the connector reads and writes.
OWNER = "OwnerId"
# A product's list price is its entry in the standard price book; Product2 reads and writes carry it as this field.
PRICE = "UnitPrice"
# A canonical contact lives in Salesforce as a Lead until sales converts it, as a Contact after (or
# from the start, when it belongs to an account sales already has).
LEAD, CONTACT = "Lead", "Contact"
LEAD_PREFIX = "00Q"
# HubSpot's finer statuses go to the nearest of Salesforce's four, listed after them so reading one back
# gives the first.
LEAD_STATUSES = {"new": "Open - Not Contacted", "working": "Working - Contacted", "converted": "Closed - Converted",
                 "unqualified": "Closed - Not Converted", "open": "Open - Not Contacted",
                 "attempted": "Working - Contacted", "connected": "Working - Contacted",
                 "bad_timing": "Closed - Not Converted"}  # fmt: skip
# What a converted lead tells about its conversion, reported on the contact it became.
CONVERSION_FIELDS = ("Status", "ConvertedAccountId", "ConvertedOpportunityId", "ConvertedDate")
# Standard Lead fields a Contact does not have.
LEAD_ONLY = frozenset({"Company", "Status", "IsConverted", "ConvertedContactId", *CONVERSION_FIELDS})


def person_sobject(external_id: str | None, fields: Mapping[str, Any]) -> str:
    """Where a canonical contact is written: its record's own sObject, else a Contact under an
    account, else a Lead."""
    if external_id:
        return LEAD if external_id.startswith(LEAD_PREFIX) else CONTACT
    return CONTACT if fields.get("AccountId") else LEAD


def conversion_record(row: Mapping[str, Any], integration_user_id: str | None) -> SourceRecord | None:
    """A converted Lead as news of the Contact it became: the conversion's fields, taking over the lead."""
    contact = row.get("ConvertedContactId")
    if not row.get("IsConverted") or not contact:
        return None
    lead = to_source_record(row, integration_user_id)
    fields = {name: row.get(name) for name in CONVERSION_FIELDS if name in row}
    return replace(lead, external_id=str(contact), fields=fields, replaces=lead.external_id,
                   canonical_id=None, last_written_by_revline=False)  # fmt: skip


def sobject_for(object_type: str) -> str:
    """The sObject holding a canonical object type ('company' -> 'Account')."""
    try:
        return SOBJECTS[object_type]
    except KeyError:
        known = ", ".join(sorted(SOBJECTS))
        raise PermanentError(
            f"salesforce has no sObject for {object_type!r} (known: {known})", ErrorCategory.MAPPING
        ) from None


def is_record_id(value: str) -> bool:
    """True for a 15- or 18-character Salesforce id (anything else cannot be quoted into SOQL safely)."""
    return bool(_ID.match(value))


def parse_stamp(text: str) -> datetime:
    """A Salesforce datetime ('2024-01-15T10:20:30.000+0000') as an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def soql_datetime(moment: datetime) -> str:
    """A SOQL datetime literal, whole seconds (SOQL wants no quotes and an explicit zone)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_string(value: str) -> str:
    """A quoted SOQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def to_source_record(row: Mapping[str, Any], integration_user_id: str | None) -> SourceRecord:
    """A queried row as the engine sees it; parent relationships and `attributes` are left out."""
    fields = {k: v for k, v in row.items() if k != "attributes" and not isinstance(v, Mapping)}
    stamp = str(row["SystemModstamp"])
    modified = row.get("LastModifiedDate") or stamp
    canonical = row.get(REVLINE_ID)
    return SourceRecord(
        external_id=str(row["Id"]),
        fields=fields,
        version=stamp,
        modified_at=parse_stamp(str(modified)),
        canonical_id=str(canonical) if canonical else None,
        last_written_by_revline=integration_user_id is not None and row.get("LastModifiedById") == integration_user_id,
        deleted=bool(row.get("IsDeleted")),
    )


def _body(write: WriteRequest) -> dict[str, Any]:
    return {k: v for k, v in write.fields.items() if k not in ("Id", "attributes", REVLINE_ID)}


def to_upsert_record(sobject: str, write: WriteRequest) -> dict[str, Any]:
    """An sObject Collections upsert record keyed on Revline_Id__c = the canonical id."""
    return {"attributes": {"type": sobject}, **_body(write), REVLINE_ID: write.canonical_id}


def to_update_record(sobject: str, write: WriteRequest) -> dict[str, Any]:
    """An sObject Collections update of a record Revline already knows, stamping its canonical id on it."""
    return {"attributes": {"type": sobject}, "Id": write.external_id, **_body(write), REVLINE_ID: write.canonical_id}


def _cell(value: Any) -> str:
    if value is None:
        return BULK_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_bulk_row(write: WriteRequest, by_id: bool) -> dict[str, str]:
    """A Bulk API 2.0 CSV row: every value a string, null written as #N/A."""
    row = {k: _cell(v) for k, v in _body(write).items()}
    row[REVLINE_ID] = write.canonical_id
    if by_id:
        row["Id"] = str(write.external_id)
    return row


def line_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """An OpportunityLineItem as a canonical order line."""
    return {
        "product_code": row.get("ProductCode"),
        "description": row.get("Description") or None,
        "quantity": row.get("Quantity"),
        "unit_price": row.get("UnitPrice"),
    }


def default_mappings(system: str = "salesforce") -> list[ObjectMapping]:
    """Canonical companies, contacts and deals in Salesforce's field names, for a connection called `system`.

    A contact's company_id holds the Account's Salesforce Id here (and a deal's contact_ids its
    contacts' Ids); the engine translates them through its links to the canonical records and back.
    An owner is the user's email: the connector translates it to and from the OwnerId.
    """
    return [
        ObjectMapping(
            system,
            "company",
            (
                FieldMap("salesforce_id", "Id"),
                FieldMap("hubspot_id", "HubSpot_Id__c"),
                FieldMap("name", "Name"),
                FieldMap("domain", "Website"),
                FieldMap("phone", "Phone"),
                FieldMap("industry", "Industry", INDUSTRIES),
                FieldMap("city", "BillingCity"),
                FieldMap("country", "BillingCountry"),
                FieldMap("annual_revenue", "AnnualRevenue"),
                FieldMap("owner", OWNER),
                FieldMap("street", "BillingStreet"),
                FieldMap("postal_code", "BillingPostalCode"),
                FieldMap("vat_number", "VAT_Number__c"),
                FieldMap("customer_number", "ERP_Customer_Ref__c"),
                FieldMap("payment_terms", "Payment_Terms__c"),
                FieldMap("credit_hold", "Credit_Hold__c"),
                FieldMap("open_invoice_amount", "Open_Invoice_Amount__c"),
                FieldMap("amount_overdue", "Amount_Overdue__c"),
                FieldMap("billing_risk", "Billing_Risk__c"),
            ),
        ),
        ObjectMapping(
            system,
            "contact",
            (
                FieldMap("salesforce_id", "Id"),
                FieldMap("hubspot_id", "HubSpot_Id__c"),
                FieldMap("original_source", "LeadSource", ORIGINAL_SOURCES),
                FieldMap("email", "Email"),
                FieldMap("first_name", "FirstName"),
                FieldMap("last_name", "LastName"),
                FieldMap("phone", "Phone"),
                FieldMap("title", "Title"),
                FieldMap("lifecycle_stage", "Lifecycle_Stage__c", LIFECYCLE_STAGES),
                FieldMap("lead_score", "Lead_Score__c"),
                # The account's Salesforce Id; the engine translates it to and from the canonical company.
                FieldMap("company_id", "AccountId"),
                FieldMap("owner", OWNER),
                # A lead's own fields (a Contact has none of them): its company's name, its status, and
                # once converted, the account and opportunity it became.
                FieldMap("company_name", "Company"),
                FieldMap("lead_status", "Status", LEAD_STATUSES),
                FieldMap("converted_company_id", "ConvertedAccountId"),
                FieldMap("converted_deal_id", "ConvertedOpportunityId"),
            ),
        ),
        ObjectMapping(
            system,
            "product",
            (
                FieldMap("code", "ProductCode"),
                FieldMap("name", "Name"),
                FieldMap("active", "IsActive"),
                FieldMap("list_price", PRICE),
            ),
        ),
        ObjectMapping(
            system,
            "deal",
            (
                FieldMap("salesforce_id", "Id"),
                FieldMap("hubspot_id", "HubSpot_Id__c"),
                FieldMap("name", "Name"),
                FieldMap("amount", "Amount"),
                FieldMap("stage", "StageName", STAGES),
                FieldMap("close_date", "CloseDate"),
                FieldMap("company_id", "AccountId"),
                FieldMap("contact_ids", CONTACT_ROLES),
                FieldMap("owner", OWNER),
                FieldMap("lines", LINES),
                FieldMap("order_number", "ERP_Order_Number__c"),
                FieldMap("order_status", "ERP_Order_Status__c", ORDER_STATUSES),
                FieldMap("delivery_status", "Delivery_Status__c", DELIVERY_STATUSES),
                FieldMap("tracking_ref", "Tracking_Number__c"),
                FieldMap("shipped_date", "Shipped_Date__c"),
                FieldMap("invoice_number", "Invoice_Number__c"),
                FieldMap("invoice_status", "Invoice_Status__c", INVOICE_STATUSES),
                FieldMap("invoice_due_date", "Invoice_Due_Date__c"),
                FieldMap("amount_invoiced", "Amount_Invoiced__c"),
                FieldMap("amount_paid", "Amount_Paid__c"),
                FieldMap("amount_overdue", "Amount_Overdue__c"),
                FieldMap("payment_status", "Payment_Status__c", PAYMENT_STATUSES),
            ),
        ),
    ]
