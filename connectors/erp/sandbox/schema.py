"""The models the sandbox holds, declared the way Odoo describes them in fields_get."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Odoo's magic columns: every model has them, the ORM sets them, writes to them are ignored.
MAGIC = ("id", "display_name", "create_date", "create_uid", "write_date", "write_uid")


@dataclass(frozen=True)
class Field:
    """One field as fields_get reports it, plus how the sandbox keeps it."""

    name: str
    type: str  # char text boolean integer float monetary date datetime selection many2one one2many many2many
    string: str
    required: bool = False
    relation: str | None = None
    inverse: str | None = None  # one2many: the many2one on `relation` pointing back here
    selection: tuple[tuple[str, str], ...] = ()
    default: Any = None
    # Computed by the sandbox (amounts, statuses, links): readable, never written by a client.
    computed: bool = False

    def describe(self) -> dict[str, Any]:
        """The field's entry in fields_get."""
        body: dict[str, Any] = {
            "type": self.type,
            "string": self.string,
            "required": self.required,
            "readonly": self.computed,
            "store": True,
            "searchable": True,
            "sortable": self.type not in ("one2many", "many2many"),
        }
        if self.relation:
            body["relation"] = self.relation
        if self.inverse:
            body["relation_field"] = self.inverse
        if self.type == "selection":
            body["selection"] = [list(pair) for pair in self.selection]
        return body


@dataclass(frozen=True)
class Model:
    name: str
    description: str
    fields: dict[str, Field]
    rec_name: str = "name"
    order: str = "id"
    sequence: Callable[[int], str] | None = field(default=None, compare=False)  # number -> the record's name

    def field(self, name: str) -> Field | None:
        return self.fields.get(name)

    @property
    def has_active(self) -> bool:
        return "active" in self.fields


def _f(name: str, type_: str, string: str, **options: Any) -> Field:
    return Field(name, type_, string, **options)


def char(name: str, string: str, **options: Any) -> Field:
    return _f(name, "char", string, **options)


def text(name: str, string: str, **options: Any) -> Field:
    return _f(name, "text", string, **options)


def boolean(name: str, string: str, default: bool = False, **options: Any) -> Field:
    return _f(name, "boolean", string, default=default, **options)


def integer(name: str, string: str, **options: Any) -> Field:
    return _f(name, "integer", string, default=options.pop("default", 0), **options)


def number(name: str, string: str, monetary: bool = False, **options: Any) -> Field:
    return _f(name, "monetary" if monetary else "float", string, default=options.pop("default", 0.0), **options)


def date(name: str, string: str, **options: Any) -> Field:
    return _f(name, "date", string, **options)


def datetime_(name: str, string: str, **options: Any) -> Field:
    return _f(name, "datetime", string, **options)


def selection(name: str, string: str, values: tuple[tuple[str, str], ...], **options: Any) -> Field:
    return _f(name, "selection", string, selection=values, **options)


def many2one(name: str, string: str, relation: str, **options: Any) -> Field:
    return _f(name, "many2one", string, relation=relation, **options)


def one2many(name: str, string: str, relation: str, inverse: str, **options: Any) -> Field:
    return _f(name, "one2many", string, relation=relation, inverse=inverse, **options)


def many2many(name: str, string: str, relation: str, **options: Any) -> Field:
    return _f(name, "many2many", string, relation=relation, default=options.pop("default", ()), **options)


def _model(
    name: str,
    description: str,
    *fields: Field,
    rec_name: str = "name",
    order: str = "id",
    sequence: Callable[[int], str] | None = None,
) -> Model:
    magic = (
        integer("id", "ID", computed=True),
        char("display_name", "Display Name", computed=True),
        datetime_("create_date", "Created on", computed=True),
        many2one("create_uid", "Created by", "res.users", computed=True),
        datetime_("write_date", "Last Updated on", computed=True),
        many2one("write_uid", "Last Updated by", "res.users", computed=True),
    )
    return Model(name, description, {f.name: f for f in (*magic, *fields)}, rec_name, order, sequence)


SALE_STATES = (("draft", "Quotation"), ("sent", "Quotation Sent"), ("sale", "Sales Order"), ("cancel", "Cancelled"))
PICKING_STATES = (
    ("draft", "Draft"), ("waiting", "Waiting Another Operation"), ("confirmed", "Waiting"),
    ("assigned", "Ready"), ("done", "Done"), ("cancel", "Cancelled"),
)  # fmt: skip
MOVE_STATES = (("draft", "Draft"), ("posted", "Posted"), ("cancel", "Cancelled"))
PAYMENT_STATES = (
    ("not_paid", "Not Paid"), ("in_payment", "In Payment"), ("paid", "Paid"), ("partial", "Partially Paid"),
    ("reversed", "Reversed"), ("invoicing_legacy", "Invoicing App Legacy"),
)  # fmt: skip
MOVE_TYPES = (
    ("entry", "Journal Entry"), ("out_invoice", "Customer Invoice"), ("out_refund", "Customer Credit Note"),
    ("in_invoice", "Vendor Bill"), ("in_refund", "Vendor Credit Note"), ("out_receipt", "Sales Receipt"),
    ("in_receipt", "Purchase Receipt"),
)  # fmt: skip

