"""Pure HubSpot <-> canonical translation: object names, record JSON to SourceRecord, default field mappings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sync_core.domain.changes import ChangeNotice, SourceRecord
from sync_core.domain.errors import ErrorCategory, PermanentError
from sync_core.domain.mapping import FieldMap, ObjectMapping

SYSTEM = "hubspot"
COMPANY_ASSOCIATION = "associatedcompanyid"  # contacts have it as a property; for deals the connector keeps it
# A deal's contacts are v4 associations, not a property: the connector reads and writes them under this name.
CONTACT_ASSOCIATIONS = "associatedcontactids"
# The owner property holds an owner id (GET /crm/v3/owners); the connector reads and writes the owner's email.
OWNER_PROPERTY = "hubspot_owner_id"
ID_PROPERTY = "revline_id"  # the unique custom property Revline upserts by (the canonical id)

# What a deal holds as associations (read and written apart from its properties): field -> associated object.
DEAL_ASSOCIATIONS = {COMPANY_ASSOCIATION: "companies", CONTACT_ASSOCIATIONS: "contacts"}

OBJECT_NAMES = {
    "company": "companies",
    "contact": "contacts",
    "deal": "deals",
    "product": "products",
    "line_item": "line_items",
}

# Contacts keep their modification stamp in `lastmodifieddate` (the property HubSpot's contact
# search documents); every other object in `hs_lastmodifieddate`.
MODIFIED_PROPERTY = dict.fromkeys(OBJECT_NAMES.values(), "hs_lastmodifieddate") | {"contacts": "lastmodifieddate"}
SERVER_PROPERTIES = frozenset({"hs_object_id", "createdate", "hs_lastmodifieddate", "lastmodifieddate", ID_PROPERTY})

# What is read for object types without a field mapping (deals, products, line items).
_DEFAULT_READ = {
    "deals": ("dealname", "amount", "closedate", "dealstage", "pipeline", "deal_currency_code", "hubspot_owner_id"),
    "products": ("name", "hs_sku", "price", "description"),
    "line_items": ("name", "hs_sku", "quantity", "price", "discount", "hs_product_id"),
}

# Canonical industries: Salesforce's standard Industry picklist, lower-cased, plus finer values for
# common HubSpot options. HubSpot has about 150; a value without a canonical one is a mapping error.
INDUSTRIES = {
    "agriculture": "FARMING",
    "apparel": "APPAREL_FASHION",
    "banking": "BANKING",
    "biotechnology": "BIOTECHNOLOGY",
    "chemicals": "CHEMICALS",
    "communications": "WIRELESS",
    "construction": "CONSTRUCTION",
    "consulting": "MANAGEMENT_CONSULTING",
    "education": "EDUCATION_MANAGEMENT",
    "electronics": "CONSUMER_ELECTRONICS",
    "energy": "OIL_ENERGY",
    "engineering": "CIVIL_ENGINEERING",
    "entertainment": "ENTERTAINMENT",
    "environmental": "ENVIRONMENTAL_SERVICES",
    "finance": "FINANCIAL_SERVICES",
    "food_and_beverage": "FOOD_BEVERAGES",
    "government": "GOVERNMENT_ADMINISTRATION",
    "healthcare": "HOSPITAL_HEALTH_CARE",
    "hospitality": "HOSPITALITY",
    "insurance": "INSURANCE",
    "machinery": "MACHINERY",
    "manufacturing": "INDUSTRIAL_AUTOMATION",
    "media": "BROADCAST_MEDIA",
    "not_for_profit": "NON_PROFIT_ORGANIZATION_MANAGEMENT",
    "recreation": "RECREATIONAL_FACILITIES_AND_SERVICES",
    "retail": "RETAIL",
    "shipping": "PACKAGE_FREIGHT_DELIVERY",
    "technology": "COMPUTER_SOFTWARE",
    "telecommunications": "TELECOMMUNICATIONS",
    "transportation": "TRANSPORTATION_TRUCKING_RAILROAD",
    "utilities": "UTILITIES",
    # finer than Salesforce's list; a Salesforce mapping sends these to its nearest value
    "it_services": "INFORMATION_TECHNOLOGY_AND_SERVICES",
    "internet": "INTERNET",
    "logistics": "LOGISTICS_AND_SUPPLY_CHAIN",
    "marketing": "MARKETING_AND_ADVERTISING",
    "real_estate": "REAL_ESTATE",
    "pharmaceuticals": "PHARMACEUTICALS",
}
ORIGINAL_SOURCES = {
    "organic_search": "ORGANIC_SEARCH",
    "paid_search": "PAID_SEARCH",
    "email_marketing": "EMAIL_MARKETING",
    "social_media": "SOCIAL_MEDIA",
    "referrals": "REFERRALS",
    "other_campaigns": "OTHER_CAMPAIGNS",
    "direct_traffic": "DIRECT_TRAFFIC",
    "offline": "OFFLINE",
    "paid_social": "PAID_SOCIAL",
}
LIFECYCLE_STAGES = {
    "subscriber": "subscriber",
    "lead": "lead",
    "mql": "marketingqualifiedlead",
    "sql": "salesqualifiedlead",
    "opportunity": "opportunity",
    "customer": "customer",
    "evangelist": "evangelist",
    "other": "other",
}


# The default sales pipeline's stages, keyed by canonical stage (the finer Salesforce stages share one).
DEAL_STAGES = {
    "prospecting": "appointmentscheduled", "qualification": "qualifiedtobuy", "needs_analysis": "qualifiedtobuy",
    "value_proposition": "presentationscheduled", "decision_makers": "decisionmakerboughtin",
    "perception_analysis": "decisionmakerboughtin", "proposal": "contractsent", "negotiation": "contractsent",
    "closed_won": "closedwon", "closed_lost": "closedlost",
}  # fmt: skip
# The ERP's fulfilment states, in the options of the deal properties Revline creates on install.
ORDER_STATUSES = {"draft": "draft", "sent": "sent", "confirmed": "confirmed", "cancelled": "cancelled"}
DELIVERY_STATUSES = {"pending": "pending", "started": "started", "partial": "partial", "delivered": "delivered"}
INVOICE_STATUSES = {"nothing": "nothing", "to_invoice": "to_invoice", "invoiced": "invoiced", "upselling": "upselling"}
PAYMENT_STATUSES = {s: s for s in ("not_paid", "in_payment", "partial", "paid", "reversed", "overdue")}

# A lead's status as sales works it, in the contact's hs_lead_status options.
LEAD_STATUSES = {"new": "NEW", "working": "IN_PROGRESS", "converted": "OPEN_DEAL", "unqualified": "UNQUALIFIED",
                 "open": "OPEN", "attempted": "ATTEMPTED_TO_CONTACT", "connected": "CONNECTED",
                 "bad_timing": "BAD_TIMING"}  # fmt: skip

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def hubspot_object(object_type: str) -> str:
    """The HubSpot object name for a canonical object type ('company' -> 'companies')."""
    try:
        return OBJECT_NAMES[object_type]
    except KeyError:
        known = ", ".join(sorted(OBJECT_NAMES))
        raise PermanentError(f"HubSpot has no object for {object_type!r} (known: {known})",
                             ErrorCategory.MAPPING) from None


def canonical_object(hubspot_name: str) -> str:
    """The canonical object type for a HubSpot object name ('contacts' -> 'contact')."""
    for canonical, name in OBJECT_NAMES.items():
        if name == hubspot_name:
            return canonical
    raise PermanentError(f"no canonical object type for HubSpot object {hubspot_name!r}", ErrorCategory.MAPPING)


def default_mappings() -> list[ObjectMapping]:
    """HubSpot property names (and option values) for the canonical company and contact fields."""
    return [
        ObjectMapping(SYSTEM, "company", (
            FieldMap("hubspot_id", "hs_object_id"),
            FieldMap("salesforce_id", "salesforce_id"),
            FieldMap("name", "name"),
            FieldMap("domain", "domain"),
            FieldMap("phone", "phone"),
            FieldMap("industry", "industry", INDUSTRIES),
            FieldMap("city", "city"),
            FieldMap("country", "country"),
            FieldMap("annual_revenue", "annualrevenue"),
            FieldMap("owner", OWNER_PROPERTY),
            FieldMap("street", "address"),
            FieldMap("postal_code", "zip"),
            FieldMap("vat_number", "revline_vat_number"),
            FieldMap("customer_number", "revline_customer_number"),
            FieldMap("payment_terms", "revline_payment_terms"),
            FieldMap("credit_hold", "revline_credit_hold"),
            FieldMap("open_invoice_amount", "revline_open_invoice_amount"),
            FieldMap("amount_overdue", "revline_amount_overdue"),
            FieldMap("billing_risk", "revline_billing_risk"),
        )),
        ObjectMapping(SYSTEM, "contact", (
            FieldMap("hubspot_id", "hs_object_id"),
            FieldMap("salesforce_id", "salesforce_id"),
            # Marketing attribution: HubSpot records where the person first came from (read-only there).
            FieldMap("original_source", "hs_analytics_source", ORIGINAL_SOURCES),
            FieldMap("email", "email"),
            FieldMap("first_name", "firstname"),
            FieldMap("last_name", "lastname"),
            FieldMap("phone", "phone"),
            FieldMap("title", "jobtitle"),
            FieldMap("lifecycle_stage", "lifecyclestage", LIFECYCLE_STAGES),
            # HubSpot calculates the score: read it, never write it (READ_ONLY_VALUE).
            FieldMap("lead_score", "hubspotscore"),
            # A HubSpot company id: the engine must translate it to and from a canonical company id.
            FieldMap("company_id", "associatedcompanyid"),
            # The company as the person gave it (a form field), and the lead's status as sales works it.
            FieldMap("company_name", "company"),
            FieldMap("lead_status", "hs_lead_status", LEAD_STATUSES),
            FieldMap("owner", OWNER_PROPERTY),
        )),
        # The ERP's catalogue, published: what sales can put on a deal.
        ObjectMapping(SYSTEM, "product", (
            FieldMap("code", "hs_sku"),
            FieldMap("name", "name"),
            FieldMap("list_price", "price"),
        )),
        ObjectMapping(SYSTEM, "deal", (
            FieldMap("hubspot_id", "hs_object_id"),
            FieldMap("salesforce_id", "salesforce_id"),
            FieldMap("name", "dealname"),
            FieldMap("amount", "amount"),
            FieldMap("currency", "deal_currency_code"),
            FieldMap("stage", "dealstage", DEAL_STAGES),
            FieldMap("close_date", "closedate"),
            # The deal's company and contacts are associations, not properties: the connector reads and
            # writes them. The owner is the owner's email: the connector translates it to and from an owner id.
            FieldMap("company_id", COMPANY_ASSOCIATION),
            FieldMap("contact_ids", CONTACT_ASSOCIATIONS),
            FieldMap("owner", OWNER_PROPERTY),
            FieldMap("order_number", "revline_order_number"),
            FieldMap("order_status", "revline_order_status", ORDER_STATUSES),
            FieldMap("delivery_status", "revline_delivery_status", DELIVERY_STATUSES),
            FieldMap("tracking_ref", "revline_tracking_number"),
            FieldMap("shipped_date", "revline_shipped_date"),
            FieldMap("invoice_number", "revline_invoice_number"),
            FieldMap("invoice_status", "revline_invoice_status", INVOICE_STATUSES),
            FieldMap("invoice_due_date", "revline_invoice_due_date"),
            FieldMap("amount_invoiced", "revline_amount_invoiced"),
            FieldMap("amount_paid", "revline_amount_paid"),
            FieldMap("amount_overdue", "revline_amount_overdue"),
            FieldMap("payment_status", "revline_payment_status", PAYMENT_STATUSES),
        )),
    ]


def read_properties(object_type: str, mapping: ObjectMapping | None) -> list[str]:
    """The properties to ask HubSpot for: the mapped ones, Revline's own, and the modification stamp."""
    name = hubspot_object(object_type)
    fields = [fm.vendor for fm in mapping.fields] if mapping else list(_DEFAULT_READ.get(name, ()))
    fields = [f for f in fields if not (name == "deals" and f in DEAL_ASSOCIATIONS)]
    extra = [ID_PROPERTY, "salesforce_id", MODIFIED_PROPERTY[name], "hs_object_id"]
    return list(dict.fromkeys([*fields, *extra]))


