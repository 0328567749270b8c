"""What a person can do with an order the closed-won flow held: approve, reject, remap a product (on one
order, or for every order at once).

Each action is a repair_action row on the order's outbox row (who, when, why, what) plus an
audit row, and then the order is decided again: the flow reads those rows as the remaps and
approvals it must honour, so an approval covers exactly the prices the person saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core.persistence.database import db_now, transaction
from sync_core.persistence.tables import AuditLog, OutboundOp, RepairAction, op_status_is
from sync_core.services import closed_won


def _held(session: Session, op_id: int, category: str | None = None) -> OutboundOp:
    op = session.execute(select(OutboundOp).where(col(OutboundOp.id) == op_id).with_for_update()).scalar()
    if op is None or not closed_won.is_order(op):
        raise ValueError(f"outbound op {op_id} is not an order")
    if op.status != "dead":
        raise ValueError(f"order {op_id} is {op.status}, not held")
    if category is not None and op.error_category != category:
        raise ValueError(f"order {op_id} is held for {op.error_category}, not {category}")
    return op


def _record(session: Session, op: OutboundOp, action: str, actor: str, reason: str | None,
            details: dict[str, Any]) -> None:
    now = db_now(session)
    assert op.id is not None
    session.add(RepairAction(op_id=op.id, action=action, actor=actor, reason=reason, details=details, at=now))
    session.add(AuditLog(at=now, actor=actor, action=f"order.{action}", subject=f"outbound_op:{op.id}",
                         details={**details, "reason": reason, "deal": op.canonical_id}))


def _require(reason: str | None, action: str) -> str:
    if reason is None or not reason.strip():
        raise ValueError(f"a reason is required to {action} an order")
    return reason.strip()


def approve(engine: Engine, op_id: int, actor: str, reason: str) -> None:
    """Approve the prices an order was held for, and place it."""
    with transaction(engine) as session:
        op = _held(session, op_id, "approval_required")
        digest = (op.result or {}).get("held", {}).get("digest")
        if not digest:
            raise ValueError(f"order {op_id} records no prices to approve")
        _record(session, op, "approve", actor, _require(reason, "approve"),
                {"digest": digest, "deviations": op.result["held"].get("deviations", [])})
        closed_won.reconsider(session, op, db_now(session))


def reject(engine: Engine, op_id: int, actor: str, reason: str) -> None:
    """Refuse a held order: no order is placed for the deal, and the reason stays on record."""
    with transaction(engine) as session:
        op = _held(session, op_id)
        _record(session, op, "reject", actor, _require(reason, "reject"), {"category": op.error_category})
        op.status = "rejected"
        op.updated_at = db_now(session)


def remap_product(engine: Engine, op_id: int, product_code: str, to_code: str, actor: str,
                  reason: str | None = None) -> None:
    """Order `to_code` (a product the ERP sells) wherever the deal has `product_code`, and decide again."""
    with transaction(engine) as session:
        op = _held(session, op_id)
        codes = {str(line.get("product_code")) for line in op.payload.get("lines") or []}
        if product_code not in codes:
            raise ValueError(f"order {op_id} has no line with product {product_code!r}")
        if not to_code.strip():
            raise ValueError("remap to which product? the code is empty")
        _record(session, op, "remap", actor, reason, {"from": product_code, "to": to_code.strip()})
        closed_won.reconsider(session, op, db_now(session))


def map_product(engine: Engine, product_code: str, to_code: str, actor: str, reason: str | None = None) -> int:
    """From now on order `to_code` (a product the ERP sells) wherever a deal has `product_code`: the
    mapping is fixed once for every order (a retry of the orders it held places them); audited with
    the mappings before and after. Returns how many held orders name `product_code`."""
    code, target = product_code.strip(), to_code.strip()
    if not code or not target:
        raise ValueError("remap which product to which? a code is empty")
    with transaction(engine) as session:
        if not closed_won.sells(session, target):
            raise ValueError(f"the ERP sells no product {target!r}: pick one it sells")
        now = db_now(session)
        before = closed_won.product_aliases(session)
        closed_won.save_product_alias(session, code, target, actor, now)
        held: Sequence[dict[str, Any]] = session.execute(
            select(col(OutboundOp.result)).where(
                op_status_is("dead"), col(OutboundOp.operation) == closed_won.PLACE,
                col(OutboundOp.error_category) == "mapping",
            )
        ).scalars().all()
        blocked = sum(1 for result in held if code in ((result or {}).get("held", {}).get("missing_products") or []))
        session.add(AuditLog(at=now, actor=actor, action="order.product_mapped", subject=f"product:{code}",
                             details={"from": code, "to": target, "reason": reason, "held_orders": blocked,
                                      "before": before, "after": {**before, code: target}}))
        return blocked
