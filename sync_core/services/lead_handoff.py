"""Lead handoff: a contact marketing qualifies becomes a lead in sales, with an owner; the lead sales
converts moves the contact's story on.

Runs on the contacts the sync loop reads (flows.after_ingest) and on the writes it makes
(flows.after_write):

- marketing's contact qualifies (domain/handoff.py) and sales has no record of it: one outbox
  write creates it there, with what the policy gives sales, an owner from the assignment rule,
  and its account when sales already has the company (then it is a contact under that account;
  otherwise a lead under the company's name). The story starts: `lead.qualified`;
- the write lands: `lead.created`; sales first works the lead: `lead.first_activity`;
- sales converts the lead (the contact now names the account and opportunity it became): both
  join the contact's story, `lead.converted`, and marketing's lifecycle stage moves on.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core.domain.handoff import HandoffRules, assign, qualifies
from sync_core.domain.ownership import SystemState, plan
from sync_core.persistence import lanes, ledger
from sync_core.persistence.database import db_now, snapshot, transaction
from sync_core.persistence.tables import AuditLog, FlowSetting
from sync_core.services import trace
from sync_core.services.policy import ObjectPolicy

NAME = "lead_handoff"
HANDOFF = "handoff"
CONVERTED = "converted"
_BEYOND = ("customer", "evangelist")  # lifecycle stages a conversion never moves a contact back from


@dataclass(frozen=True)
class Roles:
    """Which connection qualifies contacts (owns the lifecycle stage) and which sells (owns the account)."""

    marketing: str
    sales: str


def roles(policy: ObjectPolicy) -> Roles | None:
    marketing, sales = policy.owner_of("lifecycle_stage"), policy.owner_of("company_id")
    if not marketing or not sales or marketing == sales or sales not in policy.mappings:
        return None
    return Roles(marketing, sales)


# -- settings -----------------------------------------------------------------------------------------


def rules_in(session: Session) -> HandoffRules:
    row = session.get(FlowSetting, NAME)
    return HandoffRules.model_validate(row.settings) if row is not None and row.settings else HandoffRules()


def load_rules(engine: Engine) -> HandoffRules:
    """The qualification and assignment rules in force (the defaults until an admin saves some)."""
    with snapshot(engine) as session:
        return rules_in(session)


def save_rules(engine: Engine, rules: HandoffRules, actor: str) -> None:
    """Store new rules (audited); the worker uses them from its next page on."""
    with transaction(engine) as session:
        now = db_now(session)
        row = session.get(FlowSetting, NAME)
        settings = rules.model_dump(mode="json")
        if row is None:
            session.add(FlowSetting(name=NAME, settings=settings, state={}, updated_at=now, updated_by=actor))
        else:
            row.settings, row.updated_at, row.updated_by = settings, now, actor
        session.add(AuditLog(at=now, actor=actor, action="lead_handoff.saved", subject=NAME, details=settings))


def _next_turn(session: Session) -> int:
    """The round robin's turn, taken (the row is locked for the rest of the transaction)."""
    row = session.execute(select(FlowSetting).where(col(FlowSetting.name) == NAME).with_for_update()).scalar()
    if row is None:
        return 0
    turn = int((row.state or {}).get("turn", 0))
    session.execute(update(FlowSetting).where(col(FlowSetting.name) == NAME).values(state={"turn": turn + 1}))
    return turn


# -- the flow -----------------------------------------------------------------------------------------


def after_ingest(session: Session, system: str, policy: ObjectPolicy, canonical_ids: Collection[str],
                 now: datetime) -> None:
    """Hand over the qualified contacts of marketing; follow the leads of sales."""
    found = roles(policy)
    if found is None or not canonical_ids:
        return
    if system == found.marketing:
        _hand_over(session, policy, found, list(canonical_ids), now)
    elif system == found.sales:
        _follow(session, found, list(canonical_ids), now)


def after_write(session: Session, target: str, policy: ObjectPolicy, created: Sequence[str], now: datetime) -> None:
    """Contacts Revline just created in sales: the handed-over ones are leads now."""
    found = roles(policy)
    if found is None or target != found.sales or not created:
        return
    stories = trace.correlations(session, created)
    for cid in created:
        if cid in stories:
            trace.milestone(session, stories[cid], "lead.created", target, now, {"record": cid})


