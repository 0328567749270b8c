"""Pure translations between Odoo and the seam: models, rows to SourceRecords, writes to values, mappings.

A SourceRecord carries Odoo's own field names with Odoo's quirks smoothed: False for "empty"
becomes None, a many2one becomes the referenced record's id (reference fields, which the engine
translates through its links) or its display name (countries, currencies, payment terms). A few
fields are derived, since Odoo keeps the fact elsewhere:

    contact   first_name, last_name   Odoo keeps one `name`; split at its first space (compound surnames stay whole)
    company   credit_hold             sale_warn == "block" (a blocking sales warning)
    order     order_line              the lines themselves: [{product_code, description, quantity, unit_price}]
    invoice   sale_order_id           the sale.order whose invoice_ids hold the invoice
    payment   invoice_id              the first of reconciled_invoice_ids
    deal      origin                  the Opportunity Id: `sf-opp:<id>` without its prefix (None for `revline:` keys)
    deal      carrier_tracking_ref, date_done, invoice_name, invoice_date_due, amount_invoiced, amount_paid,
              amount_overdue, payment_state    from the order's pickings and invoices (fulfilment.py)
    company   customer_number, open_invoice_amount, amount_overdue, billing_risk
                                      from the partner's id and its open customer invoices (billing.py)

A deal is the sale.order placed for a won opportunity: origin `sf-opp:<Opportunity Id>`, or Revline's
own key `revline:<canonical id>` when the deal has no opportunity.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sync_core.domain.changes import SourceRecord, WriteRequest
from sync_core.domain.errors import ErrorCategory, PermanentError
from sync_core.domain.mapping import FieldMap, ObjectMapping

SYSTEM = "erp"
ODOO_DATETIME = "%Y-%m-%d %H:%M:%S"  # UTC without a zone, whole seconds
# Revline's key on an order it placed without an origin of its own: origin = "revline:<canonical id>".
REVLINE_ORIGIN = "revline:"
OPPORTUNITY_ORIGIN = "sf-opp:"  # a deal's order: origin = "sf-opp:<Salesforce Opportunity Id>"
DEAL_DOMAIN = ("|", ("origin", "=like", f"{OPPORTUNITY_ORIGIN}%"), ("origin", "=like", f"{REVLINE_ORIGIN}%"))


@dataclass(frozen=True)
class Source:
    """Where a canonical object lives in Odoo and what is read of it."""

    model: str
    domain: tuple[Any, ...]  # leaves (field, operator, value) and the prefix operators "&", "|", "!"
    fields: tuple[str, ...]
    references: frozenset[str] = frozenset()  # vendor fields holding another record's Odoo id
    as_dates: frozenset[str] = frozenset()  # datetimes the canonical record reads as dates
    hidden: frozenset[str] = frozenset()  # read to derive other fields, not handed on

    def search_domain(self, *extra: list[Any]) -> list[Any]:
        """The domain as Odoo takes it (lists, not tuples), with `extra` leaves joined by an implicit "&"."""
        return [list(term) if isinstance(term, tuple) else term for term in self.domain] + list(extra)


_PARTNER = ("name", "is_company", "ref", "email", "phone", "active", "write_date", "write_uid")
SOURCES: dict[str, Source] = {
    "company": Source(
        "res.partner", (("is_company", "=", True),),
        (*_PARTNER, "vat", "website", "street", "city", "zip", "country_id", "property_payment_term_id",
         "property_product_pricelist", "credit_limit", "sale_warn"),
    ),
    # The order placed for a won deal; its lines are Salesforce's (written once, never read back).
    "deal": Source(
        "sale.order", DEAL_DOMAIN,
        ("name", "partner_id", "origin", "state", "delivery_status", "invoice_status", "invoice_ids", "write_date",
         "write_uid"),
        frozenset({"partner_id"}), hidden=frozenset({"invoice_ids"}),
    ),
    "contact": Source(
        "res.partner", (("is_company", "=", False),), (*_PARTNER, "mobile", "function", "parent_id"),
        frozenset({"parent_id"}),
    ),
    "product": Source(
        "product.product", (), ("default_code", "name", "lst_price", "active", "sale_ok", "write_date", "write_uid"),
    ),
    "order": Source(
        "sale.order", (),
        ("name", "partner_id", "origin", "client_order_ref", "state", "date_order", "amount_total", "currency_id",
         "invoice_status", "delivery_status", "order_line", "picking_ids", "invoice_ids", "write_date", "write_uid"),
        frozenset({"partner_id"}),
    ),
    "shipment": Source(
        "stock.picking", (("picking_type_code", "=", "outgoing"), ("sale_id", "!=", False)),
        ("name", "sale_id", "origin", "partner_id", "state", "scheduled_date", "date_done", "carrier_tracking_ref",
         "write_date", "write_uid"),
        frozenset({"sale_id"}), frozenset({"scheduled_date", "date_done"}),
    ),
    "invoice": Source(
        "account.move", (("move_type", "in", ["out_invoice", "out_refund"]),),
        ("name", "move_type", "partner_id", "state", "payment_state", "invoice_date", "invoice_date_due",
         "amount_total", "amount_residual", "currency_id", "invoice_origin", "write_date", "write_uid"),
        frozenset({"sale_order_id"}),
    ),
    # reconciled_invoice_ids is computed and not searchable in Odoo: payments matched to no invoice are
    # left out after reading, not by the domain.
    "payment": Source(
        "account.payment", (("partner_type", "=", "customer"),),
        ("name", "partner_id", "amount", "date", "state", "currency_id", "reconciled_invoice_ids", "write_date",
         "write_uid"),
        frozenset({"invoice_id"}),
    ),
}  # fmt: skip
READ_ONLY = frozenset({"product", "shipment", "invoice", "payment"})  # the ERP owns them; Revline only reads
_BOOLEANS = frozenset({"is_company", "active", "sale_ok"})
_DATETIMES = frozenset({"date_order", "scheduled_date", "date_done", "commitment_date", "create_date"})
_NUMBERS = frozenset({"lst_price", "amount_total", "amount_residual", "amount", "credit_limit"})
# Fields Odoo owns on a partner: read for the ownership planner, never written by Revline (the billing facts
# are derived from invoices and exist on no model).
ERP_OWNED = frozenset({"property_payment_term_id", "property_product_pricelist", "credit_limit", "sale_warn",
                       "credit_hold", "active", "customer_number", "open_invoice_amount", "amount_overdue",
                       "billing_risk"})  # fmt: skip
_NEVER_WRITTEN = frozenset({"id", "ref", "is_company", "write_date", "write_uid", "create_date", "display_name"})


def source_for(object_type: str) -> Source:
    try:
        return SOURCES[object_type]
    except KeyError:
        known = ", ".join(sorted(SOURCES))
        raise PermanentError(f"odoo has no model for {object_type!r} (known: {known})", ErrorCategory.MAPPING) from None


def parse_datetime(text: str) -> datetime:
    """An Odoo datetime ('2026-01-05 09:00:03', UTC) as an aware datetime."""
    return datetime.strptime(text[:19].replace("T", " "), ODOO_DATETIME).replace(tzinfo=UTC)


def format_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(ODOO_DATETIME)


def record_id(value: Any) -> int | None:
    """An Odoo id from a many2one value ([id, name], id or False) or an id given as text."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text) if text.isdigit() else None