MODELS: dict[str, Model] = {
    m.name: m
    for m in (
        _model("res.users", "User", char("name", "Name", required=True), char("login", "Login", required=True),
               boolean("active", "Active", default=True)),
        _model("res.country", "Country", char("name", "Country Name", required=True), char("code", "Country Code"),
               order="name"),
        _model("res.currency", "Currency", char("name", "Currency", required=True), char("symbol", "Symbol"),
               boolean("active", "Active", default=True)),
        _model(
            "account.payment.term", "Payment Terms", char("name", "Payment Terms", required=True),
            boolean("active", "Active", default=True), text("note", "Description on the Invoice"),
            one2many("line_ids", "Terms", "account.payment.term.line", "payment_id"),
        ),
        _model(
            "account.payment.term.line", "Payment Terms Line",
            many2one("payment_id", "Payment Terms", "account.payment.term", required=True),
            selection("value", "Type", (("percent", "Percent"), ("fixed", "Fixed")), default="percent"),
            number("value_amount", "Due", default=100.0), integer("nb_days", "Days"), rec_name="value",
        ),
        _model(
            "res.partner", "Contact",
            char("name", "Name"), boolean("is_company", "Is a Company"), char("ref", "Reference"),
            char("vat", "Tax ID"), char("email", "Email"), char("phone", "Phone"), char("mobile", "Mobile"),
            char("website", "Website Link"), char("function", "Job Position"), char("street", "Street"),
            char("street2", "Street2"), char("city", "City"), char("zip", "Zip"),
            many2one("country_id", "Country", "res.country"),
            many2one("parent_id", "Related Company", "res.partner"),
            one2many("child_ids", "Contact", "res.partner", "parent_id"),
            selection("type", "Address Type", (("contact", "Contact"), ("invoice", "Invoice Address"),
                                               ("delivery", "Delivery Address"), ("other", "Other Address")),
                      default="contact"),
            boolean("active", "Active", default=True),
            many2one("property_payment_term_id", "Customer Payment Terms", "account.payment.term"),
            many2one("property_product_pricelist", "Pricelist", "product.pricelist"),
            number("credit_limit", "Credit Limit", monetary=True),
            selection("sale_warn", "Sales Warnings", (("no-message", "No Message"), ("warning", "Warning"),
                                                      ("block", "Blocking Message")), default="no-message"),
            text("sale_warn_msg", "Message for Sales Order"), integer("customer_rank", "Customer Rank"),
            text("comment", "Notes"), order="name, id",
        ),
        _model(
            "product.product", "Product", char("name", "Name", required=True),
            char("default_code", "Internal Reference"), number("lst_price", "Sales Price", monetary=True),
            boolean("active", "Active", default=True), boolean("sale_ok", "Can be Sold", default=True),
            selection("type", "Product Type", (("consu", "Goods"), ("service", "Service"),
                                               ("combo", "Combo")), default="consu"),
            text("description_sale", "Sales Description"), many2one("currency_id", "Currency", "res.currency"),
            order="default_code, name, id",
        ),
        _model(
            "product.pricelist", "Pricelist", char("name", "Pricelist Name", required=True),
            boolean("active", "Active", default=True), many2one("currency_id", "Currency", "res.currency"),
            one2many("item_ids", "Pricelist Rules", "product.pricelist.item", "pricelist_id"),
        ),
        _model(
            "product.pricelist.item", "Pricelist Rule",
            many2one("pricelist_id", "Pricelist", "product.pricelist", required=True),
            selection("applied_on", "Apply On", (("3_global", "All Products"),
                                                 ("2_product_category", "Product Category"),
                                                 ("1_product", "Product"), ("0_product_variant", "Product Variant")),
                      default="3_global"),
            many2one("product_id", "Product Variant", "product.product"),
            selection("compute_price", "Compute Price", (("fixed", "Fixed Price"), ("percentage", "Discount"),
                                                         ("formula", "Formula")), default="fixed"),
            number("fixed_price", "Fixed Price"), number("percent_price", "Percentage Price"),
            number("min_quantity", "Min. Quantity"), datetime_("date_start", "Start Date"),
            datetime_("date_end", "End Date"), rec_name="applied_on",
            order="applied_on, min_quantity desc, id desc",
        ),
        _model(
            "sale.order", "Sales Order",
            char("name", "Order Reference"), many2one("partner_id", "Customer", "res.partner", required=True),
            char("origin", "Source Document"), char("client_order_ref", "Customer Reference"),
            datetime_("date_order", "Order Date"), date("validity_date", "Expiration"),
            selection("state", "Status", SALE_STATES, default="draft"),
            one2many("order_line", "Order Lines", "sale.order.line", "order_id"),
            number("amount_untaxed", "Untaxed Amount", monetary=True, computed=True),
            number("amount_tax", "Taxes", monetary=True, computed=True),
            number("amount_total", "Total", monetary=True, computed=True),
            many2one("currency_id", "Currency", "res.currency"),
            many2one("pricelist_id", "Pricelist", "product.pricelist"),
            many2one("payment_term_id", "Payment Terms", "account.payment.term"),
            selection("invoice_status", "Invoice Status", (("upselling", "Upselling Opportunity"),
                                                           ("invoiced", "Fully Invoiced"),
                                                           ("to invoice", "To Invoice"),
                                                           ("no", "Nothing to Invoice")), computed=True),
            selection("delivery_status", "Delivery Status", (("pending", "Not Delivered"), ("started", "Started"),
                                                             ("partial", "Partially Delivered"),
                                                             ("full", "Fully Delivered")), computed=True),
            one2many("picking_ids", "Transfers", "stock.picking", "sale_id", computed=True),
            many2many("invoice_ids", "Invoices", "account.move", computed=True),
            datetime_("commitment_date", "Delivery Date"), text("note", "Terms and conditions"),
            order="date_order desc, id desc", sequence=lambda n: f"S{n:05d}",
        ),
        _model(
            "sale.order.line", "Sales Order Line",
            many2one("order_id", "Order Reference", "sale.order", required=True),
            many2one("product_id", "Product", "product.product"), text("name", "Description"),
            number("product_uom_qty", "Quantity", default=1.0), number("price_unit", "Unit Price"),
            number("discount", "Discount (%)"), number("price_subtotal", "Subtotal", monetary=True, computed=True),
            number("price_total", "Total", monetary=True, computed=True),
            number("qty_delivered", "Delivery Quantity", computed=True),
            number("qty_invoiced", "Invoiced Quantity", computed=True), integer("sequence", "Sequence", default=10),
            order="order_id, sequence, id",
        ),
        _model(
            "stock.picking", "Transfer", char("name", "Reference"),
            many2one("partner_id", "Contact", "res.partner"), char("origin", "Source Document"),
            many2one("sale_id", "Sales Order", "sale.order"),
            selection("picking_type_code", "Type of Operation", (("incoming", "Receipt"), ("outgoing", "Delivery"),
                                                                 ("internal", "Internal Transfer")),
                      default="outgoing"),
            selection("state", "Status", PICKING_STATES, default="draft"),
            datetime_("scheduled_date", "Scheduled Date"), datetime_("date_done", "Date of Transfer"),
            char("carrier_tracking_ref", "Tracking Reference"),
            order="scheduled_date asc, id desc", sequence=lambda n: f"WH/OUT/{n:05d}",
        ),
        _model(
            "account.move", "Journal Entry", char("name", "Number"),
            selection("move_type", "Type", MOVE_TYPES, default="entry", required=True),
            many2one("partner_id", "Partner", "res.partner"), selection("state", "Status", MOVE_STATES,
                                                                         default="draft"),
            many2one("commercial_partner_id", "Commercial Entity", "res.partner", computed=True),
            selection("payment_state", "Payment Status", PAYMENT_STATES, default="not_paid"),
            date("invoice_date", "Invoice/Bill Date"), date("invoice_date_due", "Due Date"),
            many2one("invoice_payment_term_id", "Payment Terms", "account.payment.term"),
            char("invoice_origin", "Origin"), char("ref", "Reference"),
            number("amount_untaxed", "Untaxed Amount", monetary=True),
            number("amount_tax", "Tax", monetary=True), number("amount_total", "Total", monetary=True),
            number("amount_residual", "Amount Due", monetary=True),
            many2one("currency_id", "Currency", "res.currency"),
            order="invoice_date desc, name desc, id desc",
        ),
        _model(
            "account.payment", "Payments", char("name", "Number"),
            selection("payment_type", "Payment Type", (("outbound", "Send"), ("inbound", "Receive")),
                      default="inbound"),
            selection("partner_type", "Partner Type", (("customer", "Customer"), ("supplier", "Vendor")),
                      default="customer"),
            many2one("partner_id", "Customer/Vendor", "res.partner"), number("amount", "Amount", monetary=True),
            date("date", "Date"), selection("state", "Status", MOVE_STATES, default="draft"),
            many2one("currency_id", "Currency", "res.currency"), char("ref", "Memo"),
            many2many("reconciled_invoice_ids", "Reconciled Invoices", "account.move", computed=True),
            order="date desc, name desc, id desc",
        ),
    )
}


def model(name: str) -> Model | None:
    return MODELS.get(name)
