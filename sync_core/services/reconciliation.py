"""Reconciliation for people and schedules: start passes, read findings, heal, ignore, resolve.

The passes themselves run in the workers as `reconcile` lanes (sync_core/reconcile.py). Here:
the admin's settings (which kinds heal on their own, the order SLA), starting a pass (the
scheduler's incremental and nightly full passes, and "run now"), the findings as the console
lists them, and what a person does with one; every action is audited.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, Text, cast, func, select, text
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core import executor, intake
from sync_core.domain import findings
from sync_core.domain.changes import SourceRecord
from sync_core.domain.errors import ErrorCategory
from sync_core.domain.findings import Kind
from sync_core.persistence import lanes, ledger
from sync_core.persistence.database import db_now, snapshot, transaction
from sync_core.persistence.tables import AuditLog, Finding, FlowSetting, Lane, OutboundOp, ReconcileRun, op_status_is
from sync_core.services import closed_won
from sync_core.services.policy import ObjectPolicy, load
from sync_core.services.runs import Page, make_page, page_bounds

NAME = "reconciliation"
HEALER = "reconciliation"  # the actor of heals nobody asked for
RUNNING = "running"
FULL = "full"
INCREMENTAL = "incremental"
OBJECTS = ("company", "contact", "deal")  # the object types a pass compares
OPEN = "open"
_CHUNK = 500  # ids per IN (...) list
_AUDITED_IDS = 1000  # a bulk action's audit row names this many findings, and counts them all
# Held orders a person must act on (billing data, a product, a price): a heal would only hold them again.
_FOR_A_PERSON = {c.value for c in (ErrorCategory.VALIDATION, ErrorCategory.MAPPING, ErrorCategory.APPROVAL_REQUIRED)}


@dataclass
class Position:
    """A reconcile lane's cursor: the pass it works for and how far it got."""

    run: int | None = None
    mode: str = FULL
    after: str | None = None  # full pass: the scan position
    since: str | None = None  # the change cursor incremental passes continue from
    done: bool = True

    @classmethod
    def parse(cls, text: str | None) -> Position:
        return cls(**json.loads(text)) if text else cls()

    def dump(self) -> str:
        return json.dumps(asdict(self))


@dataclass(frozen=True)
class Settings:
    """What an admin decides about reconciliation."""

    healing: Mapping[str, str] = field(default_factory=dict)  # kind -> heal | hold (defaults where absent)
    order_sla: timedelta = timedelta(hours=1)  # how long a won deal may wait for its confirmed order
    grace: timedelta = timedelta(minutes=2)  # changes younger than this are still on their way

    def heals(self, kind: str) -> bool:
        return findings.heals(kind, self.healing)


def settings_in(session: Session) -> Settings:
    row = session.get(FlowSetting, NAME)
    saved: dict[str, Any] = dict(row.settings) if row is not None else {}
    return Settings(
        healing=dict(saved.get("healing") or {}),
        order_sla=timedelta(seconds=float(saved.get("order_sla_seconds", 3600))),
        grace=timedelta(seconds=float(saved.get("grace_seconds", 120))),
    )


def save_settings(engine: Engine, actor: str, *, healing: Mapping[str, str] | None = None,
                  order_sla: timedelta | None = None, grace: timedelta | None = None) -> Settings:
    """Change which kinds heal on their own, the order SLA or the grace for changes on their way; audited."""
    unknown = set(healing or {}) - {k.value for k in Kind}
    if unknown or any(v not in (findings.HEAL, findings.HOLD) for v in (healing or {}).values()):
        raise ValueError(f"healing is kind -> heal|hold over {[k.value for k in Kind]}")
    with transaction(engine) as session:
        now = db_now(session)
        row = session.get(FlowSetting, NAME)
        saved = dict(row.settings) if row is not None else {}
        before = dict(saved)
        if healing is not None:
            saved["healing"] = {**saved.get("healing", {}), **healing}
        if order_sla is not None:
            saved["order_sla_seconds"] = order_sla.total_seconds()
        if grace is not None:
            saved["grace_seconds"] = grace.total_seconds()
        if row is None:
            session.add(FlowSetting(name=NAME, settings=saved, state={}, updated_at=now, updated_by=actor))
        else:
            row.settings, row.updated_at, row.updated_by = saved, now, actor
        session.add(AuditLog(at=now, actor=actor, action="reconciliation.saved", subject=NAME,
                             details={"before": before, "after": saved}))
        session.flush()
        return settings_in(session)


