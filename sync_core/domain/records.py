"""The canonical records every system maps onto, and validation of (partial) field values."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from sync_core.domain.errors import ErrorCategory, PermanentError
from sync_core.domain.ownership import is_blank

# Deliberately loose: the systems themselves are the final judges of an address.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _check_email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("is not a valid email address")
    return value.lower()


def _check_currency(value: str) -> str:
    if not _CURRENCY.match(value.upper()):
        raise ValueError("is not a three-letter ISO 4217 currency code")
    return value.upper()


def _plain(value: Decimal) -> str:
    # One text per number whatever the system wrote ("1200", 1200.0, "1200.00"): values compare as
    # text across systems, and two spellings of one amount must not look like a change.
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


Number = Annotated[Decimal, PlainSerializer(_plain, return_type=str, when_used="json")]


def _day(value: Any) -> Any:
    # A system may keep a date as a datetime (HubSpot's deal close date: midnight, or any time of day
    # set through its API): the day is what it means.
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str) and len(value) > 10 and value[4] == "-" and value[10] in "T ":
        return value[:10]
    return value


def _id_set(value: tuple[str, ...]) -> tuple[str, ...] | None:
    # A set of references (a deal's contacts): one order and no repeats, whatever order a system lists
    # them in, so two systems holding the same people read as the same value; none at all is blank.
    return tuple(sorted(set(value))) or None


Day = Annotated[dt.date, BeforeValidator(_day)]
IdSet = Annotated[tuple[str, ...], AfterValidator(_id_set)]
Required = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(_check_email)]
Currency = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_check_currency)]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Company(_Record):
    """An organisation: HubSpot company, Salesforce Account, Odoo res.partner (is_company)."""

    name: Required
    domain: str | None = None
    phone: str | None = None
    industry: str | None = None
    city: str | None = None
    country: str | None = None
    annual_revenue: Number | None = None
    owner: Email | None = None  # the person, by email: each system's user or owner with that address
    hubspot_id: str | None = None  # the record's id in HubSpot, written back to the other systems
    salesforce_id: str | None = None  # the record's id in Salesforce, likewise
    # Billing data an order needs (the closed-won flow checks them before placing one).
    street: str | None = None
    postal_code: str | None = None
    vat_number: str | None = None
    # Kept by the ERP once the company is its customer, and shown to sales and marketing.
    customer_number: str | None = None
    payment_terms: str | None = None
    credit_hold: bool | None = None
    open_invoice_amount: Number | None = None
    amount_overdue: Number | None = None
    billing_risk: bool | None = None  # an invoice is overdue: don't pitch an upsell


class Contact(_Record):
    """A person; the email address is how the systems recognise one."""

    email: Email
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    title: str | None = None
    company_id: str | None = None
    lifecycle_stage: str | None = None
    lead_score: int | None = None
    lead_source: str | None = None
    original_source: str | None = None  # marketing attribution: the channel that first brought them
    owner: Email | None = None  # the person, by email (see Company.owner)
    hubspot_id: str | None = None
    salesforce_id: str | None = None
    company_name: str | None = None  # the organisation as the person gave it (a lead's company)
    lead_status: str | None = None  # one of LEAD_STATUSES, while sales works the lead
    # What sales converted the lead into: the account and the opportunity (references).
    converted_company_id: str | None = None
    converted_deal_id: str | None = None


class OrderLine(_Record):
    """One product line of an order."""

    product_code: Required
    description: str | None = None
    quantity: Number | None = None
    unit_price: Number | None = None


class Deal(_Record):
    """A sales opportunity: HubSpot deal, Salesforce Opportunity; once won, its ERP order.

    The ERP holds the deal as the order placed for it (Odoo sale.order), and owns the
    fulfilment fields from `order_number` on: order, delivery, invoice and payment state.
    """

    name: Required
    amount: Number | None = None
    currency: Currency | None = None
    stage: str | None = None  # one of DEAL_STAGES
    close_date: Day | None = None
    company_id: str | None = None
    contact_ids: IdSet | None = None  # the people on the deal (Salesforce contact roles, HubSpot associations)
    owner: Email | None = None  # the person, by email (see Company.owner)
    hubspot_id: str | None = None
    salesforce_id: str | None = None
    lines: tuple[OrderLine, ...] | None = None  # the products sold (Salesforce OpportunityLineItems)
    order_number: str | None = None
    order_status: str | None = None  # one of ORDER_STATUSES
    delivery_status: str | None = None  # one of DELIVERY_STATUSES
    tracking_ref: str | None = None
    shipped_date: Day | None = None
    invoice_number: str | None = None
    invoice_status: str | None = None  # one of INVOICE_STATUSES
    invoice_due_date: Day | None = None
    amount_invoiced: Number | None = None
    amount_paid: Number | None = None
    amount_overdue: Number | None = None
    payment_status: str | None = None  # one of PAYMENT_STATUSES


class Product(_Record):
    """A sellable item, identified by its code (SKU)."""

    code: Required
    name: str | None = None
    list_price: Number | None = None
    active: bool | None = None


class PriceEntry(_Record):
    """A product's price in one pricebook (Salesforce PricebookEntry, Odoo pricelist item)."""

    product_code: Required
    pricebook: Required
    unit_price: Number | None = None
    currency: Currency | None = None
    min_quantity: Number | None = None


