"""Fields Odoo keeps on other models, read for a page of records in one call per model.

    order     its lines                           sale.order.line (product codes from the catalogue)
    invoice   its order                           sale.order whose invoice_ids hold it
    deal      shipping, invoicing and payment     stock.picking, account.move (fulfilment.py)
    company   open amounts, overdue, risk         account.move of the commercial partner (billing.py)

Deals and companies also change when those records do: `changed` is the latest such change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from connectors.erp.billing import INVOICE, MOVE_FIELDS, OPEN_STATES, REFUND, Move, company_fields, last_change
from connectors.erp.catalog import Catalog
from connectors.erp.client import OdooClient
from connectors.erp.fulfilment import PICKING_FIELDS, deal_fields
from connectors.erp.mapping import line_of, record_id

NEEDS_TODAY = frozenset({"deal", "company"})  # derivations that depend on the ERP's date (overdue)


@dataclass(frozen=True)
class Derivation:
    fields: dict[str, Any] = field(default_factory=dict)
    changed: str | None = None  # the latest change of the records the fields come from, if later than write_date


class Relations:
    """Reads what a page of records needs from other models."""

    def __init__(self, client: OdooClient, catalog: Catalog) -> None:
        self._client = client
        self._catalog = catalog

    def of(self, object_type: str, rows: Sequence[Mapping[str, Any]], today: date | None) -> dict[int, Derivation]:
        ids = [int(r["id"]) for r in rows]
        if not ids:
            return {}
        if object_type == "order":
            return self._order_lines(ids)
        if object_type == "invoice":
            return self._invoice_orders(ids)
        if object_type in NEEDS_TODAY and today is None:
            raise ValueError(f"{object_type} fields depend on the ERP's today")
        if object_type == "deal":
            assert today is not None
            return self._fulfilment(rows, today)
        if object_type == "company":
            assert today is not None
            return self._billing(ids, today)
        return {}

    def _order_lines(self, ids: list[int]) -> dict[int, Derivation]:
        lines = self._client.call("sale.order.line", "search_read", domain=[["order_id", "in", ids]],
                                  fields=["order_id", "product_id", "name", "product_uom_qty", "price_unit"],
                                  order="order_id, sequence, id")
        codes = self._catalog.codes_of(p for p in (record_id(r.get("product_id")) for r in lines) if p is not None)
        result: dict[int, Derivation] = {i: Derivation({"order_line": []}) for i in ids}
        for line in lines:
            order_id = record_id(line.get("order_id"))
            if order_id in result:
                result[order_id].fields["order_line"].append(line_of(line, codes))
        return result

    def _invoice_orders(self, ids: list[int]) -> dict[int, Derivation]:
        orders = self._client.call("sale.order", "search_read", domain=[["invoice_ids", "in", ids]],
                                   fields=["invoice_ids"], order="id asc")
        by_invoice: dict[int, Derivation] = {i: Derivation({"sale_order_id": None}) for i in ids}
        for order in orders:
            for invoice_id in order.get("invoice_ids") or []:
                if invoice_id in by_invoice and by_invoice[invoice_id].fields["sale_order_id"] is None:
                    by_invoice[invoice_id].fields["sale_order_id"] = str(order["id"])
        return by_invoice

    def _fulfilment(self, rows: Sequence[Mapping[str, Any]], today: date) -> dict[int, Derivation]:
        ids = [int(r["id"]) for r in rows]
        # Done outgoing pickings only: what the deal shows comes from them, and the deal feed watches them.
        pickings = self._client.call("stock.picking", "search_read",
                                     domain=[["sale_id", "in", ids], ["picking_type_code", "=", "outgoing"],
                                             ["state", "=", "done"]],
                                     fields=list(PICKING_FIELDS), order="id asc")
        invoice_ids = sorted({int(i) for r in rows for i in (r.get("invoice_ids") or [])})
        moves = []
        if invoice_ids:
            found = self._client.call("account.move", "search_read",
                                      domain=[["id", "in", invoice_ids], ["move_type", "in", [INVOICE, REFUND]]],
                                      fields=list(MOVE_FIELDS), order="id asc")
            moves = [Move.of(m) for m in found]
        by_id = {m.id: m for m in moves}
        result: dict[int, Derivation] = {}
        for row in rows:
            order_id = int(row["id"])
            mine = [p for p in pickings if record_id(p.get("sale_id")) == order_id]
            invoices = [by_id[int(i)] for i in (row.get("invoice_ids") or []) if int(i) in by_id]
            changed = last_change([*(str(p.get("write_date") or "") for p in mine), *(m.write_date for m in invoices)],
                                  invoices, today)
            result[order_id] = Derivation(deal_fields(mine, invoices, today), changed)
        return result

    def _billing(self, ids: list[int], today: date) -> dict[int, Derivation]:
        found = self._client.call(
            "account.move", "search_read",
            domain=[["commercial_partner_id", "in", ids], ["move_type", "in", [INVOICE, REFUND]],
                    ["state", "=", "posted"], ["payment_state", "in", list(OPEN_STATES)]],
            fields=[*MOVE_FIELDS, "commercial_partner_id"], order="id asc",
        )  # fmt: skip
        moves: dict[int, list[Move]] = {i: [] for i in ids}
        for row in found:
            partner = record_id(row.get("commercial_partner_id"))
            if partner in moves:
                moves[partner].append(Move.of(row))
        return {
            partner: Derivation(company_fields(partner, mine, today),
                                last_change([m.write_date for m in mine], mine, today))
            for partner, mine in moves.items()
        }
