"""The sObjects the sandbox holds and their fields, as a Salesforce org with Revline's custom fields defines them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from connectors.salesforce.sandbox.ids import KEY_PREFIXES

TEXT_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "picklist", "id", "reference"})
NUMBER_TYPES = frozenset({"currency", "double", "percent", "int"})
SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


@dataclass(frozen=True)
class Field:
    """One field of an sObject, with the properties `describe` reports."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    precision: int = 0
    scale: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    unique: bool = False
    external_id: bool = False
    case_sensitive: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    default: Any = None
    reference_to: tuple[str, ...] = ()
    relationship: str | None = None
    child_relationship: str | None = None
    calculated: bool = False
    name_field: bool = False

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def required(self) -> bool:
        """What a page layout calls required: must be given on create, has no default."""
        return not self.nillable and self.createable and self.default is None and self.type != "boolean"

    @property
    def display_label(self) -> str:
        if self.label:
            return self.label
        base = self.name.removesuffix("__c").replace("_", " ")
        base = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", base)
        return base[:-2] + "ID" if self.type == "reference" and base.endswith("Id") else base


@dataclass(frozen=True)
class SObjectType:
    """One sObject: its name, key prefix and fields in describe order."""

    name: str
    label: str
    label_plural: str
    fields: tuple[Field, ...]
    createable: bool = True

    @property
    def key_prefix(self) -> str:
        return KEY_PREFIXES[self.name]

    @cached_property
    def _by_lower(self) -> dict[str, Field]:
        return {f.name.lower(): f for f in self.fields}

    @cached_property
    def _relationships(self) -> dict[str, Field]:
        return {f.relationship.lower(): f for f in self.fields if f.relationship}

    def field(self, name: str) -> Field | None:
        """The field called `name`; Salesforce field names are case-insensitive."""
        return self._by_lower.get(name.lower())

    def relationship(self, name: str) -> Field | None:
        """The lookup field behind relationship `name` (Account -> AccountId)."""
        return self._relationships.get(name.lower())

    @cached_property
    def external_ids(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.external_id)


# -- field builders --------------------------------------------------------------------------


def text(name: str, length: int = 255, **kw: Any) -> Field:
    return Field(name, "string", length=length, **kw)


def picklist(name: str, values: tuple[str, ...], restricted: bool = False, **kw: Any) -> Field:
    return Field(name, "picklist", length=255, picklist=values, restricted=restricted, **kw)


def money(name: str, **kw: Any) -> Field:
    return Field(name, "currency", precision=18, scale=2, **kw)


def number(name: str, precision: int = 18, scale: int = 0, **kw: Any) -> Field:
    return Field(name, "double", precision=precision, scale=scale, **kw)


def flag(name: str, default: bool = False, **kw: Any) -> Field:
    return Field(name, "boolean", nillable=False, default=default, **kw)


def lookup(name: str, to: str, relationship: str, child: str | None = None, **kw: Any) -> Field:
    return Field(
        name, "reference", length=18, reference_to=(to,), relationship=relationship, child_relationship=child, **kw
    )


def external_key(name: str, unique: bool = True) -> Field:
    """A custom text field other systems' ids are written to, usable as an upsert key."""
    return text(name, 255, unique=unique, external_id=True)


def read_only(f: Field) -> Field:
    return Field(**{**f.__dict__, "createable": False, "updateable": False})


def system_fields(owned: bool = True) -> tuple[Field, ...]:
    """The audit fields every sObject has, and OwnerId on the owned ones."""
    audit = (
        Field("Id", "id", label="Record ID", length=18, nillable=False, createable=False, updateable=False),
        Field("IsDeleted", "boolean", label="Deleted", nillable=False, createable=False, updateable=False),
        Field("CreatedDate", "datetime", nillable=False, createable=False, updateable=False),
        read_only(lookup("CreatedById", "User", "CreatedBy", nillable=False)),
        Field("LastModifiedDate", "datetime", nillable=False, createable=False, updateable=False),
        read_only(lookup("LastModifiedById", "User", "LastModifiedBy", nillable=False)),
        Field(
            "SystemModstamp", "datetime", label="System Modstamp", nillable=False, createable=False, updateable=False
        ),
    )
    owner = (lookup("OwnerId", "User", "Owner", nillable=False, default="$user"),) if owned else ()
    return audit[:1] + owner + audit[1:]


