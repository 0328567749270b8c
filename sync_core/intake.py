"""Step 2 of the loop: turn a page of a system's changed records into planned writes.

For each record: map it to canonical fields and validate them, find or create its
canonical id, update what Revline knows of that system (echo suppression happens here,
in `observe`), ask the ownership planner what every system needs, and put those writes
into the outbox. The caller commits all of it together with the cursor advance.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from sync_core.domain import identity, mapping, records
from sync_core.domain.changes import SourceRecord
from sync_core.domain.errors import ErrorCategory, PermanentError
from sync_core.domain.mapping import ObjectMapping
from sync_core.domain.ownership import SystemState, observe, plan
from sync_core.persistence import lanes, ledger
from sync_core.services import trace
from sync_core.services.policy import ObjectPolicy


@dataclass
class IntakeCounts:
    """What one page produced."""

    records: int = 0
    ops_planned: int = 0
    dead: int = 0
    targets: set[str] = field(default_factory=set)
    changed: list[str] = field(default_factory=list)  # canonical ids of the records that changed


def _latest_per_record(page: Sequence[SourceRecord]) -> list[SourceRecord]:
    """One entry per record (a webhook and a poll may both bring it): the last one read, over the
    fields of the earlier ones (a system may report part of a record apart, a lead's conversion say)."""
    latest: dict[str, SourceRecord] = {}
    for record in page:
        earlier = latest.get(record.external_id)
        if earlier is not None:
            record = replace(
                record, fields={**earlier.fields, **record.fields},
                field_times={**earlier.field_times, **record.field_times},
                replaces=record.replaces or earlier.replaces,
            )  # fmt: skip
        latest[record.external_id] = record
    return list(latest.values())


def _canonical_ids(
    session: Session,
    system: str,
    object_type: str,
    page: Sequence[SourceRecord],
    keys: Mapping[str, str],
    now: datetime,
) -> tuple[dict[str, str], set[str]]:
    """external id -> canonical id for every record of the page, linking the new ones; and the
    canonical ids made for this page's new records, which nothing in the ledger refers to yet.

    A new record is recognised, in order, by the canonical id Revline stamped on it when it
    wrote it, then by its matching key (`keys`: external id -> email or domain) when another
    system's copy already claimed that key; otherwise it becomes a new canonical record.
    """
    linked = ledger.links_by_external(session, system, object_type, [r.external_id for r in page])
    fresh = [r for r in page if r.external_id not in linked]
    known = ledger.known_canonical(session, object_type, {r.canonical_id for r in fresh if r.canonical_id})
    # A new record carrying the canonical id of another record of this system took it over (a lead
    # converted into a contact with Revline's id mapped across): the link moves to it.
    holders = ledger.links_by_canonical(session, system, {r.canonical_id for r in fresh if r.canonical_id in known})
    moves = {holders[r.canonical_id]: r.external_id for r in fresh if r.canonical_id in holders}
    if moves:
        ledger.relink(session, system, object_type, moves)
        linked.update({r.external_id: r.canonical_id for r in fresh if r.canonical_id in holders and r.canonical_id})
        fresh = [r for r in fresh if r.external_id not in linked]
    proposed: dict[str, str] = {}
    for record in fresh:
        key = keys.get(record.external_id)
        if record.canonical_id in known:
            linked[record.external_id] = record.canonical_id
        elif key is not None:
            proposed.setdefault(key, identity.new_canonical_id())
    claimed = ledger.claim_match_keys(session, object_type, proposed, now)
    # The ids made here that won their key: the key was new to the ledger, and so is the id.
    minted = {canonical for key, canonical in claimed.items() if proposed.get(key) == canonical}
    taken = ledger.links_by_canonical(session, system, set(claimed.values()) - minted)  # already linked here
    new: list[tuple[str, str]] = []
    for record in fresh:
        canonical = linked.get(record.external_id)
        if canonical is None:
            match = claimed.get(keys.get(record.external_id, ""))
            if match and match not in taken:
                canonical = match
            else:
                canonical = identity.new_canonical_id()
                minted.add(canonical)
            taken[canonical] = record.external_id
            linked[record.external_id] = canonical
        new.append((canonical, record.external_id))
    ledger.add_links(session, object_type, system, new, now)
    return linked, minted


def resolve_references(
    session: Session,
    system: str,
    object_type: str,
    canonical: dict[str, tuple[dict[str, Any], dict[str, datetime]]],
) -> dict[str, list[tuple[str, str]]]:
    """Turn the system's ids in reference fields into canonical ids, in place.

    A reference to a record Revline has not linked yet (its lane has not read it) is left
    out, so it reads as unknown rather than cleared; returns, per record that had one, what
    it points at (type and id in `system`), so it is read again once that is linked.
    """
    unresolved: dict[str, list[tuple[str, str]]] = {}
    for field_name, target_type in records.REFERENCES.get(object_type, {}).items():
        wanted = {i for v, _ in canonical.values() for i in records.reference_ids(v.get(field_name))}
        linked = ledger.links_by_external(session, system, target_type, wanted)
        for external_id, (values, _) in canonical.items():
            ids = records.reference_ids(values.get(field_name))
            if not ids:
                continue
            missing = [i for i in ids if i not in linked]
            if missing:
                unresolved.setdefault(external_id, []).extend((target_type, i) for i in missing)
                del values[field_name]
            elif isinstance(values[field_name], list | tuple):
                values[field_name] = sorted({linked[i] for i in ids})  # a set of references: one order
            else:
                values[field_name] = linked[ids[0]]
    return unresolved


def _await(
    session: Session, system: str, object_type: str, unresolved: Mapping[str, list[tuple[str, str]]], now: datetime
) -> None:
    """Remember what the records with unresolved references wait for: they are read again when it is linked."""
    ledger.await_references(session, [
        {"system": system, "target_type": target_type, "target_id": target_id, "object_type": object_type,
         "external_id": external_id, "created_at": now}
        for external_id, targets in unresolved.items() for target_type, target_id in targets
    ])  # fmt: skip


def wake_referrers(session: Session, system: str, object_type: str, linked: Collection[str], now: datetime) -> None:
    """Records of `system` that pointed at these newly linked ones are read again, now that they resolve."""
    waiting = ledger.referrers_of(session, system, object_type, linked)
    for waiting_type in sorted({t for t, _ in waiting}):
        ids = [e for t, e in waiting if t == waiting_type]
        reread(session, system, waiting_type, ids, f"the {object_type} it points at is linked now", now)


def reread(session: Session, system: str, object_type: str, ids: Collection[str], reason: str, now: datetime) -> None:
    """Have the inbound lane read these records again, in full: they may look like echoes of Revline's own
    writes and still be news now."""
    ledger.add_inbox(session, [
        {"dedupe_key": f"reread:{system}:{object_type}:{external_id}:{uuid.uuid4()}", "system": system,
         "object_type": object_type, "external_id": external_id,
         "payload": {"reason": reason, "read_in_full": True}, "received_at": now}
        for external_id in ids
    ])  # fmt: skip
    if ids:
        lanes.mark_due(session, system, object_type, lanes.INBOUND, now)


def to_canonical(
    record: SourceRecord, source_mapping: ObjectMapping | None, system: str, object_type: str
) -> tuple[dict[str, Any], dict[str, datetime]]:
    """The record in canonical fields, validated; PermanentError when it cannot be."""
    if source_mapping is None:
        raise PermanentError(f"{system} has no field mapping for {object_type}", ErrorCategory.MAPPING)
    values = records.validate(object_type, mapping.to_canonical(source_mapping, record.fields))
    return values, mapping.times_to_canonical(source_mapping, record.field_times)


def observed_state(
    shadow: ledger.ShadowView | None,
    source_mapping: ObjectMapping | None,
    record: SourceRecord,
    values: dict[str, Any],
    times: dict[str, datetime],
) -> SystemState:
    """What the system holds after this read: Revline's picture of it (`shadow`) with the record's
    canonical `values` over it; a field counts as changed only when it differs from what was seen
    and from what Revline wrote there (echo suppression)."""
    return _observed(ledger.state_of(shadow), shadow, source_mapping, record, values, times)


def _observed(
    previous: SystemState | None,
    shadow: ledger.ShadowView | None,
    source_mapping: ObjectMapping | None,
    record: SourceRecord,
    values: dict[str, Any],
    times: dict[str, datetime],
) -> SystemState:
    """observed_state, given the shadow's state (`previous`) already worked out."""
    written_here = shadow.written if shadow else {}
    if source_mapping is not None:
        values = mapping.as_written(source_mapping, values, written_here)
    return observe(previous, values, record.modified_at, times, written_here)


def _dead_ingest(
    system: str, object_type: str, record: SourceRecord, error: PermanentError, now: datetime
) -> dict[str, Any]:
    return {
        # One dead letter per record, whatever its version: a record that keeps failing as it
        # changes updates its dead letter rather than piling up new ones.
        "idempotency_key": ledger.idempotency_key(system, object_type, system, record.external_id, "-", "ingest"),
        "target_system": system,
        "object_type": object_type,
        "canonical_id": record.canonical_id or "",
        "operation": "ingest",
        "source_system": system,
        "source_id": record.external_id,
        "source_version": record.version,
        "payload": {k: _jsonable(v) for k, v in record.fields.items()},
        "status": "dead",
        "attempts": 1,
        "next_attempt_at": now,
        "error_category": error.category.value,
        "error_message": error.message,
        "result": {},
        "correlation_id": record.canonical_id or identity.new_canonical_id(),
        "created_at": now,
        "updated_at": now,
    }


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)


