"""The repair queue: dead letters and held orders grouped by root cause, each record's story, and the
actions a person takes on one record or on a whole group.

Grouping is one GROUP BY over the root-cause key the op got when it went dead (domain/root_cause.py),
served by a partial index on dead ops. Every action leaves a repair_action row on the op and an audit
row (who, when, why, before and after); held orders go through held_orders and are decided again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine, delete, func, literal_column, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core.domain import mapping, orders, records
from sync_core.domain.errors import ErrorCategory, SyncError
from sync_core.domain.payload_diff import FieldChange, diff, unified
from sync_core.domain.root_cause import describe, money_at_stake, parse, plain_words, root_cause
from sync_core.persistence import lanes, ledger
from sync_core.persistence.database import db_now, snapshot, transaction
from sync_core.persistence.tables import AuditLog, EntityLink, OutboundOp, RepairAction, Shadow, op_status_is
from sync_core.services import closed_won, dead_letters, held_orders
from sync_core.services.policy import load
from sync_core.services.runs import Page, make_page, page_bounds

DEAD = "dead"
DISCARDED = "discarded"
INGEST = "ingest"  # a record that could not be read in: a retry reads it afresh from its system
_CHUNK = 200  # records per transaction in a bulk action: progress moves, and no transaction holds the ledger long
_FILL = 1000  # dead letters given their root cause per read, when a writer did not (an older worker)

BulkAction = Literal["retry", "discard", "approve", "reject", "remap"]
BULK_ACTIONS: tuple[BulkAction, ...] = ("retry", "discard", "approve", "reject", "remap")


@dataclass(frozen=True)
class Group:
    """Dead letters with one root cause: how many, the money they hold up, since when."""

    root_cause: str
    category: str
    kind: str
    subject: str
    title: str
    count: int
    money: float
    oldest: datetime
    newest: datetime


@dataclass(frozen=True)
class Totals:
    records: int
    groups: int
    money: float


@dataclass(frozen=True)
class RepairRow:
    """One record of a group, as the queue lists it."""

    id: int
    target_system: str
    object_type: str
    operation: str
    canonical_id: str
    source_system: str
    source_id: str
    error_category: str
    error_message: str | None
    root_cause: str
    money: float
    attempts: int
    correlation_id: str
    updated_at: datetime
    is_order: bool


@dataclass(frozen=True)
class SystemView:
    """A record as one system has it now, per the ledger's shadow."""

    system: str
    external_id: str | None
    values: dict[str, Any]
    last_seen: datetime | None


@dataclass(frozen=True)
class HistoryEntry:
    action: str
    actor: str
    reason: str | None
    details: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class RecordDetail:
    """Everything a person needs to repair one record."""

    row: RepairRow
    plain: str
    payload: dict[str, Any]
    held: dict[str, Any]
    systems: tuple[SystemView, ...]
    history: tuple[HistoryEntry, ...]
    status: str


@dataclass(frozen=True)
class DryRun:
    """What a retry would write now, under the current mapping, without writing it."""

    target_system: str
    object_type: str
    action: str  # "create", "update <id>", "place order", "hold", "nothing"
    fields: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None  # why it would fail again (or be held), in plain words


# -- reading -----------------------------------------------------------------------------------------------------


def _fill_root_causes(engine: Engine) -> None:
    """Give dead letters without a root cause theirs (written by a worker that predates the column)."""
    with snapshot(engine) as session:
        missing = session.execute(
            select(col(OutboundOp.id)).where(_is_dead(session), col(OutboundOp.root_cause).is_(None)).limit(_FILL)
        ).scalars().all()
    if not missing:
        return
    with transaction(engine) as session:
        ops = session.execute(
            select(OutboundOp).where(col(OutboundOp.id).in_(missing), op_status_is(DEAD))
        ).scalars().all()
        for op in ops:
            op.root_cause = root_cause(op.error_category, op.error_message, (op.result or {}).get("held"))
            op.money_at_stake = money_at_stake(op.payload)


def _group(cause: str, count: Any, money: Any, oldest: Any, newest: Any) -> Group:
    parts = parse(cause)
    return Group(cause, parts.category, parts.kind, parts.subject, describe(cause), int(count), float(money or 0),
                 oldest, newest)