class Order(_Record):
    """A confirmed sale: Odoo sale.order, mirrored onto the deal or opportunity."""

    number: Required
    company_id: str | None = None
    deal_id: str | None = None
    state: str | None = None
    amount_total: Number | None = None
    currency: Currency | None = None
    lines: tuple[OrderLine, ...] | None = None


class Shipment(_Record):
    """A delivery of an order: Odoo stock.picking."""

    order_id: Required
    state: str | None = None
    scheduled_date: Day | None = None
    done_date: Day | None = None
    tracking_ref: str | None = None


class Invoice(_Record):
    """A customer invoice: Odoo account.move."""

    number: Required
    order_id: str | None = None
    state: str | None = None
    payment_state: str | None = None
    amount_total: Number | None = None
    amount_residual: Number | None = None
    due_date: Day | None = None


class Payment(_Record):
    """A payment against an invoice: Odoo account.payment."""

    invoice_id: Required
    amount: Number | None = None
    date: Day | None = None
    state: str | None = None


FULFILMENT_FIELDS = tuple(list(Deal.model_fields)[list(Deal.model_fields).index("order_number"):])
"""The deal's fields from its order on: the ERP's state of the order, delivery, invoice and payment."""

# Canonical values of the deal's stage and fulfilment fields; each system's mapping translates them.
DEAL_STAGES = (
    "prospecting", "qualification", "needs_analysis", "value_proposition", "decision_makers",
    "perception_analysis", "proposal", "negotiation", "closed_won", "closed_lost",
)  # fmt: skip
WON = "closed_won"
LEAD_STATUSES = ("new", "working", "converted", "unqualified", "open", "attempted", "connected", "bad_timing")
ORDER_STATUSES = ("draft", "sent", "confirmed", "cancelled")
DELIVERY_STATUSES = ("pending", "started", "partial", "delivered")
INVOICE_STATUSES = ("nothing", "to_invoice", "invoiced", "upselling")
PAYMENT_STATUSES = ("not_paid", "in_payment", "partial", "paid", "reversed", "overdue")

RECORD_TYPES: dict[str, type[BaseModel]] = {
    "company": Company,
    "contact": Contact,
    "deal": Deal,
    "product": Product,
    "price_entry": PriceEntry,
    "order": Order,
    "shipment": Shipment,
    "invoice": Invoice,
    "payment": Payment,
}

REFERENCES: dict[str, dict[str, str]] = {
    "contact": {"company_id": "company", "converted_company_id": "company", "converted_deal_id": "deal"},
    "deal": {"company_id": "company", "contact_ids": "contact"},
    "order": {"company_id": "company", "deal_id": "deal"},
    # The ERP's order for a deal is linked to the deal itself: shipments and invoices point at it.
    "shipment": {"order_id": "deal"},
    "invoice": {"order_id": "deal"},
    "payment": {"invoice_id": "invoice"},
}
"""Fields that hold another record's canonical id: object type -> {field: the referenced object type}.

Each system holds its own id there; the engine translates through the links both ways. A field may
hold a set of ids (a deal's contacts): each of them is translated.
"""