def parse_time(value: str) -> datetime:
    """A HubSpot timestamp (ISO 8601 with `Z`, or epoch milliseconds) as an aware datetime."""
    text = value.strip()
    if text.isdigit():
        return _EPOCH + timedelta(milliseconds=int(text))
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def to_millis(moment: datetime) -> int:
    """Epoch milliseconds, in integers (float seconds * 1000 can land a millisecond short)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def source_record(object_type: str, record: Mapping[str, Any]) -> SourceRecord:
    """A v3 object JSON (`{id, properties, createdAt, updatedAt, archived}`) as a SourceRecord.

    The version is the modification stamp, so it changes exactly when HubSpot says the record did.
    """
    name = hubspot_object(object_type)
    properties: Mapping[str, Any] = record.get("properties") or {}
    stamp = properties.get(MODIFIED_PROPERTY[name]) or properties.get("hs_lastmodifieddate") or record["updatedAt"]
    fields = {
        key: (None if value == "" else value)
        for key, value in properties.items()
        if key not in SERVER_PROPERTIES
    }
    fields["hs_object_id"] = str(record["id"])  # the record's own id, written back to the other systems
    return SourceRecord(
        external_id=str(record["id"]),
        fields=fields,
        version=str(stamp),
        modified_at=parse_time(str(stamp)),
        canonical_id=properties.get(ID_PROPERTY) or None,
        deleted=bool(record.get("archived", False)),
    )


def property_value(value: Any) -> str:
    """A canonical-side value as HubSpot property text; an empty string clears the property."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return str(to_millis(value))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def write_properties(fields: Mapping[str, Any]) -> dict[str, str]:
    return {name: property_value(value) for name, value in fields.items()}


def notices_from_events(system: str, events: Sequence[Mapping[str, Any]]) -> list[ChangeNotice]:
    """Webhook events -> inbox notices, keyed on object, subscription, property and occurrence time.

    HubSpot delivers at least once and out of order, and `eventId` alone does not name a
    change, so the key is built from what the change is; redeliveries collapse onto it.
    """
    notices = []
    for event in events:
        subscription = str(event.get("subscriptionType", ""))
        hubspot_type = subscription.split(".", 1)[0]
        object_id = event.get("objectId")
        if object_id is None or hubspot_type not in _EVENT_OBJECTS:
            continue
        object_type = _EVENT_OBJECTS[hubspot_type]
        key = ":".join(
            ("hubspot", object_type, str(object_id), subscription, str(event.get("propertyName") or ""),
             str(event.get("occurredAt", "")))
        )
        notices.append(ChangeNotice(system, object_type, str(object_id), key, dict(event)))
    return notices


# Webhook subscription prefixes -> canonical object types.
_EVENT_OBJECTS = {"contact": "contact", "company": "company", "deal": "deal", "product": "product"}