def _flat(source: Source, name: str, value: Any) -> Any:
    if name in _BOOLEANS:
        return bool(value)
    if name in _NUMBERS:
        return float(value or 0.0)
    if value is False or value is None:
        return None
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], int) and isinstance(value[1], str):
        return str(value[0]) if name in source.references else value[1]  # a many2one: [id, display name]
    if isinstance(value, list):
        return [str(v) for v in value]  # x2many ids
    if name in _DATETIMES and isinstance(value, str):
        moment = parse_datetime(value)
        return moment.date().isoformat() if name in source.as_dates else moment.isoformat()
    return value


def deal_origin(salesforce_id: Any, canonical_id: str) -> str:
    """The order's key for a deal: `sf-opp:<Opportunity Id>` (a value already keyed stays), else Revline's own."""
    given = "" if salesforce_id in (None, False) else str(salesforce_id).strip()
    if not given:
        return f"{REVLINE_ORIGIN}{canonical_id}"
    if given.startswith((OPPORTUNITY_ORIGIN, REVLINE_ORIGIN)):
        return given
    return f"{OPPORTUNITY_ORIGIN}{given}"


def opportunity_of(origin: Any) -> str | None:
    """The Opportunity Id in a deal's origin (None for Revline's own key or any other origin)."""
    text = "" if origin in (None, False) else str(origin)
    if not text.startswith(OPPORTUNITY_ORIGIN):
        return None
    return text[len(OPPORTUNITY_ORIGIN):] or None


def version_of(write_date: str, fields: Mapping[str, Any]) -> str:
    """write_date has whole seconds: a digest of the values tells two changes in one second apart."""
    digest = hashlib.sha1(json.dumps(fields, sort_keys=True, default=str).encode(), usedforsecurity=False)
    return f"{write_date}#{digest.hexdigest()[:10]}"


