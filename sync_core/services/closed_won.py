"""Closed-won to order: when a deal is won in the sales system, place its order in the ERP once.

Runs inside the intake transaction of the sales system's deals (flows.after_ingest), and again
when a person retries, approves, rejects or remaps a held order. For each won deal the ERP does
not hold yet:

1. gather the inputs from the ledger: the deal as sales has it, its company's billing data,
   the ERP's catalogue (products the ERP lane has read), what people decided on this order;
2. decide (domain/orders.py): place, or hold with a reason;
3. hold: the order's outbox row becomes a dead letter of that category;
   place: the customer is created in the ERP first when it is not there (an outbox write of
   the company), and the order's row becomes pending. The executor places it keyed on the
   Opportunity (origin `sf-opp:<id>`), so however often this runs, the ERP gets one order.

The order's outbox row has one key per deal, so every decision about it lands on one row and
every human action on it (repair_action rows) stays attached to it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core.domain import orders
from sync_core.domain.errors import ErrorCategory
from sync_core.domain.ownership import SystemState, plan
from sync_core.domain.records import WON
from sync_core.domain.root_cause import money_at_stake, root_cause
from sync_core.persistence import lanes, ledger
from sync_core.persistence.database import db_now, transaction
from sync_core.persistence.tables import AuditLog, FlowSetting, OutboundOp, RepairAction, op_status_is
from sync_core.services import trace
from sync_core.services.policy import ObjectPolicy, load

NAME = "closed_won"
PLACE = "place"
CUSTOMER = "customer"
_SETTLED = ("pending", "in_flight", "done", "rejected")  # being placed, placed, or refused by a person
# How long an order waits for its customer's write if nothing wakes it sooner (as the executor's WAIT_SECONDS).
CUSTOMER_WAIT = timedelta(seconds=2)


@dataclass(frozen=True)
class Roles:
    """Which connection sells (owns the deal's stage) and which fulfils (owns its order number)."""

    sales: str
    erp: str


def roles(policy: ObjectPolicy) -> Roles | None:
    """The sales and ERP systems of the deal policy; None when it has no ERP."""
    sales, erp = policy.owner_of("stage"), policy.owner_of("order_number")
    if not sales or not erp or erp not in policy.mappings:
        return None
    return Roles(sales, erp)


def rules_in(session: Session) -> orders.OrderRules:
    """The checks in force: the price tolerance an admin saved (2% until then)."""
    row = session.get(FlowSetting, NAME)
    tolerance = (row.settings or {}).get("price_tolerance") if row is not None else None
    return orders.OrderRules(Decimal(str(tolerance))) if tolerance is not None else orders.OrderRules()


def save_price_tolerance(engine: Engine, tolerance: Decimal, actor: str) -> None:
    """Set how far a line's price may be from the ERP's list price before the order waits for approval
    (relative: 0.02 is 2% either way); audited, used from the next decision on."""
    if not Decimal(0) <= tolerance < Decimal(1):
        raise ValueError(f"a price tolerance is a share between 0 and 1, not {tolerance}")
    with transaction(engine) as session:
        now = db_now(session)
        row = session.get(FlowSetting, NAME)
        settings = {**(row.settings if row is not None else {}), "price_tolerance": str(tolerance)}
        if row is None:
            session.add(FlowSetting(name=NAME, settings=settings, state={}, updated_at=now, updated_by=actor))
        else:
            row.settings, row.updated_at, row.updated_by = settings, now, actor
        session.add(AuditLog(at=now, actor=actor, action="closed_won.saved", subject=NAME, details=settings))


def place_key(erp: str, sales: str, deal_external_id: str) -> str:
    """One outbox key per won deal: every decision about its order lands on one row."""
    return ledger.idempotency_key(erp, "deal", sales, deal_external_id, "-", PLACE)


def after_ingest(session: Session, system: str, policy: ObjectPolicy, canonical_ids: Collection[str],
                 now: datetime, rules: orders.OrderRules | None = None) -> int:
    """Consider the deals of `system` that changed; returns how many order rows were (re)decided."""
    found = roles(policy)
    if found is None or system != found.sales or not canonical_ids:
        return 0
    states = ledger.shadows(session, list(canonical_ids), found.sales)
    won = [cid for cid in canonical_ids if _stage(states.get((cid, found.sales))) == WON]
    if not won:
        return 0
    for cid in won:
        _record_won(session, found, cid, ledger.state_of(states.get((cid, found.sales))), now)
    placed = ledger.links_by_canonical(session, found.erp, won)  # the ERP holds these deals already
    decided = 0
    for cid in won:
        if cid in placed:
            continue
        op = _order_op(session, found, cid)
        if op is not None and op.status in _SETTLED:
            continue
        decided += _decide(session, policy, found, cid, op, now, rules or rules_in(session))
    return decided


def after_catalog(session: Session, system: str, canonical_ids: Collection[str], now: datetime) -> int:
    """Decide again the orders held for products the ERP has just been read to sell."""
    policy = load(session, "deal")
    found = roles(policy)
    if found is None or system != found.erp or not canonical_ids:
        return 0
    products = ledger.shadows(session, list(canonical_ids), system)
    codes = {str(s.seen.get("code") or "").upper() for s in products.values()} - {""}
    held = session.execute(
        select(OutboundOp).where(
            op_status_is("dead"), col(OutboundOp.error_category) == "mapping",
            col(OutboundOp.target_system) == found.erp, col(OutboundOp.operation) == PLACE,
        )
    ).scalars().all()
    decided = 0
    for op in held:
        missing = {str(c).upper() for c in (op.result or {}).get("held", {}).get("missing_products", [])}
        if missing & codes:
            decided += _decide(session, policy, found, op.canonical_id, op, now, rules_in(session))
    return decided


def reconsider(session: Session, op: OutboundOp, now: datetime, rules: orders.OrderRules | None = None) -> None:
    """Decide a held order again now (after a retry, an approval or a remap)."""
    policy = load(session, "deal")
    found = roles(policy)
    if found is None:
        raise ValueError("the deal policy names no ERP: there is no order to place")
    _decide(session, policy, found, op.canonical_id, op, now, rules or rules_in(session))


def place_again(session: Session, cid: str, now: datetime) -> int | None:
    """Run the flow again for one won deal (reconciliation's heal): decide its order unless it is
    being placed, placed or refused by a person; the order row's id, None when the ERP holds it."""
    policy = load(session, "deal")
    found = roles(policy)
    if found is None or ledger.links_by_canonical(session, found.erp, [cid]).get(cid) is not None:
        return None
    op = _order_op(session, found, cid)
    if op is None or op.status not in _SETTLED:
        _decide(session, policy, found, cid, op, now, rules_in(session))
        op = _order_op(session, found, cid)
    return op.id if op is not None else None


def is_order(op: OutboundOp) -> bool:
    return op.operation == PLACE


def _record_won(session: Session, found: Roles, cid: str, deal: SystemState | None, now: datetime) -> None:
    """The story's `deal.won` milestone, at the time sales moved the stage (never later than now)."""
    if deal is None:
        return
    story = trace.correlation_of(session, cid)
    trace.join(session, cid, "deal", story, now)
    moved = deal.field_times.get("stage")
    if trace.milestone(session, story, "deal.won", found.sales, min(moved, now) if moved else now, {"record": cid}):
        external = ledger.links_by_canonical(session, found.sales, [cid]).get(cid)
        trace.add_keys(session, story, {"deal": deal.values.get("name"), f"{found.sales}_id": external})


def _stage(shadow: ledger.ShadowView | None) -> Any:
    state = ledger.state_of(shadow)
    return state.values.get("stage") if state is not None else None


def _order_op(session: Session, found: Roles, cid: str) -> OutboundOp | None:
    return session.execute(
        select(OutboundOp).where(
            col(OutboundOp.canonical_id) == cid,
            col(OutboundOp.target_system) == found.erp,
            col(OutboundOp.object_type) == "deal",
            col(OutboundOp.operation) == PLACE,
        )
    ).scalar()


def product_aliases(session: Session) -> dict[str, str]:
    """The standing product remaps an operator made for every order (deal code -> ERP code)."""
    row = session.get(FlowSetting, NAME)
    found = (row.settings or {}).get("product_aliases") if row is not None else None
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def save_product_alias(session: Session, code: str, to_code: str, actor: str, now: datetime) -> dict[str, str]:
    """Order `to_code` wherever a deal has `code`, from now on (audited); the aliases before the change."""
    row = session.get(FlowSetting, NAME)
    before = product_aliases(session)
    after = {**before, code: to_code}
    settings = {**(row.settings if row is not None else {}), "product_aliases": after}
    if row is None:
        session.add(FlowSetting(name=NAME, settings=settings, state={}, updated_at=now, updated_by=actor))
    else:
        row.settings, row.updated_at, row.updated_by = settings, now, actor
    return before


def sells(session: Session, code: str) -> bool:
    """Whether the ERP sells (an active) product `code`, as its lane last read the catalogue."""
    found = roles(load(session, "deal"))
    if found is None:
        return False
    item = _catalog(session, found.erp, [{"product_code": code}], {}).get(code.strip().upper())
    return item is not None and item.active


def preview(session: Session, op: OutboundOp) -> orders.Place | orders.Hold | None:
    """What deciding this order again would do now, writing nothing; None when there is no deal to decide."""
    policy = load(session, "deal")
    found = roles(policy)
    if found is None:
        return None
    deal = ledger.state_of(ledger.shadows(session, [op.canonical_id], found.sales).get((op.canonical_id, found.sales)))
    if deal is None:
        return None
    lines = list(deal.values.get("lines") or [])
    company, _, _ = _company(session, policy, found, deal.values.get("company_id"))
    aliases, approvals = _decisions(session, op)
    return orders.decide(lines, company, _catalog(session, found.erp, lines, aliases), aliases, approvals,
                         rules_in(session))


def _decisions(session: Session, op: OutboundOp | None) -> tuple[dict[str, str], set[str]]:
    """The remaps (deal code -> ERP code) and approvals (deviation digests) people made on this order,
    over the standing remaps made for every order."""
    standing = product_aliases(session)
    if op is None or op.id is None:
        return standing, set()
    actions = session.execute(
        select(col(RepairAction.action), col(RepairAction.details)).where(
            col(RepairAction.op_id) == op.id, col(RepairAction.action).in_(["remap", "approve"])
        ).order_by(col(RepairAction.id))
    ).all()
    aliases: dict[str, str] = dict(standing)
    approvals: set[str] = set()
    for action, found in actions:
        details: dict[str, Any] = found if isinstance(found, dict) else {}
        if action == "remap":
            aliases[str(details["from"])] = str(details["to"])
        elif action == "approve" and details.get("digest"):
            approvals.add(str(details["digest"]))
    return aliases, approvals


def _catalog(session: Session, erp: str, lines: Sequence[Mapping[str, Any]], aliases: Mapping[str, str]
             ) -> dict[str, orders.CatalogItem]:
    """The ERP's products among the lines' codes (and their remaps), as the ERP lane last read them."""
    codes = {str(line.get("product_code") or "").strip() for line in lines}
    codes |= {aliases[c] for c in codes if c in aliases}
    keys = {c.upper() for c in codes if c}
    owners = ledger.match_key_owners(session, "product", keys)
    states = ledger.shadows(session, set(owners.values()), erp)
    catalog: dict[str, orders.CatalogItem] = {}
    for key, cid in owners.items():
        state = ledger.state_of(states.get((cid, erp)))
        if state is None:
            continue
        price = state.values.get("list_price")
        catalog[key] = orders.CatalogItem(
            code=str(state.values.get("code") or key),
            list_price=Decimal(str(price)) if price not in (None, "") else None,
            active=state.values.get("active") is not False,
        )
    return catalog


def _company(session: Session, policy: ObjectPolicy, found: Roles, company_id: str | None
             ) -> tuple[dict[str, Any] | None, dict[str, SystemState | None], dict[str, dict[str, Any]]]:
    """The company's values as sales has them, every system's state of it, and what was written where."""
    if not company_id:
        return None, {}, {}
    known = ledger.shadows(session, [company_id])
    states = {system: ledger.state_of(shadow) for (_, system), shadow in known.items()}
    written = {system: dict(shadow.written) for (_, system), shadow in known.items()}
    sales = states.get(found.sales)
    if sales is None:
        return None, states, written
    return dict(sales.values), states, written


def _decide(session: Session, policy: ObjectPolicy, found: Roles, cid: str, op: OutboundOp | None,
            now: datetime, rules: orders.OrderRules) -> int:
    deal_shadow = ledger.shadows(session, [cid], found.sales).get((cid, found.sales))
    deal = ledger.state_of(deal_shadow)
    if deal is None:
        return 0
    external = ledger.links_by_canonical(session, found.sales, [cid]).get(cid)
    if external is None:
        return 0
    lines = list(deal.values.get("lines") or [])
    company, company_states, company_written = _company(session, policy, found, deal.values.get("company_id"))
    aliases, approvals = _decisions(session, op)
    decision = orders.decide(lines, company, _catalog(session, found.erp, lines, aliases), aliases, approvals, rules)
    payload: dict[str, Any] = {"company_id": deal.values.get("company_id"), "salesforce_id": external}
    version = deal_shadow.source_version if deal_shadow is not None and deal_shadow.source_version else "-"
    story = trace.correlation_of(session, cid)
    if isinstance(decision, orders.Hold):
        row = _row(found, cid, external, version, {**payload, "lines": lines}, now, story)
        row.update(status="dead", attempts=1, error_category=decision.category.value,
                   error_message=decision.message, result={"held": dict(decision.details)},
                   root_cause=root_cause(decision.category.value, decision.message, decision.details),
                   money_at_stake=money_at_stake(row["payload"]))
        _put(session, op, row)
        ledger.add_spans(session, [_span(story, cid, found.erp, now, "held", decision.message)])
        return 1
    company_id = str(payload["company_id"])
    customer_queued = False
    if ledger.links_by_canonical(session, found.erp, [company_id]).get(company_id) is None:
        customer_queued = _plan_customer(session, found, company_id, company_states, company_written, now)
    row = _row(found, cid, external, version, {**payload, "lines": list(decision.lines)}, now, story)
    if customer_queued:
        # The order waits for its customer from the start rather than after a first try: the customer's
        # write wakes it the moment the ERP links the company (executor._wake_waiting).
        waiting = f"{found.erp} has no company {company_id} yet for deal company_id (its write is queued)"
        row.update(error_category=ErrorCategory.WAITING.value, error_message=waiting,
                   next_attempt_at=now + CUSTOMER_WAIT)
    if decision.approved:
        row["result"] = {"approved": decision.approved}
    _put(session, op, row)
    ledger.add_spans(session, [_span(story, cid, found.erp, now, "ok", None)])
    lanes.mark_due(session, found.erp, "deal", lanes.OUTBOUND, now)
    return 1


def _plan_customer(session: Session, found: Roles, company_id: str, states: Mapping[str, SystemState | None],
                   written: Mapping[str, Mapping[str, Any]], now: datetime) -> bool:
    """Create the company in the ERP (upserted there on Revline's id): what the policy gives it.

    False when the policy gives the ERP nothing of it, so no write is queued."""
    company_policy = load(session, "company")
    everyone: dict[str, SystemState | None] = {s: states.get(s) for s in company_policy.systems}
    everyone[found.erp] = None
    fields = plan(company_policy.rules, everyone, written).get(found.erp, {})
    fields = {k: v for k, v in fields.items() if k in company_policy.fields_of(found.erp)}
    if not fields:
        return False
    key = ledger.idempotency_key(found.erp, "company", found.sales, company_id, "-", CUSTOMER)
    ledger.add_ops(session, [{
        # Its own operation, not "upsert": a fresh plan of the company (which never creates it in the ERP)
        # must not retire it as an older write.
        "idempotency_key": key, "target_system": found.erp, "object_type": "company", "canonical_id": company_id,
        "operation": CUSTOMER, "source_system": found.sales, "source_id": company_id, "source_version": "-",
        "payload": fields, "status": "pending", "attempts": 0, "next_attempt_at": now, "result": {},
        "correlation_id": company_id, "created_at": now, "updated_at": now,
    }])
    # Deciding the order again (a retry, a heal) tries its customer again too, had that given up.
    session.execute(update(OutboundOp).where(col(OutboundOp.idempotency_key) == key, op_status_is("dead")).values(
        status="pending", attempts=0, next_attempt_at=now, error_category=None, error_message=None, updated_at=now))
    lanes.mark_due(session, found.erp, "company", lanes.OUTBOUND, now)
    return True


def _row(found: Roles, cid: str, external: str, version: str, payload: dict[str, Any], now: datetime,
         correlation_id: str | None = None) -> dict[str, Any]:
    return {
        "idempotency_key": place_key(found.erp, found.sales, external),
        "target_system": found.erp, "object_type": "deal", "canonical_id": cid, "operation": PLACE,
        "source_system": found.sales, "source_id": external, "source_version": version[:64], "payload": payload,
        "status": "pending", "attempts": 0, "next_attempt_at": now, "error_category": None, "error_message": None,
        "root_cause": None, "money_at_stake": None,
        "result": {}, "correlation_id": correlation_id or cid, "created_at": now, "updated_at": now,
    }


def _put(session: Session, op: OutboundOp | None, row: dict[str, Any]) -> None:
    if op is None:
        ledger.add_ops(session, [row])
        return
    changes = {k: v for k, v in row.items() if k not in ("idempotency_key", "created_at")}
    session.execute(update(OutboundOp).where(col(OutboundOp.id) == op.id).values(**changes))
    session.expire(op)


def _span(story: str, cid: str, erp: str, now: datetime, status: str, error: str | None) -> dict[str, Any]:
    return {
        "correlation_id": story, "name": "order.check", "system": erp, "started_at": now, "ended_at": now,
        "status": status, "attributes": {"record": cid, **({"error": error} if error else {})},
    }