def _is_dead(session: Session) -> Any:
    """`status = 'dead'`, so that the partial indexes of dead ops serve the query.

    SQLite's planner, without statistics, takes an equality on the status index for a narrow one
    and walks it and the table; told that most rows match (`likelihood`), it scans the partial
    index instead, which holds the dead ops only and every column the repair queue reads."""
    dead = op_status_is(DEAD)
    return func.likelihood(dead, literal_column("0.9")) if session.get_bind().dialect.name == "sqlite" else dead


def _grouped(session: Session) -> Any:
    """Dead letters per root cause: count, money, oldest and newest, over the partial index of dead ops."""
    cause, at = col(OutboundOp.root_cause), col(OutboundOp.updated_at)
    return (
        select(cause.label("cause"), func.count().label("n"), func.sum(col(OutboundOp.money_at_stake)).label("money"),
               func.min(at).label("oldest"), func.max(at).label("newest"))
        .where(_is_dead(session))
        .group_by(cause)
    )


def list_groups(engine: Engine, page: int = 1, page_size: int = 25) -> tuple[Page[Group], Totals]:
    """Root-cause groups, most records first, one page of them, and the totals over every group."""
    _fill_root_causes(engine)
    page, page_size, offset = page_bounds(page, page_size)
    with snapshot(engine) as session:
        grouped = _grouped(session).subquery()
        rows = session.execute(
            select(grouped).order_by(grouped.c.n.desc(), grouped.c.cause).offset(offset).limit(page_size)
        ).all()
        sums: Any = session.execute(  # one more pass over the index, for every group's totals
            select(func.count(), func.coalesce(func.sum(grouped.c.n), 0), func.coalesce(func.sum(grouped.c.money), 0.0))
        ).one()
    groups, records, money = sums
    items = [_group(str(row.cause or "uncategorised:message:"), row.n, row.money, row.oldest, row.newest)
             for row in rows]
    totals = Totals(int(records), int(groups), float(money or 0))
    return make_page(items, int(groups), page, page_size), totals


def group(engine: Engine, cause: str) -> Group | None:
    """One group's figures, None when no dead letter has that root cause (any more)."""
    with snapshot(engine) as session:
        found = session.execute(
            select(func.count(), func.sum(col(OutboundOp.money_at_stake)), func.min(col(OutboundOp.updated_at)),
                   func.max(col(OutboundOp.updated_at)))
            .where(_is_dead(session), col(OutboundOp.root_cause) == cause)
        ).one()
    if not found[0]:
        return None
    return _group(cause, found[0], found[1], found[2], found[3])


def _row(op: OutboundOp) -> RepairRow:
    return RepairRow(
        id=op.id or 0, target_system=op.target_system, object_type=op.object_type, operation=op.operation,
        canonical_id=op.canonical_id, source_system=op.source_system, source_id=op.source_id,
        error_category=op.error_category or dead_letters.UNCATEGORISED, error_message=op.error_message,
        root_cause=op.root_cause or "", money=float(op.money_at_stake or 0), attempts=op.attempts,
        correlation_id=op.correlation_id, updated_at=op.updated_at, is_order=closed_won.is_order(op),
    )


def list_records(
    engine: Engine, cause: str | None = None, page: int = 1, page_size: int = 25, op_id: int | None = None
) -> Page[RepairRow]:
    """The dead letters of one root cause (every one without), newest first, one page plus the total."""
    page, page_size, offset = page_bounds(page, page_size)
    with snapshot(engine) as session:
        where = [_is_dead(session)]
        if cause is not None:
            where.append(col(OutboundOp.root_cause) == cause)
        if op_id is not None:
            where.append(col(OutboundOp.id) == op_id)
        total = session.execute(select(func.count()).select_from(OutboundOp).where(*where)).scalar_one()
        ops = session.execute(
            select(OutboundOp).where(*where).order_by(col(OutboundOp.id).desc()).offset(offset).limit(page_size)
        ).scalars().all()
        return make_page([_row(op) for op in ops], int(total), page, page_size)


