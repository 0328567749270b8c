"""After step 3: what a target filled in as it created records reaches the other systems, without a read.

The executor hands over the results of the writes that created records. The target's own id (the
write result reports it) goes into the target's shadow and, as the ownership rules say, into the
outbox for every other system holding the record (`domain/writeback.py` decides). A created record
whose owned fields cannot be known without reading it is read once in full instead: by the next
poll of the target, which returns Revline's own writes anyway, or by id once `FULL_READ_GRACE` has
passed without one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core.domain import mapping
from sync_core.domain.changes import WriteResult
from sync_core.domain.ownership import SystemState
from sync_core.domain.writeback import after_create
from sync_core.persistence import lanes, ledger, statements
from sync_core.persistence.tables import InboxEvent
from sync_core.services import trace
from sync_core.services.policy import ObjectPolicy

# How long a created record's full read waits for the target's change feed to bring the record
# before it is read by id. Polls come every few seconds (and HubSpot's search trails writes by a few
# more), so a minute leaves the feed ample time while bounding how late the values arrive.
FULL_READ_GRACE = timedelta(seconds=60)
_PREFIX = "created:"


def record_created(
    session: Session,
    policy: ObjectPolicy,
    target: str,
    created: Sequence[WriteResult],
    shadows: list[dict[str, Any]],
    now: datetime,
    known: Mapping[tuple[str, str], ledger.ShadowView] | None = None,
    states: Mapping[str, SystemState] | None = None,
) -> None:
    """Plan the other systems' writes for records `target` has just created (`created`: their results).

    `shadows` are the rows the executor is about to save; the target's rows of these records gain
    the values the target filled in. `known`: the other systems' shadows of these records, when the
    caller read them in this transaction already; `states`: the target's states those rows hold.
    """
    if not created:
        return
    object_type = policy.object_type
    target_mapping = policy.mappings.get(target)
    target_fields = policy.fields_of(target)
    rows = {row["canonical_id"]: row for row in shadows if row["system"] == target}
    # Only values the target filled in reach the other systems: without any, their states are not needed.
    reporting = [r.canonical_id for r in created if r.filled]
    if known is None:
        known = ledger.shadows(session, reporting)
    stories = trace.correlations(session, reporting)
    ops: list[dict[str, Any]] = []
    reads: list[dict[str, Any]] = []
    for result in created:
        row = rows.get(result.canonical_id)
        if row is None or result.external_id is None:
            continue
        filled = mapping.to_canonical(target_mapping, result.filled) if target_mapping is not None else {}
        held = states.get(result.canonical_id) if states is not None else None
        everywhere: dict[str, SystemState | None] = {
            s: ledger.state_of(known.get((result.canonical_id, s))) for s in policy.systems if s != target and filled
        }
        everywhere[target] = held or SystemState(
            values=row["seen"], field_times={k: datetime.fromisoformat(v) for k, v in row["field_times"].items()}
        )
        decision = after_create(policy.rules, target, target_fields, everywhere, row["written"], filled, now)
        if filled:  # otherwise the state is the row's own
            row["seen"] = dict(decision.state.values)
            row["field_times"] = {k: v.isoformat() for k, v in decision.state.field_times.items()}
        if decision.unknown:
            reads.append(full_read_notice(target, object_type, result.external_id, now))
        for system, fields in sorted(decision.writes.items()):
            mapped = {k: v for k, v in fields.items() if k in policy.fields_of(system)}
            if mapped:
                story = stories.get(result.canonical_id, result.canonical_id)
                ops.append(_op(system, target, object_type, result, mapped, now, story))
    ledger.add_ops(session, ops)
    for system in {op["target_system"] for op in ops}:
        lanes.mark_due(session, system, object_type, lanes.OUTBOUND, now)
    if reads:
        ledger.add_inbox(session, reads)
        lanes.mark_due(session, target, object_type, lanes.INBOUND, now)


def full_read_notice(system: str, object_type: str, external_id: str, now: datetime) -> dict[str, Any]:
    """An inbox row asking for one created record to be read in full, even though Revline wrote it last."""
    return {
        "dedupe_key": _key(system, object_type, external_id), "system": system, "object_type": object_type,
        "external_id": external_id, "payload": {"read_in_full": True}, "received_at": now,
    }


def not_deferred(now: datetime) -> ColumnElement[bool]:
    """Inbox events to read by id now: all but the full reads still waiting for the change feed."""
    return or_(
        col(InboxEvent.dedupe_key).not_like(f"{_PREFIX}%"),
        col(InboxEvent.received_at) <= now - FULL_READ_GRACE,
    )


def take_full_reads(
    session: Session, system: str, object_type: str, external_ids: Collection[str], now: datetime
) -> set[str]:
    """Which of these records (just read) await a full read; their notices are done with."""
    if not external_ids:
        return set()
    keys = {_key(system, object_type, e): e for e in external_ids}
    found = statements.fetch(session, _AWAITING_READ, keys=list(keys))
    if found:
        statements.run(session, _READ, ids=[i for i, _ in found], now=now)
    return {keys[key] for _, key in found}


_INBOX = InboxEvent.__table__  # type: ignore[attr-defined]
_AWAITING_READ = select(_INBOX.c.id, _INBOX.c.dedupe_key).where(
    # By their keys, not through every unread event: the unread ones can be a whole backlog of created records.
    statements.listed(_INBOX.c.dedupe_key, "keys"), statements.unindexed(_INBOX.c.processed_at).is_(None)
)
_READ = update(_INBOX).where(statements.listed(_INBOX.c.id, "ids")).values(processed_at=bindparam("now"))


def _key(system: str, object_type: str, external_id: str) -> str:
    return f"{_PREFIX}{system}:{object_type}:{external_id}"


def _op(
    system: str,
    target: str,
    object_type: str,
    result: WriteResult,
    fields: dict[str, Any],
    now: datetime,
    correlation_id: str,
) -> dict[str, Any]:
    """An outbox row: upsert `fields` into `system`, keyed on the created record and what is written."""
    assert result.external_id is not None
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return {
        "idempotency_key": ledger.idempotency_key(
            system, object_type, target, result.external_id, f"created#{digest}", "upsert"
        ),
        "target_system": system,
        "object_type": object_type,
        "canonical_id": result.canonical_id,
        "operation": "upsert",
        "source_system": target,
        "source_id": result.external_id,
        "source_version": result.version or "created",
        "payload": fields,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "result": {},
        "correlation_id": correlation_id,
        "created_at": now,
        "updated_at": now,
    }
