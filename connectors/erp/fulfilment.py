"""A deal's fulfilment as its order's pickings and invoices tell it: shipped when and how, invoiced, paid, overdue.

Pure functions over stock.picking and account.move rows (search_read answers). The fields carry
the names the ERP's deal mapping reads (mapping.default_mappings):

    carrier_tracking_ref, date_done    the latest done outgoing picking (by date_done, then id)
    invoice_name, invoice_date_due     the latest posted customer invoice (by invoice date, then id)
    amount_invoiced                    posted invoices minus posted credit notes
    amount_paid                        settled on the invoices, less what was refunded
    amount_overdue                     still due on invoices past their due date (the ERP's today)
    payment_state                      billing.payment_status: overdue / reversed / paid / in_payment / partial
                                       / not_paid, None before the first invoice
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from connectors.erp.billing import Move, summarise
from connectors.erp.mapping import parse_datetime

PICKING_FIELDS = ("sale_id", "picking_type_code", "state", "date_done", "carrier_tracking_ref", "write_date")


def shipped(pickings: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Tracking reference and ship date of the latest done outgoing picking (None for both before one is)."""
    done = [p for p in pickings if p.get("state") == "done" and p.get("picking_type_code", "outgoing") == "outgoing"]
    if not done:
        return {"carrier_tracking_ref": None, "date_done": None}
    latest = max(done, key=lambda p: (str(p.get("date_done") or ""), int(p["id"])))
    when = latest.get("date_done")
    return {
        "carrier_tracking_ref": latest.get("carrier_tracking_ref") or None,
        "date_done": parse_datetime(str(when)).date().isoformat() if when else None,
    }


def deal_fields(pickings: Iterable[Mapping[str, Any]], moves: Iterable[Move], today: date) -> dict[str, Any]:
    """The deal's fulfilment fields derived from its order's pickings and customer invoices and credit notes."""
    moves = list(moves)
    facts = summarise(moves, today)
    invoices = [m for m in moves if m.posted and not m.refund]
    latest = max(invoices, key=lambda m: (m.invoice_date or date.min, m.id), default=None)
    return {
        **shipped(pickings),
        "invoice_name": latest.name if latest else None,
        "invoice_date_due": latest.due.isoformat() if latest and latest.due else None,
        "amount_invoiced": float(facts.invoiced),
        "amount_paid": float(facts.paid),
        "amount_overdue": float(facts.overdue),
        "payment_state": facts.status,
    }
