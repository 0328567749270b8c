"""Sales, stock and invoicing behaviour: order defaults and amounts, confirm/cancel, prices, the clock's steps.

The business clock drives the last four functions: reserve, deliver, invoice, pay.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from connectors.erp.sandbox.exceptions import UserError
from connectors.erp.sandbox.store import Row

if TYPE_CHECKING:
    from connectors.erp.sandbox.orm import Env


def _round(value: float) -> float:
    return round(value + 0.0, 2)


def commercial_partner(env: Env, partner_id: int | None) -> Row | None:
    """The company a contact belongs to (the partner itself when it is a company or stands alone)."""
    partner = env.tx.get("res.partner", partner_id) if partner_id else None
    while partner is not None and partner.get("parent_id") and not partner.get("is_company"):
        parent = env.tx.get("res.partner", partner["parent_id"])
        if parent is None:
            break
        partner = parent
    return partner


def default_pricelist(env: Env) -> int | None:
    active = sorted(r["id"] for r in env.tx.rows("product.pricelist") if r.get("active", True))
    return active[0] if active else None


def pricelist_price(env: Env, pricelist_id: int | None, product_id: int, quantity: float, when: datetime) -> float:
    """The unit price Odoo's pricelist rules give: the first applicable item in the pricelist's order
    (applied_on, min_quantity desc, id desc), else the product's sales price."""
    product = env.tx.get("product.product", product_id)
    base = float(product.get("lst_price") or 0.0) if product else 0.0
    if pricelist_id is None:
        return base
    items = [
        r for r in env.tx.rows("product.pricelist.item")
        if r.get("pricelist_id") == pricelist_id
        and (r.get("applied_on") == "3_global" or r.get("product_id") == product_id)
        and float(r.get("min_quantity") or 0.0) <= quantity
        and (r.get("date_start") is None or r["date_start"] <= when)
        and (r.get("date_end") is None or when <= r["date_end"])
    ]  # fmt: skip
    items.sort(key=lambda r: (str(r.get("applied_on")), -float(r.get("min_quantity") or 0.0), -int(r["id"])))
    for item in items:
        if item.get("compute_price") == "fixed":
            return float(item.get("fixed_price") or 0.0)
        if item.get("compute_price") == "percentage":
            return _round(base * (1 - float(item.get("percent_price") or 0.0) / 100))
        return base
    return base


def defaults(env: Env, model_name: str, values: dict[str, Any], given: set[str]) -> dict[str, Any]:
    """Values Odoo fills in on create when the client left them out."""
    if model_name == "sale.order":
        if values.get("name") in (None, "", "/"):
            values["name"] = f"S{env.tx.store.next_number('sale.order'):05d}"
        values["date_order"] = values.get("date_order") or env.tx.now
        partner = commercial_partner(env, values.get("partner_id"))
        if "pricelist_id" not in given:
            values["pricelist_id"] = (partner or {}).get("property_product_pricelist") or default_pricelist(env)
        if "currency_id" not in given and values.get("pricelist_id"):
            pricelist = env.tx.get("product.pricelist", values["pricelist_id"]) or {}
            values["currency_id"] = pricelist.get("currency_id")
        if "payment_term_id" not in given:
            values["payment_term_id"] = (partner or {}).get("property_payment_term_id")
        values.setdefault("invoice_status", "no")
    if model_name == "account.move":
        values["commercial_partner_id"] = (commercial_partner(env, values.get("partner_id")) or {}).get("id")
    if model_name == "sale.order.line" and values.get("product_id"):
        product_id = int(values["product_id"])
        if "name" not in given:
            values["name"] = env.display("product.product", product_id)
        if "price_unit" not in given:
            order = env.tx.get("sale.order", values.get("order_id") or 0) or {}
            when = order.get("date_order") or env.tx.now
            quantity = float(values.get("product_uom_qty") or 0.0)
            values["price_unit"] = pricelist_price(env, order.get("pricelist_id"), product_id, quantity, when)
    if model_name == "res.partner" and values.get("parent_id") and not values.get("is_company"):
        parent = env.tx.get("res.partner", values["parent_id"]) or {}
        if "property_payment_term_id" not in given:
            values["property_payment_term_id"] = parent.get("property_payment_term_id")
    return values