def record(engine: Engine, op_id: int) -> RecordDetail:
    """One outbox row with its error in plain words, its payload, the record in every system (last seen
    when) and what people did to it; ValueError when there is no such row."""
    with snapshot(engine) as session:
        op = session.get(OutboundOp, op_id)
        if op is None:
            raise ValueError(f"outbound op {op_id} does not exist")
        shadows = session.execute(select(Shadow).where(col(Shadow.canonical_id) == op.canonical_id)).scalars().all()
        links = dict(session.execute(
            select(col(EntityLink.system), col(EntityLink.external_id)).where(
                col(EntityLink.canonical_id) == op.canonical_id)
        ).all())
        seen = {s.system: s for s in shadows}
        systems = tuple(
            SystemView(system, links.get(system), dict(seen[system].seen) if system in seen else {},
                       seen[system].updated_at if system in seen else None)
            for system in sorted(set(seen) | set(links))
        )
        actions = session.execute(
            select(RepairAction).where(col(RepairAction.op_id) == op_id).order_by(col(RepairAction.id).desc())
        ).scalars().all()
        history = tuple(HistoryEntry(a.action, a.actor, a.reason, dict(a.details), a.at) for a in actions)
        return RecordDetail(
            row=_row(op), plain=plain_words(op.error_category, op.error_message), payload=dict(op.payload),
            held=dict((op.result or {}).get("held") or {}), systems=systems, history=history, status=op.status,
        )


# -- dry run -------------------------------------------------------------------------------------------------------


def _order_dry_run(session: Session, op: OutboundOp) -> DryRun:
    decision = closed_won.preview(session, op)
    if decision is None:
        return DryRun(op.target_system, op.object_type, "nothing", problem="the won deal is no longer in the ledger")
    if isinstance(decision, orders.Hold):
        return DryRun(op.target_system, op.object_type, "hold", {"lines": list(op.payload.get("lines") or [])},
                      problem=decision.message)
    payload = {"company_id": op.payload.get("company_id"), "salesforce_id": op.source_id,
               "lines": list(decision.lines)}
    return DryRun(op.target_system, op.object_type, "place order", payload)


def dry_run(engine: Engine, op_id: int) -> DryRun:
    """What retrying dead letter `op_id` would write now, under the current mapping and catalogue; writes nothing."""
    with snapshot(engine) as session:
        op = session.get(OutboundOp, op_id)
        if op is None:
            raise ValueError(f"outbound op {op_id} does not exist")
        if closed_won.is_order(op):
            return _order_dry_run(session, op)
        policy = load(session, op.object_type)
        if op.operation == INGEST:
            source = policy.mappings.get(op.target_system)
            if source is None:
                return DryRun(op.target_system, op.object_type, "read",
                              problem=f"{op.target_system} has no field mapping for {op.object_type}")
            values: dict[str, Any] = {}
            try:
                values = mapping.to_canonical(source, op.payload)
                records.validate(op.object_type, values)
            except SyncError as error:
                return DryRun(op.target_system, op.object_type, "read", values, problem=error.message)
            return DryRun(op.target_system, op.object_type, "read", values)
        target = policy.mappings.get(op.target_system)
        if target is None:
            return DryRun(op.target_system, op.object_type, "nothing",
                          problem=f"{op.target_system} has no field mapping for {op.object_type}")
        external = ledger.links_by_canonical(session, op.target_system, [op.canonical_id]).get(op.canonical_id)
        action = f"update {external}" if external else "create"
        fields = {k: v for k, v in op.payload.items() if k in policy.fields_of(op.target_system)}
        fields, missing = _resolved(session, fields, op.object_type, op.target_system)
        try:
            return DryRun(op.target_system, op.object_type, action, mapping.to_vendor(target, fields), missing)
        except SyncError as error:
            return DryRun(op.target_system, op.object_type, action, problem=error.message)


def _resolved(session: Session, fields: dict[str, Any], object_type: str, target: str
              ) -> tuple[dict[str, Any], str | None]:
    """`fields` with the canonical ids in reference fields replaced by the target's own ids, as the
    executor sends them, and what the target does not hold yet (the write would wait for it)."""
    references = records.REFERENCES.get(object_type, {})
    wanted = {str(v) for name in references for v in records.reference_ids(fields.get(name))}
    external = ledger.links_by_canonical(session, target, sorted(wanted)) if wanted else {}
    resolved, missing = dict(fields), []
    for name, referenced_type in references.items():
        value = fields.get(name)
        ids = [str(v) for v in records.reference_ids(value)]
        missing += [f"{target} has no {referenced_type} {i} yet for {name}" for i in ids if i not in external]
        if isinstance(value, list | tuple):
            resolved[name] = [external[i] for i in ids if i in external]
        elif ids:
            resolved[name] = external.get(ids[0], ids[0])
    return resolved, "; ".join(missing) or None