def to_source_record(
    object_type: str, row: Mapping[str, Any], integration_uid: int | None = None,
    derived: Mapping[str, Any] | None = None, changed: str | None = None,
) -> SourceRecord:
    """An Odoo row (read with SOURCES[object_type].fields) as the engine sees it; `derived` adds computed fields.

    `changed` is when the record last changed if that is later than its write_date: a record whose fields
    come from other models changes when they do (an order when its invoice is paid)."""
    source = source_for(object_type)
    fields = {name: _flat(source, name, value) for name, value in row.items()
              if name not in ("id", "write_date", "write_uid", "order_line") and name not in source.hidden}  # fmt: skip
    if object_type == "contact":
        first, _, last = " ".join(str(fields.get("name") or "").split()).partition(" ")
        fields["first_name"], fields["last_name"] = (first or None), (last or None)
    if object_type == "company":
        fields["credit_hold"] = row.get("sale_warn") == "block"
    if object_type == "payment":
        invoices = fields.get("reconciled_invoice_ids") or []
        fields["invoice_id"] = invoices[0] if invoices else None
    if object_type == "deal":
        fields["origin"] = opportunity_of(row.get("origin"))
    fields.update(derived or {})
    write_date = str(row["write_date"])[:19]
    if changed is not None and changed > write_date:
        write_date = str(changed)
    canonical: str | None = None
    if object_type in ("company", "contact") and row.get("ref"):
        canonical = str(row["ref"])
    origin = str(row.get("origin") or "")
    if object_type in ("order", "deal") and origin.startswith(REVLINE_ORIGIN):
        canonical = origin[len(REVLINE_ORIGIN):]
    return SourceRecord(
        external_id=str(row["id"]),
        fields=fields,
        version=version_of(write_date, fields),
        modified_at=parse_datetime(write_date),
        canonical_id=canonical,
        # A record carrying facts of other records (a company's invoices, a deal's pickings) changes by the
        # ERP's doing whoever wrote the record itself last (an invoice paid): never taken for an echo here;
        # the engine still tells Revline's own values apart by what it wrote.
        last_written_by_revline=(
            not derived and integration_uid is not None and record_id(row.get("write_uid")) == integration_uid
        ),
    )


def line_of(row: Mapping[str, Any], product_codes: Mapping[int, str]) -> dict[str, Any]:
    """A sale.order.line as the canonical order line's fields."""
    product = record_id(row.get("product_id"))
    return {
        "product_code": product_codes.get(product) if product is not None else None,
        "description": row.get("name") or None,
        "quantity": float(row.get("product_uom_qty") or 0.0),
        "unit_price": float(row.get("price_unit") or 0.0),
    }


def country_key(value: str) -> str:
    return " ".join(value.split()).casefold()


def partner_values(
    object_type: str, write: WriteRequest, countries: Mapping[str, int], current_name: str | None = None
) -> dict[str, Any]:
    """res.partner values for a company or contact write; `ref` always carries the canonical id.

    `countries` maps case-folded names and ISO codes to res.country ids; `current_name` is the
    stored name, for a contact whose first or last name alone changed.
    """
    fields = dict(write.fields)
    values: dict[str, Any] = {k: v for k, v in fields.items()
                              if k not in ERP_OWNED | _NEVER_WRITTEN | {"first_name", "last_name"}}  # fmt: skip
    if "first_name" in fields or "last_name" in fields:
        stored_first, _, stored_last = " ".join((current_name or "").split()).partition(" ")
        first = fields.get("first_name", stored_first or None)
        last = fields.get("last_name", stored_last or None)
        values["name"] = " ".join(str(p).strip() for p in (first, last) if p not in (None, "")) or None
    if "country_id" in values:
        country = values["country_id"]
        if country in (None, ""):
            values["country_id"] = False
        else:
            found = countries.get(country_key(str(country)))
            if found is None:
                raise PermanentError(f"odoo has no country {country!r}", ErrorCategory.MAPPING)
            values["country_id"] = found
    if "parent_id" in values:
        values["parent_id"] = record_id(values["parent_id"]) or False
    values = {k: (False if v is None else v) for k, v in values.items()}
    values["ref"] = write.canonical_id
    values["is_company"] = object_type == "company"
    if object_type == "contact":
        values.setdefault("type", "contact")
    return values


def order_line_values(product_id: int, line: Mapping[str, Any], unit_price: float) -> dict[str, Any]:
    """A sale.order.line's values for `(0, 0, values)` from a canonical line."""
    values: dict[str, Any] = {
        "product_id": product_id,
        "product_uom_qty": float(line.get("quantity") or 1.0),
        "price_unit": float(unit_price),
    }
    if line.get("description"):
        values["name"] = str(line["description"])
    if line.get("discount") not in (None, ""):
        values["discount"] = float(line["discount"])
    return values


