"""What the ERP did with a won deal's order, as milestones of the deal's story.

Runs on the ERP's deals as the sync loop reads them (flows.after_ingest) and as Revline places them
(flows.after_write): the order placed, confirmed,
delivered, invoiced and paid each become a milestone once, at the time Revline saw it (the
ERP's write_date has whole seconds and its derived facts no times of their own, so its clock
cannot order them against the CRMs' steps), and the order and invoice numbers become search
keys of the story.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from sync_core.persistence import ledger
from sync_core.services import closed_won, trace
from sync_core.services.policy import ObjectPolicy

# milestone -> (the field that tells, when its value says the step happened)
STEPS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "order.confirmed": ("order_status", lambda v: v == "confirmed"),
    "order.delivered": ("delivery_status", lambda v: v == "delivered"),
    "invoice.posted": ("invoice_number", lambda v: bool(v)),
    "payment.received": ("payment_status", lambda v: v == "paid"),
}


def after_ingest(
    session: Session, system: str, policy: ObjectPolicy, canonical_ids: Collection[str], now: datetime
) -> int:
    """Record the milestones the ERP's deals in `canonical_ids` reached; returns how many were new."""
    found = closed_won.roles(policy)
    if found is None or system != found.erp or not canonical_ids:
        return 0
    states = ledger.shadows(session, list(canonical_ids), system)
    stories = trace.correlations(session, canonical_ids)
    recorded = 0
    for cid in canonical_ids:
        state = ledger.state_of(states.get((cid, system)))
        if state is None:
            continue
        story = stories.get(cid, cid)
        trace.add_keys(session, story, {"order": state.values.get("order_number"),
                                        "invoice": state.values.get("invoice_number")})  # fmt: skip
        recorded += _milestones(session, story, cid, system, state.values, now)
    return recorded


def after_write(
    session: Session, target: str, policy: ObjectPolicy, created: Collection[str], now: datetime
) -> None:
    """Orders Revline just placed in the ERP: `order.placed`, and what the placement's answer already tells
    (confirmed, most likely)."""
    found = closed_won.roles(policy)
    if found is None or target != found.erp or not created:
        return
    stories = trace.correlations(session, created)
    for cid in created:
        trace.milestone(session, stories.get(cid, cid), "order.placed", target, now, {"record": cid})
    after_ingest(session, target, policy, created, now)


def _milestones(session: Session, story: str, cid: str, system: str, values: Mapping[str, Any], now: datetime) -> int:
    recorded = 0
    for name, (field, happened) in STEPS.items():
        if happened(values.get(field)):
            recorded += trace.milestone(session, story, name, system, now, {"record": cid, field: values.get(field)})
    return recorded