# Revline's keys: the canonical id it gives every record, and the HubSpot id of its twin.
REVLINE_KEYS = (external_key("HubSpot_Id__c"), external_key("Revline_Id__c"))
# External ids need not be unique in Salesforce; migrated orgs often carry such a legacy key,
# and an upsert on it answers 300 when several records match.
LEGACY_KEY = external_key("Legacy_Id__c", unique=False)

INDUSTRIES = (
    "Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications", "Construction",
    "Consulting", "Education", "Electronics", "Energy", "Engineering", "Entertainment", "Environmental",
    "Finance", "Food & Beverage", "Government", "Healthcare", "Hospitality", "Insurance", "Machinery",
    "Manufacturing", "Media", "Not For Profit", "Other", "Recreation", "Retail", "Shipping", "Technology",
    "Telecommunications", "Transportation", "Utilities",
)  # fmt: skip
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
LIFECYCLE_STAGES = (
    "Subscriber", "Lead", "Marketing Qualified Lead", "Sales Qualified Lead", "Opportunity", "Customer",
    "Evangelist", "Other",
)  # fmt: skip
LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")
# Stage -> default probability, as the standard sales process sets them.
STAGES = {
    "Prospecting": 10.0,
    "Qualification": 10.0,
    "Needs Analysis": 20.0,
    "Value Proposition": 50.0,
    "Id. Decision Makers": 60.0,
    "Perception Analysis": 70.0,
    "Proposal/Price Quote": 75.0,
    "Negotiation/Review": 90.0,
    "Closed Won": 100.0,
    "Closed Lost": 0.0,
}
# What the ERP (Odoo) reports back onto opportunities: sale.order state, delivery and invoicing.
ERP_ORDER_STATUSES = ("Draft", "Quotation Sent", "Confirmed", "Cancelled")
DELIVERY_STATUSES = ("Pending", "Started", "Partially Delivered", "Delivered")
INVOICE_STATUSES = ("Nothing to Invoice", "To Invoice", "Invoiced", "Upselling")
PAYMENT_STATUSES = ("Not Paid", "In Payment", "Partially Paid", "Paid", "Reversed", "Overdue")