def after_write(env: Env, model_name: str, record_id: int) -> None:
    """Stored computed fields: line subtotals, order amounts, an invoice's commercial partner."""
    if model_name == "sale.order.line":
        line = env.tx.get(model_name, record_id)
        assert line is not None
        subtotal = _round(
            float(line.get("product_uom_qty") or 0) * float(line.get("price_unit") or 0)
            * (1 - float(line.get("discount") or 0) / 100)
        )
        env.tx.update(model_name, record_id, {"price_subtotal": subtotal, "price_total": subtotal}, touch=False)
        if line.get("order_id"):
            _amounts(env, int(line["order_id"]))
    elif model_name == "sale.order":
        _amounts(env, record_id)
    elif model_name == "account.move":
        move = env.tx.get(model_name, record_id)
        assert move is not None
        commercial = (commercial_partner(env, move.get("partner_id")) or {}).get("id")
        env.tx.update(model_name, record_id, {"commercial_partner_id": commercial}, touch=False)


def _amounts(env: Env, order_id: int) -> None:
    total = _round(sum(float(r.get("price_subtotal") or 0) for r in env.tx.rows("sale.order.line")
                       if r.get("order_id") == order_id))  # fmt: skip
    env.tx.update("sale.order", order_id, {"amount_untaxed": total, "amount_tax": 0.0, "amount_total": total},
                  touch=False)


def lines(env: Env, order_id: int) -> list[Row]:
    return sorted((r for r in env.tx.rows("sale.order.line") if r.get("order_id") == order_id), key=lambda r: r["id"])


def confirm(env: Env, ids: list[int]) -> None:
    """action_confirm: draft or sent orders become sales orders with an outgoing picking to fill."""
    for order_id in ids:
        order = env.tx.get("sale.order", order_id)
        assert order is not None
        if order.get("state") not in ("draft", "sent"):
            raise UserError("Some orders are not in a state requiring confirmation.")
        if any(not line.get("product_id") for line in lines(env, order_id)):
            raise UserError("A line on these orders missing a product, you cannot confirm it.")
    for order_id in ids:
        order = env.tx.get("sale.order", order_id)
        assert order is not None
        env.tx.update("sale.order", order_id, {"state": "sale", "date_order": env.tx.now,
                                               "delivery_status": "pending", "invoice_status": "no"})
        number = env.tx.store.next_number("stock.picking")
        env.tx.insert("stock.picking", {
            "name": f"WH/OUT/{number:05d}", "partner_id": order.get("partner_id"), "origin": order.get("name"),
            "sale_id": order_id, "picking_type_code": "outgoing", "state": "confirmed",
            "scheduled_date": env.tx.now + timedelta(days=1), "date_done": None, "carrier_tracking_ref": None,
        })  # fmt: skip
        env.hooks.order_confirmed(env.tx, order_id)


def cancel(env: Env, ids: list[int]) -> None:
    """action_cancel: the order and its open pickings are cancelled; a delivered order cannot be."""
    for order_id in ids:
        pickings = [p for p in env.tx.rows("stock.picking") if p.get("sale_id") == order_id]
        if any(p.get("state") == "done" for p in pickings):
            raise UserError("You cannot cancel a sales order that has been delivered.")
        for picking in pickings:
            env.tx.update("stock.picking", picking["id"], {"state": "cancel"})
        env.tx.update("sale.order", order_id, {"state": "cancel"})
        env.hooks.order_cancelled(env.tx, order_id)


# -- the business clock's steps ---------------------------------------------------------------------------