def as_date(value: Any) -> date | None:
    if value in (None, False, ""):
        return None
    return date.fromisoformat(str(value)[:10])


# Canonical value -> Odoo value of a deal's fulfilment fields (records.ORDER_STATUSES and the others).
ORDER_STATES = {"draft": "draft", "sent": "sent", "confirmed": "sale", "cancelled": "cancel"}
DELIVERY_STATES = {"pending": "pending", "started": "started", "partial": "partial", "delivered": "full"}
INVOICE_STATES = {"nothing": "no", "to_invoice": "to invoice", "invoiced": "invoiced", "upselling": "upselling"}
# account.move's payment_state, and "overdue" (not stored in Odoo: derived in billing.py)
PAYMENT_STATES = {s: s for s in ("not_paid", "in_payment", "partial", "paid", "reversed", "overdue")}


def default_mappings(system: str = SYSTEM) -> list[ObjectMapping]:
    """Canonical objects in Odoo's field names, for a connection called `system`.

    Reference fields (a contact's company, an order's customer, a shipment's order, ...) hold Odoo
    ids; the engine translates them through its links.
    """
    return [
        ObjectMapping(system, "company", (
            FieldMap("name", "name"), FieldMap("domain", "website"), FieldMap("phone", "phone"),
            FieldMap("city", "city"), FieldMap("country", "country_id"), FieldMap("street", "street"),
            FieldMap("postal_code", "zip"), FieldMap("vat_number", "vat"),
            # the ERP's own, read only
            FieldMap("customer_number", "customer_number"), FieldMap("payment_terms", "property_payment_term_id"),
            FieldMap("credit_hold", "credit_hold"), FieldMap("open_invoice_amount", "open_invoice_amount"),
            FieldMap("amount_overdue", "amount_overdue"), FieldMap("billing_risk", "billing_risk"),
        )),
        ObjectMapping(system, "contact", (
            FieldMap("email", "email"), FieldMap("first_name", "first_name"), FieldMap("last_name", "last_name"),
            FieldMap("phone", "phone"), FieldMap("title", "function"), FieldMap("company_id", "parent_id"),
        )),
        ObjectMapping(system, "product", (
            FieldMap("code", "default_code"), FieldMap("name", "name"), FieldMap("list_price", "lst_price"),
            FieldMap("active", "active"),
        )),
        ObjectMapping(system, "order", (
            FieldMap("number", "name"), FieldMap("company_id", "partner_id"), FieldMap("state", "state"),
            FieldMap("amount_total", "amount_total"), FieldMap("currency", "currency_id"),
            FieldMap("lines", "order_line"),
        )),
        ObjectMapping(system, "deal", (
            FieldMap("company_id", "partner_id"), FieldMap("salesforce_id", "origin"), FieldMap("lines", "order_line"),
            # the ERP's own, read only
            FieldMap("order_number", "name"), FieldMap("order_status", "state", ORDER_STATES),
            FieldMap("delivery_status", "delivery_status", DELIVERY_STATES),
            FieldMap("invoice_status", "invoice_status", INVOICE_STATES),
            FieldMap("tracking_ref", "carrier_tracking_ref"), FieldMap("shipped_date", "date_done"),
            FieldMap("invoice_number", "invoice_name"), FieldMap("invoice_due_date", "invoice_date_due"),
            FieldMap("amount_invoiced", "amount_invoiced"), FieldMap("amount_paid", "amount_paid"),
            FieldMap("amount_overdue", "amount_overdue"), FieldMap("payment_status", "payment_state", PAYMENT_STATES),
        )),
        ObjectMapping(system, "shipment", (
            FieldMap("order_id", "sale_id"), FieldMap("state", "state"), FieldMap("scheduled_date", "scheduled_date"),
            FieldMap("done_date", "date_done"), FieldMap("tracking_ref", "carrier_tracking_ref"),
        )),
        ObjectMapping(system, "invoice", (
            FieldMap("number", "name"), FieldMap("order_id", "sale_order_id"), FieldMap("state", "state"),
            FieldMap("payment_state", "payment_state"), FieldMap("amount_total", "amount_total"),
            FieldMap("amount_residual", "amount_residual"), FieldMap("due_date", "invoice_date_due"),
        )),
        ObjectMapping(system, "payment", (
            FieldMap("invoice_id", "invoice_id"), FieldMap("amount", "amount"), FieldMap("date", "date"),
            FieldMap("state", "state"),
        )),
    ]  # fmt: skip


def mapping_for(mappings: Sequence[ObjectMapping], object_type: str) -> ObjectMapping | None:
    return next((m for m in mappings if m.object_type == object_type), None)