# -- passes ---------------------------------------------------------------------------------------


def start(session: Session, mode: str, actor: str) -> int | None:
    """Start a pass over every reconcile lane; the running pass's id when one runs (a full pass
    replaces a running incremental one). None when no object has two systems to compare."""
    if mode not in (FULL, INCREMENTAL):
        raise ValueError(f"a pass is {FULL} or {INCREMENTAL}, not {mode!r}")
    if session.get_bind().dialect.name == "postgresql":
        # One start at a time (the nightly full pass and an incremental one fire together at midnight);
        # SQLite's single writer gives this already.
        session.execute(text("LOCK TABLE reconcile_run IN SHARE ROW EXCLUSIVE MODE"))
    now = db_now(session)
    running = session.scalars(select(ReconcileRun).where(col(ReconcileRun.status) == RUNNING)).first()
    if running is not None:
        if not (mode == FULL and running.mode == INCREMENTAL):
            return running.id
        running.status, running.finished_at = "superseded", now
    policies = [load(session, object_type) for object_type in OBJECTS]
    pairs = [(system, p.object_type) for p in policies if len(p.systems) > 1 for system in p.systems]
    if not pairs:
        return None
    run = ReconcileRun(mode=mode, status=RUNNING, started_at=now, started_by=actor, lanes_total=len(pairs))
    session.add(run)
    session.flush()
    for system, object_type in pairs:
        lane = session.scalars(select(Lane).where(
            col(Lane.system) == system, col(Lane.object_type) == object_type, col(Lane.direction) == lanes.RECONCILE,
        )).first()  # fmt: skip
        if lane is None:
            lane = Lane(system=system, object_type=object_type, direction=lanes.RECONCILE)
            session.add(lane)
        since = Position.parse(lane.cursor).since
        lane.cursor = Position(run=run.id, mode=mode, after=None, since=since, done=False).dump()
        lane.due_at = now
    session.add(AuditLog(at=now, actor=actor, action="reconciliation.started", subject=f"run {run.id}",
                         details={"mode": mode, "lanes": len(pairs)}))
    session.flush()
    return run.id


def run_now(engine: Engine, actor: str, mode: str = FULL) -> int | None:
    """A person's "run now": start a pass (or return the one running)."""
    with transaction(engine) as session:
        return start(session, mode, actor)


def scheduled(mode: str) -> Any:
    """The scheduler's action for passes of `mode`."""

    def action(session: Session, _at: datetime) -> None:
        start(session, mode, "scheduler")

    return action


@dataclass(frozen=True)
class RunRow:
    id: int
    mode: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    started_by: str
    lanes_done: int
    lanes_total: int
    records_read: int
    findings_opened: int
    findings_closed: int
    heals: int
    api_calls: int


def list_runs(engine: Engine, page: int = 1, page_size: int = 25) -> Page[RunRow]:
    """Reconciliation passes, newest first."""
    page, page_size, offset = page_bounds(page, page_size)
    with snapshot(engine) as session:
        total = int(session.scalar(select(func.count()).select_from(ReconcileRun)) or 0)
        rows = session.scalars(
            select(ReconcileRun).order_by(col(ReconcileRun.id).desc()).offset(offset).limit(page_size)
        ).all()
        items = [RunRow(
            r.id or 0, r.mode, r.status, r.started_at, r.finished_at, r.started_by, r.lanes_done, r.lanes_total,
            r.records_read, r.findings_opened, r.findings_closed, r.heals, r.api_calls,
        ) for r in rows]  # fmt: skip
    return make_page(items, total, page, page_size)


# -- findings -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FindingRow:
    id: int
    kind: str
    object_type: str
    canonical_id: str
    field: str | None
    systems: list[str]
    records: dict[str, Any]
    values: dict[str, Any]
    summary: str
    money: float
    currency: str | None
    status: str
    first_seen_at: datetime
    last_seen_at: datetime
    closed_at: datetime | None
    healed_by: str | None
    reason: str | None
    correlation_id: str | None


def _row(f: Finding) -> FindingRow:
    return FindingRow(
        f.id or 0, f.kind, f.object_type, f.canonical_id, f.field, list(f.systems), dict(f.records), dict(f.values),
        f.summary, f.money, f.currency, f.status, f.first_seen_at, f.last_seen_at, f.closed_at, f.healed_by,
        f.reason, f.correlation_id,
    )