# -- actions on one record -----------------------------------------------------------------------------------------


def _dead(session: Session, op_id: int) -> OutboundOp:
    op = session.execute(select(OutboundOp).where(col(OutboundOp.id) == op_id).with_for_update()).scalar()
    if op is None:
        raise ValueError(f"outbound op {op_id} does not exist")
    if op.status != DEAD:
        raise ValueError(f"op {op_id} is {op.status}: only dead letters and held records can be repaired")
    return op


def _reason(reason: str | None, action: str) -> str:
    if reason is None or not reason.strip():
        raise ValueError(f"a reason is required to {action} a record")
    return reason.strip()


def retry(engine: Engine, op_id: int, actor: str, reason: str | None = None) -> None:
    """Send dead letter `op_id` back to the queue (a held order is decided again)."""
    dead_letters.retry(engine, op_id, actor, reason)


def edit_and_retry(engine: Engine, op_id: int, payload: Mapping[str, Any], actor: str,
                   reason: str | None = None) -> list[FieldChange]:
    """Replace the payload of dead letter `op_id` and retry it; the edit is audited as a diff with the payload
    before and after. Returns the changes; ValueError when nothing changed or the op is an order (its lines come
    from the deal: fix the deal, or remap the product)."""
    with transaction(engine) as session:
        op = _dead(session, op_id)
        if closed_won.is_order(op):
            raise ValueError("an order's lines come from the won deal: fix the deal or remap its product instead")
        if op.operation == INGEST:
            raise ValueError(f"a retry reads the record afresh from {op.target_system}: fix it there, then retry")
        before, after = dict(op.payload), dict(payload)
        changes = diff(before, after)
        if not changes:
            raise ValueError("the edit changes nothing: retry the record as it is instead")
        now = db_now(session)
        details = {"before": before, "after": after, "diff": [c.as_json() for c in changes]}
        session.add(RepairAction(op_id=op_id, action="edit", actor=actor, reason=reason, details=details, at=now))
        session.add(AuditLog(at=now, actor=actor, action="dead_letter.edit", subject=f"outbound_op:{op_id}",
                             details={**details, "text": unified(changes), "reason": reason}))
        op.payload = after
        dead_letters.retry_locked(session, op, actor, reason, now)
        return changes


def discard(engine: Engine, op_id: int, actor: str, reason: str) -> None:
    """Give up on dead letter `op_id`: it leaves the queue and is never written; the reason stays on record."""
    with transaction(engine) as session:
        _discard(session, _dead(session, op_id), actor, _reason(reason, "discard"), db_now(session))


def _discard(session: Session, op: OutboundOp, actor: str, reason: str, now: datetime) -> None:
    assert op.id is not None
    details = {"category": op.error_category, "message": op.error_message, "root_cause": op.root_cause}
    session.add(RepairAction(op_id=op.id, action="discard", actor=actor, reason=reason, details=details, at=now))
    session.add(AuditLog(at=now, actor=actor, action="dead_letter.discard", subject=f"outbound_op:{op.id}",
                         details={**details, "reason": reason, "before": {"status": DEAD},
                                  "after": {"status": DISCARDED}}))
    op.status = DISCARDED
    op.updated_at = now


