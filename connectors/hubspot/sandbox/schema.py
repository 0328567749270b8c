"""The sandbox's CRM schema: object types, their properties, enumeration options and unique keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OBJECT_TYPES = ("contacts", "companies", "deals", "products", "line_items")

SINGULAR = {
    "contacts": "contact",
    "companies": "company",
    "deals": "deal",
    "products": "product",
    "line_items": "line_item",
}

# HubSpot's object type ids; paths accept them as well as the names.
OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "products": "0-7", "line_items": "0-8"}

# Contacts keep their modification time in `lastmodifieddate` (the property HubSpot's contact search
# documents); the other objects in `hs_lastmodifieddate`. The sandbox keeps both on contacts.
MODIFIED_PROPERTY = dict.fromkeys(OBJECT_TYPES, "hs_lastmodifieddate") | {"contacts": "lastmodifieddate"}

# What GET/list/search return when no `properties` are asked for (HubSpot's defaults).
DEFAULT_PROPERTIES = {
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "deals": ("amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate", "hs_object_id",
              "pipeline"),
    "products": ("createdate", "description", "hs_lastmodifieddate", "hs_object_id", "name", "price"),
    "line_items": ("createdate", "hs_lastmodifieddate", "hs_object_id", "name", "price", "quantity"),
}


def resolve_object_type(name: str) -> str | None:
    """The plural object name for a path segment: 'contacts', 'contact' or '0-1'."""
    lowered = name.lower()
    if lowered in OBJECT_TYPES:
        return lowered
    for plural, singular in SINGULAR.items():
        if lowered == singular or name == OBJECT_TYPE_IDS[plural]:
            return plural
    return None


@dataclass(frozen=True)
class PropertyDef:
    """One property as GET /crm/v3/properties/{objectType} describes it."""

    name: str
    label: str
    type: str  # string | number | enumeration | datetime | date | bool
    field_type: str  # text | textarea | number | select | radio | date | booleancheckbox | phonenumber | ...
    group: str
    options: tuple[tuple[str, str], ...] = ()  # (value, label)
    unique: bool = False
    read_only: bool = False  # kept or calculated by the server: writing it is a VALIDATION_ERROR
    hubspot_defined: bool = True
    description: str = ""

    @property
    def option_values(self) -> frozenset[str]:
        return frozenset(value for value, _ in self.options)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group,
            "options": [
                {"value": value, "label": label, "displayOrder": index, "hidden": False}
                for index, (value, label) in enumerate(self.options)
            ],
            "displayOrder": -1,
            "calculated": self.read_only and self.name not in _SERVER_KEPT,
            "externalOptions": False,
            "hasUniqueValue": self.unique,
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "formField": not self.read_only,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "createdAt": "2019-08-06T02:41:52.000Z",
            "updatedAt": "2019-08-06T02:41:52.000Z",
            "archived": False,
        }


def _options(*values: str) -> tuple[tuple[str, str], ...]:
    return tuple((value, value.replace("_", " ").title()) for value in values)


_SERVER_KEPT = frozenset({"hs_object_id", "createdate", "hs_lastmodifieddate", "lastmodifieddate"})

LIFECYCLE_STAGES = (
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
)
LEAD_STATUSES = _options(
    "NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT", "CONNECTED", "BAD_TIMING"
)
ANALYTICS_SOURCES = _options(
    "ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING", "SOCIAL_MEDIA", "REFERRALS", "OTHER_CAMPAIGNS",
    "DIRECT_TRAFFIC", "OFFLINE", "PAID_SOCIAL",
)
# HubSpot's built-in company industry options (about 150; they cannot be deleted in a portal).
INDUSTRIES = _options(
    "ACCOUNTING", "AIRLINES_AVIATION", "ALTERNATIVE_DISPUTE_RESOLUTION", "ALTERNATIVE_MEDICINE", "ANIMATION",
    "APPAREL_FASHION", "ARCHITECTURE_PLANNING", "ARTS_AND_CRAFTS", "AUTOMOTIVE", "AVIATION_AEROSPACE", "BANKING",
    "BIOTECHNOLOGY", "BROADCAST_MEDIA", "BUILDING_MATERIALS", "BUSINESS_SUPPLIES_AND_EQUIPMENT", "CAPITAL_MARKETS",
    "CHEMICALS", "CIVIC_SOCIAL_ORGANIZATION", "CIVIL_ENGINEERING", "COMMERCIAL_REAL_ESTATE",
    "COMPUTER_NETWORK_SECURITY", "COMPUTER_GAMES", "COMPUTER_HARDWARE", "COMPUTER_NETWORKING", "COMPUTER_SOFTWARE",
    "INTERNET", "CONSTRUCTION", "CONSUMER_ELECTRONICS", "CONSUMER_GOODS", "CONSUMER_SERVICES", "COSMETICS", "DAIRY",
    "DEFENSE_SPACE", "DESIGN", "EDUCATION_MANAGEMENT", "E_LEARNING", "ELECTRICAL_ELECTRONIC_MANUFACTURING",
    "ENTERTAINMENT", "ENVIRONMENTAL_SERVICES", "EVENTS_SERVICES", "EXECUTIVE_OFFICE", "FACILITIES_SERVICES",
    "FARMING", "FINANCIAL_SERVICES", "FINE_ART", "FISHERY", "FOOD_BEVERAGES", "FOOD_PRODUCTION", "FUND_RAISING",
    "FURNITURE", "GAMBLING_CASINOS", "GLASS_CERAMICS_CONCRETE", "GOVERNMENT_ADMINISTRATION", "GOVERNMENT_RELATIONS",
    "GRAPHIC_DESIGN", "HEALTH_WELLNESS_AND_FITNESS", "HIGHER_EDUCATION", "HOSPITAL_HEALTH_CARE", "HOSPITALITY",
    "HUMAN_RESOURCES", "IMPORT_AND_EXPORT", "INDIVIDUAL_FAMILY_SERVICES", "INDUSTRIAL_AUTOMATION",
    "INFORMATION_SERVICES", "INFORMATION_TECHNOLOGY_AND_SERVICES", "INSURANCE", "INTERNATIONAL_AFFAIRS",
    "INTERNATIONAL_TRADE_AND_DEVELOPMENT", "INVESTMENT_BANKING", "INVESTMENT_MANAGEMENT", "JUDICIARY",
    "LAW_ENFORCEMENT", "LAW_PRACTICE", "LEGAL_SERVICES", "LEGISLATIVE_OFFICE", "LEISURE_TRAVEL_TOURISM", "LIBRARIES",
    "LOGISTICS_AND_SUPPLY_CHAIN", "LUXURY_GOODS_JEWELRY", "MACHINERY", "MANAGEMENT_CONSULTING", "MARITIME",
    "MARKET_RESEARCH", "MARKETING_AND_ADVERTISING", "MECHANICAL_OR_INDUSTRIAL_ENGINEERING", "MEDIA_PRODUCTION",
    "MEDICAL_DEVICES", "MEDICAL_PRACTICE", "MENTAL_HEALTH_CARE", "MILITARY", "MINING_METALS",
    "MOTION_PICTURES_AND_FILM", "MUSEUMS_AND_INSTITUTIONS", "MUSIC", "NANOTECHNOLOGY", "NEWSPAPERS",
    "NON_PROFIT_ORGANIZATION_MANAGEMENT", "OIL_ENERGY", "ONLINE_MEDIA", "OUTSOURCING_OFFSHORING",
    "PACKAGE_FREIGHT_DELIVERY", "PACKAGING_AND_CONTAINERS", "PAPER_FOREST_PRODUCTS", "PERFORMING_ARTS",
    "PHARMACEUTICALS", "PHILANTHROPY", "PHOTOGRAPHY", "PLASTICS", "POLITICAL_ORGANIZATION",
    "PRIMARY_SECONDARY_EDUCATION", "PRINTING", "PROFESSIONAL_TRAINING_COACHING", "PROGRAM_DEVELOPMENT",
    "PUBLIC_POLICY", "PUBLIC_RELATIONS_AND_COMMUNICATIONS", "PUBLIC_SAFETY", "PUBLISHING", "RAILROAD_MANUFACTURE",
    "RANCHING", "REAL_ESTATE", "RECREATIONAL_FACILITIES_AND_SERVICES", "RELIGIOUS_INSTITUTIONS",
    "RENEWABLES_ENVIRONMENT", "RESEARCH", "RESTAURANTS", "RETAIL", "SECURITY_AND_INVESTIGATIONS", "SEMICONDUCTORS",
    "SHIPBUILDING", "SPORTING_GOODS", "SPORTS", "STAFFING_AND_RECRUITING", "SUPERMARKETS", "TELECOMMUNICATIONS",
    "TEXTILES", "THINK_TANKS", "TOBACCO", "TRANSLATION_AND_LOCALIZATION", "TRANSPORTATION_TRUCKING_RAILROAD",
    "UTILITIES", "VENTURE_CAPITAL_PRIVATE_EQUITY", "VETERINARY", "WAREHOUSING", "WHOLESALE", "WINE_AND_SPIRITS",
    "WIRELESS", "WRITING_AND_EDITING", "MOBILE_GAMES",
)
DEAL_STAGES = (
    ("appointmentscheduled", "Appointment Scheduled"),
    ("qualifiedtobuy", "Qualified To Buy"),
    ("presentationscheduled", "Presentation Scheduled"),
    ("decisionmakerboughtin", "Decision Maker Bought-In"),
    ("contractsent", "Contract Sent"),
    ("closedwon", "Closed Won"),
    ("closedlost", "Closed Lost"),
)
CURRENCIES = _options("USD", "EUR", "GBP", "CAD", "AUD", "CHF")
BILLING_PERIODS = _options("monthly", "quarterly", "annually")


def _p(name: str, label: str, kind: str = "string", field: str = "text", group: str = "", **more: Any) -> PropertyDef:
    return PropertyDef(name, label, kind, field, group, **more)


def _common(group: str) -> list[PropertyDef]:
    return [
        _p("hs_object_id", "Record ID", "number", "number", group, read_only=True),
        _p("createdate", "Create Date", "datetime", "date", group, read_only=True),
        _p("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", group, read_only=True),
        # Its options are the account's owners (owners.py): the store checks them, the properties API lists them.
        _p("hubspot_owner_id", "Owner", "enumeration", "select", group),
    ]


def _revline(group: str) -> list[PropertyDef]:
    # The custom properties Revline's private app creates on install: the canonical id Revline
    # upserts by (unique, so usable as a batch upsert idProperty) and the Salesforce record id.
    return [
        _p("revline_id", "Revline ID", group=group, unique=True, hubspot_defined=False,
           description="Revline's canonical id for this record."),
        _p("salesforce_id", "Salesforce ID", group=group, hubspot_defined=False,
           description="The Salesforce record id Revline linked this record to."),
    ]


def _erp_company(group: str) -> list[PropertyDef]:
    # What the ERP keeps about a customer, shown to marketing and sales (Revline creates them on install).
    return [
        _p("revline_vat_number", "VAT number", group=group, hubspot_defined=False),
        _p("revline_customer_number", "ERP customer number", group=group, hubspot_defined=False),
        _p("revline_payment_terms", "Payment terms", group=group, hubspot_defined=False),
        _p("revline_credit_hold", "Credit hold", "bool", "booleancheckbox", group, hubspot_defined=False,
           options=(("true", "Yes"), ("false", "No"))),
        _p("revline_open_invoice_amount", "Open invoice amount", "number", "number", group, hubspot_defined=False),
        _p("revline_amount_overdue", "Amount overdue", "number", "number", group, hubspot_defined=False),
        _p("revline_billing_risk", "Billing risk", "bool", "booleancheckbox", group, hubspot_defined=False,
           options=(("true", "Yes"), ("false", "No"))),
    ]


def _erp_deal(group: str) -> list[PropertyDef]:
    # The order the ERP placed for the deal and how it is delivered, invoiced and paid.
    def choice(name: str, label: str, *values: str) -> PropertyDef:
        return _p(name, label, "enumeration", "select", group, options=_options(*values), hubspot_defined=False)

    return [
        _p("revline_order_number", "ERP order number", group=group, hubspot_defined=False),
        choice("revline_order_status", "ERP order status", "draft", "sent", "confirmed", "cancelled"),
        choice("revline_delivery_status", "Delivery status", "pending", "started", "partial", "delivered"),
        _p("revline_tracking_number", "Tracking number", group=group, hubspot_defined=False),
        _p("revline_shipped_date", "Shipped date", "date", "date", group, hubspot_defined=False),
        _p("revline_invoice_number", "Invoice number", group=group, hubspot_defined=False),
        choice("revline_invoice_status", "Invoice status", "nothing", "to_invoice", "invoiced", "upselling"),
        _p("revline_invoice_due_date", "Invoice due date", "date", "date", group, hubspot_defined=False),
        _p("revline_amount_invoiced", "Amount invoiced", "number", "number", group, hubspot_defined=False),
        _p("revline_amount_paid", "Amount paid", "number", "number", group, hubspot_defined=False),
        _p("revline_amount_overdue", "Amount overdue", "number", "number", group, hubspot_defined=False),
        choice("revline_payment_status", "Payment status", "not_paid", "in_payment", "partial", "paid", "reversed",
               "overdue"),
    ]


def _build() -> dict[str, dict[str, PropertyDef]]:
    contact, company, deal, product, line = (
        "contactinformation", "companyinformation", "dealinformation", "productinformation", "lineiteminformation"
    )
    schemas: dict[str, list[PropertyDef]] = {
        "contacts": [
            *_common(contact),
            _p("lastmodifieddate", "Last Modified Date", "datetime", "date", contact, read_only=True),
            # HubSpot enforces one contact per email address though the property is not flagged unique.
            _p("email", "Email", field="text", group=contact),
            _p("firstname", "First Name", group=contact),
            _p("lastname", "Last Name", group=contact),
            _p("phone", "Phone Number", field="phonenumber", group=contact),
            _p("mobilephone", "Mobile Phone Number", field="phonenumber", group=contact),
            _p("jobtitle", "Job Title", group=contact),
            _p("company", "Company Name", group=contact),
            _p("website", "Website URL", group=contact),
            _p("address", "Street Address", group=contact),
            _p("city", "City", group=contact),
            _p("state", "State/Region", group=contact),
            _p("zip", "Postal Code", group=contact),
            _p("country", "Country/Region", group=contact),
            _p("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", contact, options=LIFECYCLE_STAGES),
            _p("hs_lead_status", "Lead Status", "enumeration", "radio", contact, options=LEAD_STATUSES),
            _p("hs_analytics_source", "Original Source", "enumeration", "select", contact,
               options=ANALYTICS_SOURCES, read_only=True),
            _p("hubspotscore", "HubSpot Score", "number", "number", contact, read_only=True),
            _p("associatedcompanyid", "Primary Associated Company ID", "number", "number", contact),
            *_revline(contact),
        ],
        "companies": [
            *_common(company),
            _p("name", "Company name", group=company),
            _p("domain", "Company Domain Name", group=company),
            _p("website", "Website URL", group=company),
            _p("phone", "Phone Number", field="phonenumber", group=company),
            _p("industry", "Industry", "enumeration", "select", company, options=INDUSTRIES),
            _p("address", "Street Address", group=company),
            _p("city", "City", group=company),
            _p("state", "State/Region", group=company),
            _p("zip", "Postal Code", group=company),
            _p("country", "Country/Region", group=company),
            _p("numberofemployees", "Number of Employees", "number", "number", company),
            _p("annualrevenue", "Annual Revenue", "number", "number", company),
            _p("description", "Description", field="textarea", group=company),
            _p("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", company, options=LIFECYCLE_STAGES),
            *_revline(company),
            *_erp_company(company),
        ],
        "deals": [
            *_common(deal),
            _p("dealname", "Deal Name", group=deal),
            _p("amount", "Amount", "number", "number", deal),
            _p("closedate", "Close Date", "datetime", "date", deal),
            _p("dealstage", "Deal Stage", "enumeration", "radio", deal, options=DEAL_STAGES),
            _p("pipeline", "Pipeline", "enumeration", "select", deal, options=(("default", "Sales Pipeline"),)),
            _p("deal_currency_code", "Currency", "enumeration", "select", deal, options=CURRENCIES),
            _p("description", "Deal Description", field="textarea", group=deal),
            *_revline(deal),
            *_erp_deal(deal),
        ],
        "products": [
            *_common(product),
            _p("name", "Name", group=product),
            _p("description", "Description", field="textarea", group=product),
            _p("price", "Unit price", "number", "number", product),
            _p("hs_sku", "SKU", group=product),
            _p("hs_cost_of_goods_sold", "Unit cost", "number", "number", product),
            _p("recurringbillingfrequency", "Billing frequency", "enumeration", "select", product,
               options=BILLING_PERIODS),
            *_revline(product),
        ],
        "line_items": [
            *_common(line),
            _p("name", "Name", group=line),
            _p("quantity", "Quantity", "number", "number", line),
            _p("price", "Unit price", "number", "number", line),
            _p("discount", "Unit discount", "number", "number", line),
            _p("amount", "Net price", "number", "number", line, read_only=True),
            _p("hs_product_id", "Product ID", "number", "number", line),
            _p("hs_sku", "SKU", group=line),
            *_revline(line),
        ],
    }
    return {name: {p.name: p for p in props} for name, props in schemas.items()}


SCHEMAS: dict[str, dict[str, PropertyDef]] = _build()

# Properties whose values identify a record: usable as `idProperty`, and unique across the object.
# Email is case-insensitive and unique on contacts (HubSpot rejects a second contact with a 409).
UNIQUE_PROPERTIES: dict[str, tuple[str, ...]] = {
    name: tuple(p.name for p in props.values() if p.unique) + (("email",) if name == "contacts" else ())
    for name, props in SCHEMAS.items()
}


def property_def(object_type: str, name: str) -> PropertyDef | None:
    return SCHEMAS[object_type].get(name)


# HubSpot-defined association type ids, per direction: the unlabeled ("default") type and, where
# HubSpot has one, the "Primary" label.
DEFAULT_ASSOCIATION_TYPES: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
    ("deals", "line_items"): 19,
    ("line_items", "deals"): 20,
}
PRIMARY_ASSOCIATION_TYPES: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 1,
    ("companies", "contacts"): 2,
    ("deals", "companies"): 5,
    ("companies", "deals"): 6,
}
