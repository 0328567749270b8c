"""A customer's or an order's invoices summed as the ERP's billing facts: invoiced, paid, open, overdue, status.

Pure functions over account.move rows (customer invoices and credit notes, as search_read answers
them). Only posted moves count. Overdue is not stored in Odoo: a posted invoice not fully paid whose
due date is before the ERP's today. It becomes overdue at midnight (UTC) after its due date, which
changes no write_date; `overdue_since` is that moment, so a record derived from the invoice changes
then too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from connectors.erp.mapping import as_date, format_datetime

CENT = Decimal("0.01")
INVOICE, REFUND = "out_invoice", "out_refund"
OPEN_STATES = ("not_paid", "partial")  # payment states that leave something to pay (in_payment has no residual)
# What an account.move row needs for the billing facts.
MOVE_FIELDS = ("name", "move_type", "state", "payment_state", "invoice_date", "invoice_date_due", "amount_total",
               "amount_residual", "write_date")  # fmt: skip


def money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT)


@dataclass(frozen=True)
class Move:
    """One customer invoice or credit note, as the billing facts need it."""

    id: int
    name: str | None
    refund: bool
    posted: bool
    payment_state: str | None
    invoice_date: date | None
    due: date | None
    total: Decimal
    residual: Decimal
    write_date: str

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Move:
        return cls(
            int(row["id"]), str(row["name"]) if row.get("name") else None, row.get("move_type") == REFUND,
            row.get("state") == "posted", str(row["payment_state"]) if row.get("payment_state") else None,
            as_date(row.get("invoice_date")), as_date(row.get("invoice_date_due")), money(row.get("amount_total")),
            money(row.get("amount_residual")), str(row.get("write_date") or "")[:19],
        )

    def is_overdue(self, today: date) -> bool:
        return (self.posted and not self.refund and self.payment_state in OPEN_STATES and self.residual > 0
                and self.due is not None and self.due < today)  # fmt: skip


def overdue_since(due: date) -> datetime:
    """When an invoice due on `due` becomes overdue: the midnight (UTC) after it."""
    return datetime.combine(due + timedelta(days=1), time(0), UTC)


@dataclass(frozen=True)
class Billing:
    """The facts of a set of moves on one day."""

    invoiced: Decimal  # posted invoices minus posted credit notes
    paid: Decimal  # what was settled on the invoices, less what was refunded on the credit notes
    open: Decimal  # still due on the invoices, less the credit notes not yet used
    overdue: Decimal  # still due on the invoices past their due date
    status: str | None  # one of records.PAYMENT_STATUSES; None before anything is invoiced


def payment_status(states: Sequence[str | None], overdue: Decimal) -> str | None:
    """One status for the posted invoices' payment states: overdue when something overdue is unpaid, reversed
    when every invoice was, paid / in_payment when all is settled, partial when some is, else not_paid."""
    live = [s for s in states if s != "reversed"]
    if not states:
        return None
    if overdue > 0:
        return "overdue"
    if not live:
        return "reversed"
    if all(s == "paid" for s in live):
        return "paid"
    if all(s in ("paid", "in_payment") for s in live):
        return "in_payment"
    if any(s in ("paid", "in_payment", "partial") for s in live):
        return "partial"
    return "not_paid"


def summarise(moves: Iterable[Move], today: date) -> Billing:
    posted = [m for m in moves if m.posted]
    invoices = [m for m in posted if not m.refund]
    refunds = [m for m in posted if m.refund]
    overdue = sum((m.residual for m in invoices if m.is_overdue(today)), Decimal(0))
    return Billing(
        invoiced=sum((m.total for m in invoices), Decimal(0)) - sum((m.total for m in refunds), Decimal(0)),
        paid=sum((m.total - m.residual for m in invoices), Decimal(0))
        - sum((m.total - m.residual for m in refunds), Decimal(0)),
        open=sum((m.residual for m in invoices), Decimal(0)) - sum((m.residual for m in refunds), Decimal(0)),
        overdue=overdue,
        status=payment_status([m.payment_state for m in invoices], overdue),
    )


def last_change(write_dates: Iterable[str], moves: Iterable[Move], today: date) -> str | None:
    """The latest of `write_dates` and the moments the overdue moves became overdue (Odoo's datetime format)."""
    moments = [str(w)[:19] for w in write_dates if w]
    moments += [format_datetime(overdue_since(m.due)) for m in moves if m.due is not None and m.is_overdue(today)]
    return max(moments, default=None)


def company_fields(partner_id: int, moves: Iterable[Move], today: date) -> dict[str, Any]:
    """A company's billing facts from its open posted invoices and credit notes (vendor field names)."""
    facts = summarise(moves, today)
    return {
        "customer_number": str(partner_id),
        "open_invoice_amount": float(facts.open),
        "amount_overdue": float(facts.overdue),
        "billing_risk": facts.overdue > 0,
    }