_ACCOUNT = SObjectType(
    "Account",
    "Account",
    "Accounts",
    (
        *system_fields(),
        text("Name", 255, label="Account Name", nillable=False, name_field=True),
        picklist(
            "Type", ("Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"), label="Account Type"
        ),
        lookup("ParentId", "Account", "Parent", "ChildAccounts"),
        text("AccountNumber", 40),
        Field("Website", "url", length=255),
        Field("Phone", "phone", label="Account Phone", length=40),
        picklist("Industry", INDUSTRIES, restricted=True),
        money("AnnualRevenue"),
        Field("NumberOfEmployees", "int", label="Employees", precision=8),
        Field("BillingStreet", "textarea", length=255),
        text("BillingCity", 40),
        text("BillingState", 80, label="Billing State/Province"),
        text("BillingPostalCode", 20, label="Billing Zip/Postal Code"),
        text("BillingCountry", 80),
        Field("Description", "textarea", length=32000, label="Account Description"),
        *REVLINE_KEYS,
        LEGACY_KEY,
        external_key("ERP_Customer_Ref__c"),
        text("VAT_Number__c", 40, label="VAT Number"),
        text("Payment_Terms__c", 80),
        money("Amount_Overdue__c"),
        money("Open_Invoice_Amount__c"),
        flag("Credit_Hold__c"),
        flag("Billing_Risk__c"),
        Field("ERP_Synced_At__c", "datetime", label="ERP Synced At"),
    ),
)
_CONTACT = SObjectType(
    "Contact",
    "Contact",
    "Contacts",
    (
        *system_fields(),
        lookup("AccountId", "Account", "Account", "Contacts"),
        text("FirstName", 40),
        text("LastName", 80, nillable=False),
        read_only(text("Name", 121, label="Full Name", name_field=True)),
        Field("Email", "email", length=80),
        Field("Phone", "phone", label="Business Phone", length=40),
        Field("MobilePhone", "phone", length=40),
        text("Title", 128),
        text("Department", 80),
        text("MailingCity", 40),
        text("MailingCountry", 80),
        picklist("LeadSource", LEAD_SOURCES),
        Field("Description", "textarea", length=32000),
        *REVLINE_KEYS,
        LEGACY_KEY,
        picklist("Lifecycle_Stage__c", LIFECYCLE_STAGES, restricted=True),
        number("Lead_Score__c"),
    ),
)
_LEAD = SObjectType(
    "Lead",
    "Lead",
    "Leads",
    (
        *system_fields(),
        text("FirstName", 40),
        text("LastName", 80, nillable=False),
        read_only(text("Name", 121, label="Full Name", name_field=True)),
        text("Company", 255, nillable=False),
        text("Title", 128),
        Field("Email", "email", length=80),
        Field("Phone", "phone", length=40),
        picklist("Status", LEAD_STATUSES, restricted=True, nillable=False, default="Open - Not Contacted"),
        picklist("LeadSource", LEAD_SOURCES),
        picklist("Industry", INDUSTRIES),
        picklist("Rating", ("Hot", "Warm", "Cold")),
        text("City", 40),
        text("Country", 80),
        read_only(flag("IsConverted", label="Converted")),
        read_only(lookup("ConvertedAccountId", "Account", "ConvertedAccount")),
        read_only(lookup("ConvertedContactId", "Contact", "ConvertedContact")),
        read_only(lookup("ConvertedOpportunityId", "Opportunity", "ConvertedOpportunity")),
        read_only(Field("ConvertedDate", "date", label="Converted Date")),
        *REVLINE_KEYS,
        number("Lead_Score__c"),
    ),
)
_OPPORTUNITY = SObjectType(
    "Opportunity",
    "Opportunity",
    "Opportunities",
    (
        *system_fields(),
        lookup("AccountId", "Account", "Account", "Opportunities"),
        text("Name", 120, nillable=False, name_field=True),
        Field("Description", "textarea", length=32000),
        picklist("StageName", tuple(STAGES), restricted=True, label="Stage", nillable=False),
        money("Amount"),
        Field("Probability", "percent", label="Probability (%)", precision=3),
        Field("CloseDate", "date", nillable=False),
        picklist("Type", ("Existing Business", "New Business"), label="Opportunity Type"),
        text("NextStep", 255),
        picklist("LeadSource", LEAD_SOURCES),
        read_only(flag("IsClosed", label="Closed")),
        read_only(flag("IsWon", label="Won")),
        lookup("Pricebook2Id", "Pricebook2", "Pricebook2", "Opportunities"),
        *REVLINE_KEYS,
        external_key("ERP_Order_Number__c"),
        picklist("ERP_Order_Status__c", ERP_ORDER_STATUSES, restricted=True, label="ERP Order Status"),
        picklist("Delivery_Status__c", DELIVERY_STATUSES, restricted=True),
        picklist("Invoice_Status__c", INVOICE_STATUSES, restricted=True),
        picklist("Payment_Status__c", PAYMENT_STATUSES, restricted=True),
        money("Amount_Invoiced__c"),
        money("Amount_Paid__c"),
        money("Amount_Overdue__c"),
        Field("Invoice_Due_Date__c", "date"),
        text("Invoice_Number__c", 80),
        text("Customer_PO__c", 80, label="Customer PO"),
        text("Tracking_Number__c", 80),
        Field("Shipped_Date__c", "date"),
    ),
)
_PRODUCT = SObjectType(
    "Product2",
    "Product",
    "Products",
    (
        *system_fields(owned=False),
        text("Name", 255, label="Product Name", nillable=False, name_field=True),
        text("ProductCode", 255),
        Field("Description", "textarea", length=4000, label="Product Description"),
        picklist("Family", ("Hardware", "Software", "Services"), label="Product Family"),
        flag("IsActive", label="Active"),
        text("QuantityUnitOfMeasure", 255, label="Quantity Unit Of Measure"),
        external_key("Revline_Id__c"),
    ),
)
_PRICEBOOK = SObjectType(
    "Pricebook2",
    "Price Book",
    "Price Books",
    (
        *system_fields(owned=False),
        text("Name", 255, label="Price Book Name", nillable=False, name_field=True),
        flag("IsActive", label="Active"),
        read_only(flag("IsStandard", label="Is Standard Price Book")),
        Field("Description", "textarea", length=255),
    ),
)
_PRICEBOOK_ENTRY = SObjectType(
    "PricebookEntry",
    "Price Book Entry",
    "Price Book Entries",
    (
        *system_fields(owned=False),
        read_only(text("Name", 255, label="Product Name", name_field=True)),
        lookup("Pricebook2Id", "Pricebook2", "Pricebook2", "PricebookEntries", nillable=False, updateable=False),
        lookup("Product2Id", "Product2", "Product2", "PricebookEntries", nillable=False, updateable=False),
        money("UnitPrice", label="List Price", nillable=False),
        flag("IsActive", label="Active"),
        flag("UseStandardPrice"),
        read_only(text("ProductCode", 255)),
        external_key("Revline_Id__c"),
    ),
)
_LINE_ITEM = SObjectType(
    "OpportunityLineItem",
    "Opportunity Product",
    "Opportunity Product",
    (
        *system_fields(owned=False),
        lookup("OpportunityId", "Opportunity", "Opportunity", "OpportunityLineItems", nillable=False, updateable=False),
        lookup("PricebookEntryId", "PricebookEntry", "PricebookEntry", "OpportunityLineItems", updateable=False),
        lookup("Product2Id", "Product2", "Product2", updateable=False),
        read_only(text("Name", 376, label="Opportunity Product Name", name_field=True)),
        read_only(text("ProductCode", 255)),
        number("Quantity", 12, 2, nillable=False),
        money("UnitPrice", label="Sales Price"),
        read_only(money("ListPrice", label="List Price")),
        Field("Discount", "percent", precision=5, scale=2),
        read_only(money("TotalPrice", label="Total Price")),
        Field("ServiceDate", "date", label="Date"),
        text("Description", 255, label="Line Description"),
    ),
)
# The standard roles a contact plays on an opportunity.
CONTACT_ROLES = (
    "Business User", "Decision Maker", "Economic Buyer", "Economic Decision Maker", "Evaluator",
    "Executive Sponsor", "Influencer", "Technical Buyer", "Other",
)  # fmt: skip
_CONTACT_ROLE = SObjectType(
    "OpportunityContactRole",
    "Opportunity Contact Role",
    "Opportunity Contact Role",
    (
        *system_fields(owned=False),
        lookup("OpportunityId", "Opportunity", "Opportunity", "OpportunityContactRoles", nillable=False,
               updateable=False),
        lookup("ContactId", "Contact", "Contact", "OpportunityContactRoles", nillable=False),
        picklist("Role", CONTACT_ROLES),
        flag("IsPrimary", label="Primary"),
    ),
)
_USER = SObjectType(
    "User",
    "User",
    "Users",
    (
        *system_fields(owned=False),
        text("Username", 80, nillable=False, unique=True),
        text("FirstName", 40),
        text("LastName", 80, nillable=False),
        read_only(text("Name", 121, label="Full Name", name_field=True)),
        Field("Email", "email", length=128, nillable=False),
        text("Alias", 8, nillable=False),
        flag("IsActive", label="Active", default=True),
    ),
    createable=False,
)