def relink(engine: Engine, op_id: int, external_id: str, actor: str, reason: str | None = None) -> None:
    """Point dead letter `op_id`'s record at `external_id`, a record the target system holds already (a
    duplicate), and retry: the write updates that record instead of creating another."""
    external_id = external_id.strip()
    if not external_id:
        raise ValueError("point the record at which record? the id is empty")
    with transaction(engine) as session:
        op = _dead(session, op_id)
        if closed_won.is_order(op) or op.operation == INGEST:
            raise ValueError("only a write to a target system can be pointed at another record there")
        target, object_type = op.target_system, op.object_type
        taken = ledger.links_by_external(session, target, object_type, [external_id]).get(external_id)
        now = db_now(session)
        if taken is not None and taken != op.canonical_id:
            _take_over(session, taken, op.canonical_id, target, external_id)
        before = ledger.links_by_canonical(session, target, [op.canonical_id]).get(op.canonical_id)
        if before is not None and before != external_id:
            session.execute(update(EntityLink).where(
                col(EntityLink.canonical_id) == op.canonical_id, col(EntityLink.system) == target
            ).values(external_id=external_id))
        elif before is None:
            ledger.add_links(session, object_type, target, [(op.canonical_id, external_id)], now)
        details = {"system": target, "before": before, "after": external_id, "took_over": taken}
        session.add(RepairAction(op_id=op_id, action="relink", actor=actor, reason=reason, details=details, at=now))
        session.add(AuditLog(at=now, actor=actor, action="dead_letter.relink", subject=f"outbound_op:{op_id}",
                             details={**details, "reason": reason, "record": op.canonical_id}))
        dead_letters.retry_locked(session, op, actor, reason, now)
        _wake_waiting(session, target, object_type, now)


def _wake_waiting(session: Session, target: str, object_type: str, now: datetime) -> None:
    """Writes to `target` waiting for a record of `object_type` to be linked there go now (as the executor
    wakes them when it links one itself)."""
    pointing = sorted({t for t, refs in records.REFERENCES.items() if object_type in refs.values()})
    if not pointing:
        return
    session.execute(update(OutboundOp).where(
        col(OutboundOp.target_system) == target, col(OutboundOp.object_type).in_(pointing), op_status_is("pending"),
        col(OutboundOp.error_category) == ErrorCategory.WAITING.value,
    ).values(next_attempt_at=now))
    for waiting_type in pointing:
        lanes.mark_due(session, target, waiting_type, lanes.OUTBOUND, now)


def _take_over(session: Session, other: str, cid: str, target: str, external_id: str) -> None:
    """Let `cid` take the target's record `external_id` from `other`, a record Revline knows from the target
    alone (read there, never linked elsewhere): its link and what Revline saw there move to `cid`."""
    elsewhere = session.execute(
        select(col(EntityLink.system)).where(col(EntityLink.canonical_id) == other, col(EntityLink.system) != target)
    ).scalars().all()
    if elsewhere:
        raise ValueError(f"{target} {external_id} is linked to a record {', '.join(sorted(elsewhere))} also holds: "
                         "merge those there first")
    session.execute(delete(EntityLink).where(col(EntityLink.canonical_id) == other, col(EntityLink.system) == target))
    mine = session.get(Shadow, (cid, target))
    if mine is None:
        session.execute(update(Shadow).where(col(Shadow.canonical_id) == other, col(Shadow.system) == target)
                        .values(canonical_id=cid))


def approve(engine: Engine, op_id: int, actor: str, reason: str) -> None:
    held_orders.approve(engine, op_id, actor, reason)


def reject(engine: Engine, op_id: int, actor: str, reason: str) -> None:
    held_orders.reject(engine, op_id, actor, reason)


def remap_product(engine: Engine, op_id: int, product_code: str, to_code: str, actor: str,
                  reason: str | None = None) -> None:
    held_orders.remap_product(engine, op_id, product_code, to_code, actor, reason)


# -- actions on a group -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BulkResult:
    action: str
    root_cause: str
    planned: int  # the group's records when the action started
    done: int  # records the action was applied to
    skipped: int  # records no longer dead by their turn (another person, the worker)
    remaining: int  # the group's dead letters afterwards (a retried order held again counts here)


Progress = Callable[[int, int], None]


def preview_bulk(engine: Engine, cause: str, action: str) -> int:
    """How many records `action` on the group `cause` would touch now; ValueError if it does not apply."""
    found = group(engine, cause)
    if found is None:
        return 0
    _check_bulk(found, action)
    return found.count


def _check_bulk(found: Group, action: str) -> None:
    if action not in BULK_ACTIONS:
        raise ValueError(f"no bulk action {action!r} (known: {', '.join(BULK_ACTIONS)})")
    if action == "approve" and found.kind != "price":
        raise ValueError("only orders held for their prices can be approved")
    if action == "remap" and found.kind != "product":
        raise ValueError("only orders held for a product the ERP does not sell can be remapped")
    if action == "remap" and "," in found.subject:
        raise ValueError("these orders miss several products: remap each product on the orders themselves")
    if action == "reject" and found.kind not in ("product", "billing", "price"):
        raise ValueError("only held orders can be rejected; discard other records")