def reserve(env: Env, picking_id: int) -> bool:
    picking = env.tx.get("stock.picking", picking_id)
    if picking is None or picking.get("state") not in ("confirmed", "waiting"):
        return False
    env.tx.update("stock.picking", picking_id, {"state": "assigned"})
    return True


def deliver(env: Env, picking_id: int, tracking: str) -> int | None:
    """Validate the picking; the order is fully delivered. Returns the order id."""
    picking = env.tx.get("stock.picking", picking_id)
    if picking is None or picking.get("state") not in ("confirmed", "waiting", "assigned"):
        return None
    env.tx.update("stock.picking", picking_id, {"state": "done", "date_done": env.tx.now,
                                                "carrier_tracking_ref": tracking})
    order_id = picking.get("sale_id")
    if order_id is None:
        return None
    for line in lines(env, order_id):
        env.tx.update("sale.order.line", line["id"], {"qty_delivered": line.get("product_uom_qty")})
    env.tx.update("sale.order", order_id, {"delivery_status": "full", "invoice_status": "to invoice"})
    return int(order_id)


def term_days(env: Env, term_id: int | None) -> int:
    if not term_id:
        return 0
    return max((int(r.get("nb_days") or 0) for r in env.tx.rows("account.payment.term.line")
                if r.get("payment_id") == term_id), default=0)  # fmt: skip


def invoice(env: Env, order_id: int) -> int:
    """Create and post the customer invoice of a delivered order; its due date follows the payment term."""
    order = env.tx.get("sale.order", order_id)
    assert order is not None
    today: date = env.tx.now.date()
    term = order.get("payment_term_id") or (commercial_partner(env, order.get("partner_id")) or {}).get(
        "property_payment_term_id"
    )
    number = env.tx.store.next_number(f"account.move:{today.year}")
    total = float(order.get("amount_total") or 0.0)
    invoice_id = env.tx.insert("account.move", {
        "name": f"INV/{today.year}/{number:05d}", "move_type": "out_invoice", "partner_id": order.get("partner_id"),
        "commercial_partner_id": (commercial_partner(env, order.get("partner_id")) or {}).get("id"),
        "state": "posted", "payment_state": "not_paid", "invoice_date": today,
        "invoice_date_due": today + timedelta(days=term_days(env, term)), "invoice_payment_term_id": term,
        "invoice_origin": order.get("name"), "ref": order.get("client_order_ref"),
        "amount_untaxed": total, "amount_tax": 0.0, "amount_total": total, "amount_residual": total,
        "currency_id": order.get("currency_id"),
    })  # fmt: skip
    for line in lines(env, order_id):
        env.tx.update("sale.order.line", line["id"], {"qty_invoiced": line.get("product_uom_qty")})
    env.tx.update("sale.order", order_id, {"invoice_ids": [*(order.get("invoice_ids") or []), invoice_id],
                                           "invoice_status": "invoiced"})
    return invoice_id


def pay(env: Env, invoice_id: int, amount: float | None) -> int | None:
    """Register a customer payment against a posted invoice (None: whatever is still due)."""
    move = env.tx.get("account.move", invoice_id)
    if move is None or move.get("state") != "posted":
        return None
    residual = float(move.get("amount_residual") or 0.0)
    paid = _round(min(residual, residual if amount is None else amount))
    if paid <= 0:
        return None
    today = env.tx.now.date()
    number = env.tx.store.next_number(f"account.payment:{today.year}")
    payment_id = env.tx.insert("account.payment", {
        "name": f"PBNK1/{today.year}/{number:05d}", "payment_type": "inbound", "partner_type": "customer",
        "partner_id": move.get("partner_id"), "amount": paid, "date": today, "state": "posted",
        "currency_id": move.get("currency_id"), "ref": move.get("name"), "reconciled_invoice_ids": [invoice_id],
    })  # fmt: skip
    left = _round(residual - paid)
    env.tx.update("account.move", invoice_id, {"amount_residual": max(left, 0.0),
                                               "payment_state": "paid" if left <= 0.005 else "partial"})
    return payment_id