def _mapped_only(
    writes: dict[str, dict[str, Any]], policy: ObjectPolicy, states: Mapping[str, SystemState | None], source: str
) -> dict[str, dict[str, Any]]:
    """Drop fields a target does not map (they have nowhere to go there), and the creation of
    records in systems where the loop does not create them (a flow does) or by a source that
    cannot give what a new record needs (the ERP's order state alone makes no deal: the deal's own
    system creates it, name and all; a source that maps the name but left it blank still tries, so
    the target's refusal shows)."""
    required = records.required_fields(policy.object_type)
    can_create = required <= policy.fields_of(source)
    kept = {
        t: {f: v for f, v in fields.items() if f in policy.fields_of(t)}
        for t, fields in writes.items()
        if states.get(t) is not None or (policy.creates_in(t) and can_create)
    }
    return {t: fields for t, fields in kept.items() if fields}


def _op(
    target: str,
    source: str,
    object_type: str,
    canonical_id: str,
    record: SourceRecord,
    fields: dict[str, Any],
    now: datetime,
    correlation_id: str,
) -> dict[str, Any]:
    """An outbox row: upsert `fields` into `target`, keyed on the source record's version."""
    return {
        # The planned fields are part of the key: reading the same version again can plan more
        # (a reference resolved since), and that write must not be mistaken for the first one.
        "idempotency_key": ledger.idempotency_key(
            target, object_type, source, record.external_id, f"{record.version}#{digest(fields)}", "upsert"
        ),
        "target_system": target,
        "object_type": object_type,
        "canonical_id": canonical_id,
        "operation": "upsert",
        "source_system": source,
        "source_id": record.external_id,
        "source_version": record.version,
        "payload": fields,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "result": {},
        "correlation_id": correlation_id,
        "created_at": now,
        "updated_at": now,
    }