@dataclass(frozen=True)
class FindingFilter:
    """Which findings a list or a bulk action covers; None: any."""

    kind: str | None = None
    status: str | None = OPEN
    system: str | None = None  # a system the finding involves
    older_than: timedelta | None = None  # first seen at least this long ago

    def where(self, now: datetime) -> list[Any]:
        where: list[Any] = []
        if self.kind:
            where.append(col(Finding.kind) == self.kind)
        if self.status:
            where.append(col(Finding.status) == self.status)
        if self.system:
            where.append(cast(col(Finding.systems), Text).like(f'%"{self.system}"%'))
        if self.older_than is not None:
            where.append(col(Finding.first_seen_at) <= now - self.older_than)
        return where


def list_findings(
    engine: Engine, page: int = 1, page_size: int = 25, which: FindingFilter | None = None
) -> Page[FindingRow]:
    """Findings the filter matches, the most money at stake first, one page plus the total."""
    page, page_size, offset = page_bounds(page, page_size)
    with snapshot(engine) as session:
        where = (which or FindingFilter()).where(db_now(session))
        total = int(session.scalar(select(func.count()).select_from(Finding).where(*where)) or 0)
        found = session.scalars(
            select(Finding).where(*where).order_by(col(Finding.money).desc(), col(Finding.id))
            .offset(offset).limit(page_size)
        ).all()  # fmt: skip
        return make_page([_row(r) for r in found], total, page, page_size)


def finding_ids(engine: Engine, which: FindingFilter) -> list[int]:
    """The ids of every finding the filter matches: what a bulk action touches."""
    with snapshot(engine) as session:
        where = which.where(db_now(session))
        ids = session.scalars(select(col(Finding.id)).where(*where).order_by(col(Finding.id)))
        return [int(i) for i in ids if i is not None]


@dataclass(frozen=True)
class KindSummary:
    kind: str
    open: int
    money: float


def summary(engine: Engine) -> list[KindSummary]:
    """Open findings per kind with the money at stake, every kind listed."""
    with snapshot(engine) as session:
        counted = {
            kind: (int(n), float(money or 0))
            for kind, n, money in session.execute(
                select(col(Finding.kind), func.count(), func.sum(col(Finding.money)))
                .where(col(Finding.status) == OPEN).group_by(col(Finding.kind))
            )
        }  # fmt: skip
    return [KindSummary(k.value, *counted.get(k.value, (0, 0.0))) for k in Kind]


def open_over_time(engine: Engine, since: datetime) -> list[tuple[datetime, int]]:
    """(when a pass finished, findings open then), oldest first: mismatch counts over time."""
    with snapshot(engine) as session:
        rows = session.execute(
            select(col(ReconcileRun.finished_at), col(ReconcileRun.open_findings)).where(
                col(ReconcileRun.finished_at) >= since, col(ReconcileRun.open_findings).is_not(None)
            ).order_by(col(ReconcileRun.finished_at))
        ).all()  # fmt: skip
    return [(at, int(n)) for at, n in rows if at is not None and n is not None]