def reference_ids(value: Any) -> list[str]:
    """The ids a reference field holds: none when blank, one, or each of a set."""
    if isinstance(value, list | tuple | set | frozenset):
        return [str(v) for v in value if not is_blank(v)]
    return [] if is_blank(value) else [str(value)]


@cache
def required_fields(object_type: str) -> frozenset[str]:
    """The fields a record of `object_type` cannot be created without (a deal's name, a contact's email)."""
    return frozenset(name for name, info in RECORD_TYPES[object_type].model_fields.items() if info.is_required())


@cache
def _adapters(object_type: str) -> dict[str, TypeAdapter[Any]]:
    """One validator per field, so a partial update is checked without the absent fields."""
    model = RECORD_TYPES[object_type]
    config = ConfigDict(str_strip_whitespace=True)
    adapters: dict[str, TypeAdapter[Any]] = {}
    for name, info in model.model_fields.items():
        annotation: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        adapters[name] = TypeAdapter(annotation, config=config)
    return adapters


def _describe(object_type: str, name: str, value: Any, error: ValidationError) -> str:
    model = RECORD_TYPES[object_type]
    if model.model_fields[name].is_required() and is_blank(value):
        return f"{object_type} {name}: is required and cannot be blank"
    problems = []
    for detail in error.errors(include_url=False):
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in detail["loc"])
        if detail["type"] == "missing":
            problems.append(f"{object_type} {name}{where}: is required")
            continue
        if detail["type"] == "value_error":
            reason = str(detail["ctx"]["error"])
        else:
            reason = "is invalid: " + detail["msg"][:1].lower() + detail["msg"][1:]
        problems.append(f"{object_type} {name}{where}: {detail['input']!r} {reason}")
    return "; ".join(problems)


@cache
def _plain_text(object_type: str) -> frozenset[str]:
    """The fields that are optional text and nothing more: a value that is already clean text is valid as it is."""
    return frozenset(
        name for name, info in RECORD_TYPES[object_type].model_fields.items()
        if info.annotation == (str | None) and not info.metadata
    )  # fmt: skip


def _clean_text(value: Any) -> bool:
    """None, or text with nothing to strip: what the optional text fields' validators hand back unchanged."""
    return value is None or (type(value) is str and (not value or not (value[0].isspace() or value[-1].isspace())))


def validate(object_type: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The normalised, JSON-friendly `values`; fields absent from `values` are not checked."""
    if object_type not in RECORD_TYPES:
        known = ", ".join(sorted(RECORD_TYPES))
        raise PermanentError(f"unknown object type {object_type!r} (known: {known})", ErrorCategory.MAPPING)
    adapters = _adapters(object_type)
    unknown = [name for name in values if name not in adapters]
    if unknown:
        raise PermanentError(f"{object_type} has no field(s) {', '.join(sorted(unknown))}", ErrorCategory.MAPPING)
    result: dict[str, Any] = {}
    problems: list[str] = []
    plain = _plain_text(object_type)
    for name, value in values.items():
        if name in plain and _clean_text(value):
            result[name] = value  # the adapter's round trip, skipped: it would give back the same value
            continue
        try:
            result[name] = adapters[name].dump_python(adapters[name].validate_python(value), mode="json")
        except ValidationError as error:
            problems.append(_describe(object_type, name, value, error))
    if problems:
        raise PermanentError("; ".join(problems), ErrorCategory.VALIDATION)
    return result


def same_number(object_type: str, name: str, a: Any, b: Any) -> bool:
    """Whether two values of a numeric field are one number in two spellings ("1500000.0" and "1500000")."""
    adapter = _adapters(object_type).get(name) if object_type in RECORD_TYPES else None
    if adapter is None or is_blank(a) or is_blank(b):
        return False
    try:
        left, right = adapter.validate_python(a), adapter.validate_python(b)
    except ValidationError:
        return False
    numbers = (Decimal, int, float)
    return isinstance(left, numbers) and isinstance(right, numbers) and not isinstance(left, bool) and left == right