# json.dumps(fields, sort_keys=True, default=str), with its encoder made once rather than per call.
_DIGEST_TEXT = json.JSONEncoder(sort_keys=True, default=str).encode


def digest(fields: dict[str, Any]) -> str:
    return hashlib.sha256(_DIGEST_TEXT(fields).encode()).hexdigest()[:16]


def ingest(
    session: Session,
    system: str,
    policy: ObjectPolicy,
    page: Sequence[SourceRecord],
    now: datetime,
    read_in_full: Collection[str] = (),
) -> IntakeCounts:
    """Plan the writes that `page` (records read from `system`) calls for, in `session`.

    Records in `read_in_full` (external ids) are taken in even when this very version was written
    by Revline: they were just created, and what the system filled in is news.
    """
    object_type = policy.object_type
    counts = IntakeCounts(records=len(page))
    source_mapping = policy.mappings.get(system)
    # Deletions are not propagated (a person decides those); the record's links stay for the audit trail.
    # A record Revline changed last is still taken in: a person's edit just before Revline's write of
    # other fields carries Revline's name, and `observe` tells Revline's own values from theirs.
    page = [r for r in _latest_per_record(page) if not r.deleted]
    # A record that took over another (a converted lead) inherits its link before anything else.
    ledger.relink(session, system, object_type, {r.replaces: r.external_id for r in page if r.replaces})
    canonical: dict[str, tuple[dict[str, Any], dict[str, datetime]]] = {}
    failures: dict[str, PermanentError] = {}
    for record in page:
        try:
            canonical[record.external_id] = to_canonical(record, source_mapping, system, object_type)
        except PermanentError as failure:
            failures[record.external_id] = failure
    unresolved = resolve_references(session, system, object_type, canonical)
    keys = {e: k for e, (values, _) in canonical.items() if (k := identity.match_key(object_type, values))}
    ids, minted = _canonical_ids(session, system, object_type, page, keys, now)
    # A record new to Revline has no shadow, story, pending write or dead letter to look up.
    known = ledger.shadows(session, set(ids.values()) - minted)
    ops: list[dict[str, Any]] = []
    dead: list[dict[str, Any]] = []
    shadows: list[dict[str, Any]] = []
    replanned: list[str] = []
    for record in page:
        canonical_id = ids[record.external_id]
        if record.external_id in failures:
            rejected = failures[record.external_id]
            dead.append(_dead_ingest(system, object_type, record, rejected, now) | {"canonical_id": canonical_id})
            continue
        source_shadow = known.get((canonical_id, system))
        seen_before = source_shadow is not None and source_shadow.source_version == record.version
        if seen_before and record.external_id not in read_in_full:
            continue  # this very version was seen or written by Revline already: an echo or a repeat read
        values, times = canonical[record.external_id]
        previous = ledger.state_of(source_shadow)
        written_here = source_shadow.written if source_shadow else {}
        observed = _observed(previous, source_shadow, source_mapping, record, values, times)
        states: dict[str, SystemState | None] = {
            s: observed if s == system else ledger.state_of(known.get((canonical_id, s))) for s in policy.systems
        }
        written = {s: known[(canonical_id, s)].written for s in policy.systems if (canonical_id, s) in known}
        writes = _mapped_only(plan(policy.rules, states, written), policy, states, system)
        if observed == previous and not writes:
            continue  # an echo of Revline's own write, or a record read again: nothing to record
        replanned.append(canonical_id)
        for target, fields in sorted(writes.items()):
            ops.append(_op(target, system, object_type, canonical_id, record, fields, now, canonical_id))
            counts.targets.add(target)
        # A record with a reference not yet resolved keeps no version, so its re-read is not skipped.
        version = None if record.external_id in unresolved else record.version
        shadows.append(ledger.shadow_row(canonical_id, system, object_type, observed, written_here, version, now))
    # A record in a deal's story carries its correlation id; the others start their own (their canonical id).
    stories = trace.correlations(session, {op["canonical_id"] for op in ops} - minted)
    for op in ops:
        op["correlation_id"] = stories.get(op["canonical_id"], op["canonical_id"])
    ledger.save_shadows(session, shadows)
    known_before = [canonical_id for canonical_id in replanned if canonical_id not in minted]
    ledger.supersede_pending(session, object_type, known_before, [op["idempotency_key"] for op in ops], now)
    ledger.add_ops(session, ops)
    ledger.put_dead_ops(session, dead)
    _await(session, system, object_type, unresolved, now)
    wake_referrers(session, system, object_type, [r.external_id for r in page], now)
    ledger.resolve_dead_ingests(session, object_type, system, known_before, now)
    for target in counts.targets:
        lanes.mark_due(session, target, object_type, lanes.OUTBOUND, now)
    counts.ops_planned = len(ops)
    counts.dead = len(dead)
    counts.changed = replanned
    return counts