class FindingsCollector(Collector):
    """Open findings and the money at stake per kind, as Prometheus metric families."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        kinds = summary(self.engine)
        count = GaugeMetricFamily("revline_findings_open", "Open reconciliation findings.", labels=["kind"])
        money = GaugeMetricFamily("revline_findings_money", "Money at stake in open findings.", labels=["kind"])
        for kind in kinds:
            count.add_metric([kind.kind], kind.open)
            money.add_metric([kind.kind], kind.money)
        yield from (count, money)


def get_finding(engine: Engine, finding_id: int) -> FindingRow | None:
    with snapshot(engine) as session:
        row = session.get(Finding, finding_id)
        return _row(row) if row is not None else None


def heal_now(engine: Engine, finding_ids: Sequence[int], actor: str) -> int:
    """A person heals these open findings now (whatever the kind's policy); returns how many got a heal."""
    if not finding_ids:
        return 0
    with transaction(engine) as session:
        now = db_now(session)
        rows = _open_rows(session, finding_ids)
        healed = 0
        for object_type in sorted({r.object_type for r in rows}):
            group = [r for r in rows if r.object_type == object_type]
            healed += heal(session, load(session, object_type), group, actor, now)
        session.add(AuditLog(at=now, actor=actor, action="finding.heal", subject=_subject(finding_ids),
                             details={**_audited_ids(finding_ids), "healed": healed}))
        return healed


def link_to(engine: Engine, finding_id: int, external_id: str, actor: str, reason: str) -> None:
    """A person points the finding's record in its system at another record there (the orphan's record
    entered anew, the one of two duplicates to keep, the ERP customer the account is): the link moves or is
    made, the record is read in full so the sync carries on with it, and the next pass judges the result.
    ValueError when the finding is not open, names no system, or the record is linked to another entity."""
    external_id = external_id.strip()
    if not external_id or not reason.strip():
        raise ValueError("a record id and a reason are required")
    with transaction(engine) as session:
        now = db_now(session)
        row = session.get(Finding, finding_id, with_for_update=True)
        if row is None or row.status != OPEN:
            raise ValueError(f"finding {finding_id} is not open")
        system = _target(row)
        if system is None:
            raise ValueError(f"finding {finding_id} names no system to link in")
        taken = ledger.links_by_external(session, system, row.object_type, [external_id]).get(external_id)
        if taken is not None and taken != row.canonical_id:
            raise ValueError(f"{system} {row.object_type} {external_id} is linked to another record ({taken})")
        current = ledger.links_by_canonical(session, system, [row.canonical_id]).get(row.canonical_id)
        if current is None:
            ledger.add_links(session, row.object_type, system, [(row.canonical_id, external_id)], now)
        elif current != external_id:
            ledger.relink(session, system, row.object_type, {current: external_id})
        intake.reread(session, system, row.object_type, [external_id], f"{actor} linked it: {reason.strip()}", now)
        row.healed_by, row.reason = actor, reason.strip()
        session.add(AuditLog(at=now, actor=actor, action="finding.link", subject=f"finding {finding_id}",
                             details={"system": system, "before": current, "after": external_id,
                                      "reason": reason.strip()}))  # fmt: skip


def ignore(engine: Engine, finding_ids: Sequence[int], actor: str, reason: str) -> int:
    """A person decides these findings need nothing (with a reason); later passes leave them ignored."""
    return _settle(engine, finding_ids, actor, reason, "ignored", "finding.ignore")


def resolve(engine: Engine, finding_ids: Sequence[int], actor: str, reason: str) -> int:
    """A person says these findings are dealt with; a pass that still sees one opens it again."""
    return _settle(engine, finding_ids, actor, reason, "resolved", "finding.resolve")


def _settle(engine: Engine, finding_ids: Sequence[int], actor: str, reason: str, status: str, action: str) -> int:
    if not reason or not reason.strip():
        raise ValueError("a reason is required")
    if not finding_ids:
        return 0
    with transaction(engine) as session:
        now = db_now(session)
        rows = _open_rows(session, finding_ids)
        for row in rows:
            row.status, row.reason, row.closed_at, row.healed_by = status, reason.strip(), now, actor
        session.add(AuditLog(at=now, actor=actor, action=action, subject=_subject(finding_ids),
                             details={**_audited_ids([r.id or 0 for r in rows]), "reason": reason.strip()}))
        return len(rows)


def _open_rows(session: Session, finding_ids: Sequence[int]) -> list[Finding]:
    ids = sorted(set(finding_ids))
    rows: list[Finding] = []
    for start in range(0, len(ids), _CHUNK):
        rows += session.scalars(
            select(Finding).where(col(Finding.id).in_(ids[start : start + _CHUNK]), col(Finding.status) == OPEN)
            .order_by(col(Finding.id))
        )  # fmt: skip
    return rows


def _audited_ids(finding_ids: Sequence[int]) -> dict[str, Any]:
    ids = sorted(set(finding_ids))
    return {"count": len(ids), "findings": ids[:_AUDITED_IDS]}


def _subject(finding_ids: Sequence[int]) -> str:
    ids = sorted(set(finding_ids))
    return f"finding {ids[0]}" if len(ids) == 1 else f"{len(ids)} findings"


# -- healing --------------------------------------------------------------------------------------


def close(row: Finding, now: datetime) -> None:
    """A finding no longer seen: `healed` when Revline's own heal did it, `resolved` otherwise."""
    row.status = "healed" if row.healed_by == HEALER else "resolved"
    row.closed_at = now


def heal(
    session: Session,
    policy: ObjectPolicy,
    rows: Sequence[Finding],
    actor: str,
    now: datetime,
    fresh: Mapping[str, Mapping[str, SourceRecord]] | None = None,
) -> int:
    """Put each finding's heal into the outbox; returns how many findings got one.

    Drift: the expected value, to the system that lacks it. Won without order: the closed-won
    flow again, after the ledger takes in the deal as sales has it now (`fresh`: canonical id ->
    system -> record read by the pass). Other kinds have no automatic heal: a person decides.
    """
    healed = 0
    pushes: dict[tuple[str, str], list[Finding]] = {}
    for row in rows:
        target = _target(row)
        if row.kind in (Kind.FIELD_DRIFT, Kind.STATUS_DRIFT) and target:
            pushes.setdefault((row.canonical_id, target), []).append(row)
        elif row.kind == Kind.WON_WITHOUT_ORDER:
            op_id = _place_again(session, policy, row.canonical_id, (fresh or {}).get(row.canonical_id, {}), now)
            if op_id is not None:
                _mark_healing(session, [row], op_id, actor, now)
                healed += 1
    for (cid, target), group in sorted(pushes.items()):
        fields = {r.field: (r.values or {}).get("expected") for r in group if r.field in policy.fields_of(target)}
        if not fields:
            continue
        key = ledger.idempotency_key(
            target, policy.object_type, HEALER, cid, f"{now.isoformat()}#{intake.digest(fields)}", "heal"
        )
        ledger.add_ops(session, [{
            "idempotency_key": key, "target_system": target, "object_type": policy.object_type,
            "canonical_id": cid, "operation": executor.HEAL, "source_system": HEALER, "source_id": cid,
            "source_version": f"finding-{group[0].id}", "payload": fields, "status": "pending", "attempts": 0,
            "next_attempt_at": now, "result": {}, "correlation_id": group[0].correlation_id or cid,
            "created_at": now, "updated_at": now,
        }])  # fmt: skip
        op_id = session.scalar(select(col(OutboundOp.id)).where(col(OutboundOp.idempotency_key) == key))
        lanes.mark_due(session, target, policy.object_type, lanes.OUTBOUND, now)
        _mark_healing(session, group, op_id, actor, now)
        healed += len(group)
    return healed


def heal_on_its_way(session: Session, row: Finding) -> bool:
    """Whether the finding's last heal is still in the outbox."""
    if row.heal_op_id is None:
        return False
    status = session.scalar(select(col(OutboundOp.status)).where(col(OutboundOp.id) == row.heal_op_id))
    return status in ("pending", "in_flight")


def _target(row: Finding) -> str | None:
    """The system a drift heal writes to (the key's fourth part)."""
    parts = row.key.split(":")
    return parts[3] or None if len(parts) > 3 else None


def _place_again(
    session: Session, policy: ObjectPolicy, cid: str, fresh: Mapping[str, SourceRecord], now: datetime
) -> int | None:
    """The closed-won flow again for one deal; None (no heal) while its order waits in the repair queue for
    a person (billing data, a product, a price): deciding again would only hold it again."""
    held = session.scalar(select(col(OutboundOp.error_category)).where(
        col(OutboundOp.canonical_id) == cid, col(OutboundOp.operation) == closed_won.PLACE, op_status_is("dead")))
    if held in _FOR_A_PERSON:
        return None
    roles = closed_won.roles(policy)
    record = fresh.get(roles.sales) if roles is not None else None
    if roles is not None and record is not None:
        # A stage change the sync missed (a lost webhook): the ledger takes the deal in as it is now.
        intake.ingest(session, roles.sales, policy, [record], now, read_in_full=[record.external_id])
    return closed_won.place_again(session, cid, now)


def _mark_healing(session: Session, rows: Sequence[Finding], op_id: int | None, actor: str, now: datetime) -> None:
    for row in rows:
        row.heal_op_id, row.healed_by = op_id, actor
    ledger.add_spans(session, [{
        "correlation_id": row.correlation_id or row.canonical_id, "name": "reconcile.heal",
        "system": _target(row), "started_at": now, "ended_at": now, "status": "ok",
        "attributes": {"record": row.canonical_id, "finding": row.id, "kind": row.kind, "field": row.field,
                       "op": op_id, "by": actor},
    } for row in rows])  # fmt: skip