SOBJECTS: dict[str, SObjectType] = {
    t.name: t
    for t in (_ACCOUNT, _CONTACT, _LEAD, _OPPORTUNITY, _LINE_ITEM, _CONTACT_ROLE, _PRODUCT, _PRICEBOOK,
              _PRICEBOOK_ENTRY, _USER)
}
_BY_LOWER = {name.lower(): t for name, t in SOBJECTS.items()}
_BY_PREFIX = {t.key_prefix: t for t in SOBJECTS.values()}


def sobject(name: str) -> SObjectType | None:
    """The sObject called `name` (case-insensitive), or None."""
    return _BY_LOWER.get(name.lower())


def sobject_of_id(record_id: str) -> SObjectType | None:
    """The sObject an id belongs to, read from its key prefix."""
    return _BY_PREFIX.get(record_id[:3])


@dataclass(frozen=True)
class ChildRelationship:
    """A relationship seen from the parent side (Account.Contacts)."""

    child: str
    field: str
    name: str | None
    cascade_delete: bool = False


def child_relationships(parent: str) -> list[ChildRelationship]:
    """The lookups that point at `parent`, as describe lists them."""
    found = []
    for t in SOBJECTS.values():
        for f in t.fields:
            if parent in f.reference_to and f.name not in ("CreatedById", "LastModifiedById", "OwnerId"):
                cascade = (parent, t.name) in CASCADES
                found.append(ChildRelationship(t.name, f.name, f.child_relationship, cascade))
    return found


# Deleting the parent deletes these children too, as Salesforce does for master-detail-like links.
CASCADES = frozenset({
    ("Account", "Contact"), ("Account", "Opportunity"), ("Opportunity", "OpportunityLineItem"),
    ("Opportunity", "OpportunityContactRole"), ("Contact", "OpportunityContactRole"),
})