def _hand_over(session: Session, policy: ObjectPolicy, found: Roles, cids: list[str], now: datetime) -> None:
    known = ledger.shadows(session, cids)
    linked = ledger.links_by_canonical(session, found.sales, cids)
    rules = rules_in(session)
    ops: list[dict[str, Any]] = []
    for cid in cids:
        marketing = ledger.state_of(known.get((cid, found.marketing)))
        if marketing is None or cid in linked or not qualifies(marketing.values, rules):
            continue
        states: dict[str, SystemState | None] = {
            s: ledger.state_of(known.get((cid, s))) for s in policy.systems
        }
        states[found.sales] = None
        written = {s: dict(known[(cid, s)].written) for s in policy.systems if (cid, s) in known}
        fields = {k: v for k, v in plan(policy.rules, states, written).get(found.sales, {}).items()
                  if k in policy.fields_of(found.sales)}  # fmt: skip
        _place_under_company(session, found, fields, marketing.values)
        if rules.assignment is not None and "owner" in policy.fields_of(found.sales):
            owner = assign(marketing.values, rules.assignment, _next_turn(session))
            if owner:
                fields["owner"] = owner
        trace.join(session, cid, "contact", cid, now)
        story = trace.correlation_of(session, cid)
        qualified_at = _qualified_at(marketing, now)
        trace.milestone(session, story, "lead.qualified", found.marketing, qualified_at, {"record": cid})
        trace.add_keys(session, story, {
            "email": marketing.values.get("email"), "company": fields.get("company_name"),
            f"{found.marketing}_id": ledger.links_by_canonical(session, found.marketing, [cid]).get(cid),
        })  # fmt: skip
        ops.append(_op(found.sales, found.marketing, cid, HANDOFF, fields, story, now))
    if ops:
        ledger.add_ops(session, ops)
        lanes.mark_due(session, found.sales, "contact", lanes.OUTBOUND, now)


def _place_under_company(session: Session, found: Roles, fields: dict[str, Any], contact: Mapping[str, Any]) -> None:
    """Keep the account when sales has the company; otherwise the lead carries the company's name."""
    company = contact.get("company_id")
    if company and ledger.links_by_canonical(session, found.sales, [str(company)]).get(str(company)):
        fields["company_id"] = company
        return
    fields.pop("company_id", None)
    if not fields.get("company_name") and company:
        shadow = ledger.shadows(session, [str(company)], found.marketing).get((str(company), found.marketing))
        if shadow is not None and shadow.seen.get("name"):
            fields["company_name"] = shadow.seen["name"]
    if not fields.get("company_name"):
        email = str(contact.get("email") or "")
        fields["company_name"] = email.partition("@")[2] or "[not provided]"


def _qualified_at(marketing: SystemState, now: datetime) -> datetime:
    times = [t for name in ("lifecycle_stage", "lead_score") if (t := marketing.field_times.get(name))]
    return min(max(times), now) if times else now


def _follow(session: Session, found: Roles, cids: list[str], now: datetime) -> None:
    """Milestones of the leads sales works, and the conversion of those it converts."""
    stories = trace.correlations(session, cids)
    known = ledger.shadows(session, cids, found.sales)
    ops: list[dict[str, Any]] = []
    for cid in cids:
        state = ledger.state_of(known.get((cid, found.sales)))
        story = stories.get(cid)
        if state is None or story is None:
            continue
        status = state.values.get("lead_status")
        if status not in (None, "", "new"):
            worked = state.field_times.get("lead_status")
            trace.milestone(session, story, "lead.first_activity", found.sales, min(worked or now, now),
                            {"record": cid, "lead_status": status})  # fmt: skip
        deal, company = state.values.get("converted_deal_id"), state.values.get("converted_company_id")
        if not deal and status != "converted":
            continue
        for member, object_type in ((deal, "deal"), (company, "company")):
            if member:
                trace.join(session, str(member), object_type, story, now)
        if trace.milestone(session, story, "lead.converted", found.sales, now, {"record": cid, "deal": deal}):
            stage = rules_in(session).converted_stage
            marketing = ledger.shadows(session, [cid], found.marketing).get((cid, found.marketing))
            if marketing is None or marketing.seen.get("lifecycle_stage") not in (stage, *_BEYOND):
                ops.append(_op(found.marketing, found.sales, cid, CONVERTED, {"lifecycle_stage": stage}, story, now))
    if ops:
        ledger.add_ops(session, ops)
        lanes.mark_due(session, found.marketing, "contact", lanes.OUTBOUND, now)


def _op(target: str, source: str, cid: str, step: str, fields: dict[str, Any], story: str, now: datetime
        ) -> dict[str, Any]:
    return {
        "idempotency_key": ledger.idempotency_key(target, "contact", source, cid, "-", step),
        # The flow's own operation: a fresh plan of the contact must not retire it as an older write.
        "target_system": target, "object_type": "contact", "canonical_id": cid, "operation": step,
        "source_system": source, "source_id": cid, "source_version": step, "payload": fields, "status": "pending",
        "attempts": 0, "next_attempt_at": now, "result": {}, "correlation_id": story, "created_at": now,
        "updated_at": now,
    }