def _group_ids(engine: Engine, cause: str) -> list[int]:
    with snapshot(engine) as session:
        return [int(i or 0) for i in session.execute(
            select(col(OutboundOp.id)).where(_is_dead(session), col(OutboundOp.root_cause) == cause)
            .order_by(col(OutboundOp.id))
        ).scalars().all()]


@dataclass(frozen=True)
class BulkPlan:
    """A bulk action under way: what, on which group, and the records it covers (fixed when it started)."""

    action: str
    root_cause: str
    title: str
    ids: tuple[int, ...]
    reason: str | None
    to_code: str | None

    def chunks(self) -> list[tuple[int, ...]]:
        return [self.ids[start : start + _CHUNK] for start in range(0, len(self.ids), _CHUNK)]


def start_bulk(
    engine: Engine, cause: str, action: str, actor: str, reason: str | None = None, to_code: str | None = None
) -> BulkPlan:
    """Check that `action` applies to the group `cause`, fix the product mapping once for `remap`, audit the
    start and return the records to run it on (`run_bulk` them, a chunk at a time)."""
    found = group(engine, cause)
    if found is None:
        return BulkPlan(action, cause, describe(cause), (), reason, to_code)
    _check_bulk(found, action)
    if action in ("discard", "approve", "reject"):
        reason = _reason(reason, action)
    if action == "remap":
        held_orders.map_product(engine, found.subject, to_code or "", actor, reason)
    ids = tuple(_group_ids(engine, cause))
    with transaction(engine) as session:
        session.add(AuditLog(at=db_now(session), actor=actor, action=f"repair.bulk_{action}",
                             subject=f"root_cause:{cause}",
                             details={"records": len(ids), "reason": reason, "to": to_code, "title": found.title}))
    return BulkPlan(action, cause, found.title, ids, reason, to_code)


def run_bulk(engine: Engine, plan: BulkPlan, ids: Sequence[int], actor: str) -> int:
    """Apply the plan's action to `ids` (one chunk of it); how many were still there to act on."""
    return _apply_chunk(engine, ids, plan.action, actor, plan.reason)


def apply_bulk(
    engine: Engine, cause: str, action: str, actor: str, reason: str | None = None, to_code: str | None = None,
    progress: Progress | None = None,
) -> BulkResult:
    """Apply `action` to every dead letter of root cause `cause`, a chunk per transaction, reporting
    (done, planned) after each. `remap` fixes the product mapping once (to `to_code`) and retries
    everything the group held. A record another hand repaired meanwhile is skipped, never written twice."""
    plan = start_bulk(engine, cause, action, actor, reason, to_code)
    done = seen = 0
    for chunk in plan.chunks():
        done += run_bulk(engine, plan, chunk, actor)
        seen += len(chunk)
        if progress is not None:
            progress(seen, len(plan.ids))
    after = group(engine, cause)
    return BulkResult(action, cause, len(plan.ids), done, len(plan.ids) - done, after.count if after else 0)


def _apply_chunk(engine: Engine, ids: Sequence[int], action: str, actor: str, reason: str | None) -> int:
    if action in ("retry", "remap"):
        return len(dead_letters.retry_many(engine, ids, actor, reason))
    if action == "discard":
        with transaction(engine) as session:
            now = db_now(session)
            ops = session.execute(
                select(OutboundOp).where(col(OutboundOp.id).in_(ids), op_status_is(DEAD))
                .order_by(col(OutboundOp.id)).with_for_update()
            ).scalars().all()
            for op in ops:
                _discard(session, op, actor, reason or "", now)
            return len(ops)
    applied = 0
    for op_id in ids:  # approve and reject: each order on its own terms (its digest), as held_orders decides
        try:
            if action == "approve":
                held_orders.approve(engine, op_id, actor, reason or "")
            else:
                held_orders.reject(engine, op_id, actor, reason or "")
        except ValueError:
            continue  # no longer held, or held for something else now
        applied += 1
    return applied

