"""Step 3 of the loop: send an outbound lane's due writes in the largest batches allowed.

Claim due ops (oldest first), merge the ops of one record into one upsert, call the
connector once per batch outside any transaction, then record each result: links and
shadows for successes, the retry policy's decision for failures. Each transaction starts
with the lane's fence, so a worker that lost its lease records nothing; its in-flight ops
are sent again by the next owner, and the upsert keyed on the canonical id makes that safe.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.orm import Session

from sync_core import intake, writeback
from sync_core.domain import mapping, records
from sync_core.domain.changes import WriteRequest, WriteResult
from sync_core.domain.errors import (
    ErrorCategory,
    PermanentError,
    RateLimitedError,
    RetryableError,
    SyncError,
    WaitingError,
)
from sync_core.domain.ownership import SystemState, apply
from sync_core.persistence import lanes, ledger, statements
from sync_core.persistence.database import transaction
from sync_core.persistence.tables import InboxEvent, OutboundOp, op_status_is
from sync_core.ports import Connector
from sync_core.retry import DeadLetter, RetryPolicy
from sync_core.services import flows
from sync_core.services.policy import ObjectPolicy, load

WAIT_SECONDS = 2.0  # how long a write waiting for a referenced record sleeps if nothing wakes it sooner
Fence = Callable[[Session], datetime]
"""Extends the lane's lease inside a transaction, or raises LeaseLostError; returns the db time."""


@dataclass
class BatchCounts:
    """What one batch did."""

    ops: int = 0
    done: int = 0
    retried: int = 0
    dead: int = 0
    api_calls: int = 0
    throttled_for: float | None = None  # the system refused for its quota: hold it this long
    woke: set[lanes.LaneKey] = field(default_factory=set)  # lanes of writes that waited for a record it linked


@dataclass(frozen=True)
class _Group:
    """The due ops of one record, merged into one write."""

    canonical_id: str
    op_ids: tuple[int, ...]
    keys: tuple[str, ...]
    attempts: int
    fields: dict[str, Any]
    correlation_id: str
    # Fields a heal sends whatever Revline last saw in the target: reconciliation found it holds otherwise.
    forced: frozenset[str] = frozenset()


HEAL = "heal"  # the operation of reconciliation's writes

_OPS = OutboundOp.__table__  # type: ignore[attr-defined]


class _Due(NamedTuple):
    """A due op, as the batch claims it."""

    id: int
    canonical_id: str
    operation: str
    payload: dict[str, Any]
    attempts: int
    idempotency_key: str
    target_system: str
    object_type: str
    source_id: str
    updated_at: datetime
    correlation_id: str


_DUE = select(
    _OPS.c.id, _OPS.c.canonical_id, _OPS.c.operation, _OPS.c.payload, _OPS.c.attempts, _OPS.c.idempotency_key,
    _OPS.c.target_system, _OPS.c.object_type, _OPS.c.source_id, _OPS.c.updated_at, _OPS.c.correlation_id,
).where(
    _OPS.c.target_system == bindparam("system"),
    _OPS.c.object_type == bindparam("object_type"),
    op_status_is("pending"),
    _OPS.c.next_attempt_at <= bindparam("now"),
)
_FIRST_DUE = _DUE.order_by(_OPS.c.id).limit(bindparam("size"))
# The same records' later ops (a flow's write planned after the page's) join them: one write each.
_LATER_DUE = (
    select(*_DUE.selected_columns)
    .where(
        _OPS.c.target_system == bindparam("system"),
        _OPS.c.object_type == bindparam("object_type"),
        statements.unindexed(_OPS.c.status) == "pending",  # by the records' ids, not through every pending op
        _OPS.c.next_attempt_at <= bindparam("now"),
        _OPS.c.id > bindparam("after"),
        statements.listed(_OPS.c.canonical_id, "ids"),
        _OPS.c.operation != "ingest",
    )
    .order_by(_OPS.c.id)
)
_TAKE = (
    update(_OPS)
    .where(statements.listed(_OPS.c.id, "ids"))
    .values(status="in_flight", attempts=_OPS.c.attempts + 1, updated_at=bindparam("now"))
)


def _claim_batch(session: Session, claim: lanes.Claim, size: int, now: datetime) -> tuple[list[_Group], list[_Due]]:
    """Mark up to `size` records' due ops in flight; ingest retries are returned apart."""
    lane = {"system": claim.system, "object_type": claim.object_type, "now": now}
    rows = [_Due(*row) for row in statements.fetch(session, _FIRST_DUE, **lane, size=size)]
    if len(rows) == size:
        cids = list({row.canonical_id for row in rows if row.operation != "ingest"})
        rows += [_Due(*row) for row in statements.fetch(session, _LATER_DUE, **lane, after=rows[-1].id, ids=cids)]
    merged: dict[str, list[_Due]] = {}
    requeue: list[_Due] = []
    for row in rows:
        if row.operation == "ingest":
            requeue.append(row)
        elif row.canonical_id in merged or len(merged) < size:
            merged.setdefault(row.canonical_id, []).append(row)
    taken = [row.id for group in merged.values() for row in group]
    if taken:
        statements.run(session, _TAKE, ids=taken, now=now)
    groups = []
    for canonical_id, group in merged.items():
        fields: dict[str, Any] = {}
        for row in group:  # later plans win: ops are in the order they were planned
            fields.update(row.payload)
        groups.append(
            _Group(
                canonical_id,
                tuple(r.id for r in group),
                tuple(r.idempotency_key for r in group),
                max(r.attempts for r in group) + 1,
                fields,
                group[-1].correlation_id,
                frozenset(k for r in group if r.operation == HEAL for k in r.payload),
            )
        )
    return groups, requeue


def _requeue_ingests(session: Session, rows: Sequence[Any], now: datetime) -> None:
    """A retried ingest dead letter goes back through the inbox, to be read afresh."""
    for row in rows:
        session.add(
            InboxEvent(
                dedupe_key=f"retry:{row.id}:{row.updated_at.isoformat()}",
                system=row.target_system,
                object_type=row.object_type,
                external_id=row.source_id,
                payload={"reason": "retry of dead letter", "op_id": row.id},
                received_at=now,
            )
        )
    if rows:
        session.execute(
            update(_OPS)
            .where(_OPS.c.id.in_([row.id for row in rows]))
            .values(status="done", result={"requeued": True}, updated_at=now)
        )


@dataclass
class _Outcome:
    """What became of one group: sent (with its result), failed before sending, or in step."""

    group: _Group
    request: WriteRequest | None = None
    result: WriteResult | None = None
    error: SyncError | None = None


_MISSING = object()


def _prepare(
    groups: Sequence[_Group],
    policy: ObjectPolicy,
    target: str,
    external: dict[str, str],
    seen: dict[str, SystemState | None],
    queued: Collection[str] = (),
) -> list[_Outcome]:
    """Map each group to the target's fields, leaving out what the target already holds."""
    target_mapping = policy.mappings.get(target)
    outcomes = []
    for group in groups:
        state = seen.get(group.canonical_id)
        fields = {
            k: v for k, v in group.fields.items()
            if state is None or k in group.forced or state.values.get(k, _MISSING) != v
        }  # fmt: skip
        outcome = _Outcome(group)
        outcomes.append(outcome)
        if not fields:
            continue
        try:
            if target_mapping is None:
                raise PermanentError(
                    f"{target} has no field mapping for {policy.object_type}", ErrorCategory.MAPPING
                )
            resolved = _referenced(fields, policy.object_type, target, external, queued)
            vendor = mapping.to_vendor(target_mapping, resolved)
        except SyncError as error:
            outcome.error = error
            continue
        outcome.request = WriteRequest(group.canonical_id, external.get(group.canonical_id), vendor, group.keys)
    return outcomes


def _referenced(
    fields: dict[str, Any], object_type: str, target: str, external: dict[str, str], queued: Collection[str] = ()
) -> dict[str, Any]:
    """`fields` with canonical ids in reference fields replaced by the target's own ids.

    A referenced record the target does not hold yet makes the write try again rather than point
    at nothing: it waits, spending no attempt, while that record's own write is queued for the
    target (`queued`), and is woken when it lands. A set of references (a deal's contacts) holds
    the members the target has: one it does not have and is not getting (a person marketing keeps
    to itself) is left out rather than holding the record back.
    """
    references = records.REFERENCES.get(object_type)
    if not references:
        return fields
    resolved = dict(fields)
    for name, referenced_type in references.items():
        ids = records.reference_ids(fields.get(name))
        many = isinstance(fields.get(name), list | tuple)
        for value in ids:
            if value not in external:
                problem = f"{target} has no {referenced_type} {value} yet for {object_type} {name}"
                if value in queued:
                    raise WaitingError(problem + " (its write is queued)", retry_after=WAIT_SECONDS)
                if not many:
                    raise RetryableError(problem)
        if many:
            resolved[name] = [external[i] for i in ids if i in external]
        elif ids:
            resolved[name] = external[ids[0]]
    return resolved


def _queued(session: Session, target: str, ids: Collection[str]) -> set[str]:
    """Which of the records `ids` have a write queued for `target` (pending or in flight)."""
    if not ids:
        return set()
    ops = _OPS.c
    rows = session.execute(
        select(ops.canonical_id).where(
            ops.target_system == target, ops.canonical_id.in_(list(ids)), ops.status.in_(["pending", "in_flight"])
        )
    )
    return {str(cid) for (cid,) in rows}


def _wake_waiting(session: Session, target: str, object_type: str, now: datetime) -> set[lanes.LaneKey]:
    """Records of `object_type` were just linked in `target`: writes there waiting for one go now.

    Returns the lanes of the writes it woke."""
    pointing = sorted({t for t, refs in records.REFERENCES.items() if object_type in refs.values()})
    woke: set[lanes.LaneKey] = set()
    for waiting_type in pointing:
        waiting = [i for (i,) in statements.fetch(session, _WAITING, system=target, object_type=waiting_type)]
        if waiting and statements.run(session, _WAKE, ids=waiting, now=now):
            lanes.mark_due(session, target, waiting_type, lanes.OUTBOUND, now)
            woke.add((target, waiting_type, lanes.OUTBOUND))
    return woke


# A lane's waiting writes, found through its pending ops (ordered as that index is, so SQLite's planner
# takes it rather than the index of every op's status), then woken by id.
_WAITING = (
    select(_OPS.c.id)
    .where(
        _OPS.c.target_system == bindparam("system"), _OPS.c.object_type == bindparam("object_type"),
        op_status_is("pending"), _OPS.c.error_category == ErrorCategory.WAITING.value,
    )
    .order_by(_OPS.c.target_system, _OPS.c.object_type, _OPS.c.id)
)  # fmt: skip
_WAKE = (
    update(_OPS)
    .where(statements.listed(_OPS.c.id, "ids"), op_status_is("pending"))
    .values(next_attempt_at=bindparam("now"))
)


def _send(connector: Connector, object_type: str, requests: Sequence[WriteRequest]) -> list[WriteResult]:
    """One API call; a failure of the whole call becomes every record's failure."""
    if not requests:
        return []
    try:
        results = connector.write_batch(object_type, requests)
    except SyncError as error:
        return [WriteResult(r.canonical_id, error=error) for r in requests]
    except Exception as error:  # an untranslated failure: dead-lettered as unexpected
        failure = PermanentError(f"{type(error).__name__}: {error}", ErrorCategory.UNEXPECTED)
        return [WriteResult(r.canonical_id, error=failure) for r in requests]
    if len(results) != len(requests):
        failure = PermanentError(
            f"{connector.system} answered {len(results)} results for {len(requests)} writes",
            ErrorCategory.UNEXPECTED,
        )
        return [WriteResult(r.canonical_id, error=failure) for r in requests]
    return results


def recover_in_flight(engine: Engine, claim: lanes.Claim, fence: Fence) -> int:
    """Put back the ops a previous owner of the lane left in flight (it died or lost its lease).

    Their outcome is unknown, so they are sent again; the upsert keyed on the canonical id
    makes a second send harmless. Only the lane's lease holder runs this, so no live worker
    has them in hand.
    """
    with transaction(engine) as session:
        fence(session)
        result: Any = session.execute(
            update(_OPS)
            .where(
                _OPS.c.target_system == claim.system,
                _OPS.c.object_type == claim.object_type,
                _OPS.c.status == "in_flight",
            )
            .values(status="pending")
        )
        return int(result.rowcount)


def run_batch(
    engine: Engine,
    claim: lanes.Claim,
    connector: Connector,
    retry: RetryPolicy,
    fence: Fence,
    calls: int = 5,
) -> BatchCounts | None:
    """Send up to `calls` full batches of the lane's due writes; None when nothing was due.

    The batches are claimed and recorded together (two transactions for `calls` API calls),
    each call carrying at most `connector.max_batch_size` records. `fence` extends the lane's
    lease or raises LeaseLostError; it opens both transactions.
    """
    with transaction(engine) as session:
        now = fence(session)
        groups, requeue = _claim_batch(session, claim, connector.max_batch_size * calls, now)
        _requeue_ingests(session, requeue, now)
        if requeue:
            lanes.mark_due(session, claim.system, claim.object_type, lanes.INBOUND, now)
        if not groups:
            return BatchCounts(ops=len(requeue), done=len(requeue)) if requeue else None
        policy = load(session, claim.object_type)
        cids = [g.canonical_id for g in groups]
        referenced = {
            i for g in groups for name in records.REFERENCES.get(claim.object_type, {})
            for i in records.reference_ids(g.fields.get(name))
        }
        external = ledger.links_by_canonical(session, claim.system, [*cids, *referenced])
        queued = _queued(session, claim.system, referenced - set(external))
        known = ledger.shadows(session, cids, claim.system)
    seen = {cid: ledger.state_of(known.get((cid, claim.system))) for cid in cids}
    outcomes = _prepare(groups, policy, claim.system, external, seen, queued)
    sending = [o for o in outcomes if o.request is not None]
    calls_before = connector.api_calls
    size = connector.max_batch_size
    for start in range(0, len(sending), size):
        chunk = sending[start : start + size]
        results = _send(connector, claim.object_type, [o.request for o in chunk if o.request is not None])
        for outcome, result in zip(chunk, results, strict=True):
            outcome.result, outcome.error = result, result.error
    counts = BatchCounts(ops=sum(len(g.op_ids) for g in groups) + len(requeue), done=len(requeue))
    counts.api_calls = connector.api_calls - calls_before
    with transaction(engine) as session:
        now = fence(session)
        _record(session, claim, policy, outcomes, retry, now, counts)
    return counts


def _record(
    session: Session,
    claim: lanes.Claim,
    policy: ObjectPolicy,
    outcomes: Sequence[_Outcome],
    retry: RetryPolicy,
    now: datetime,
    counts: BatchCounts,
) -> None:
    """Write every outcome back to the ledger: done with links and shadows, or retried, or dead."""
    target, object_type = claim.system, claim.object_type
    known = ledger.shadows(session, [o.group.canonical_id for o in outcomes])
    links: list[tuple[str, str]] = []
    created: list[WriteResult] = []
    shadows: list[dict[str, Any]] = []
    states_after: dict[str, SystemState] = {}
    spans: list[dict[str, Any]] = []
    updates = _Updates(now)
    arrived = _arrived(session, target, object_type, outcomes)
    for outcome in outcomes:
        group, result, error = outcome.group, outcome.result, outcome.error
        if isinstance(error, WaitingError) and group.canonical_id in arrived:
            error = WaitingError(error.message, retry_after=0.0)  # what it waited for landed meanwhile: go again now
        if error is not None:
            _fail(updates, group, error, retry, now, counts)
            spans.append(_span(group, target, now, error))
            continue
        states = {s: ledger.state_of(known.get((group.canonical_id, s))) for s in policy.systems}
        after = apply(states, {target: group.fields}).get(target, SystemState(values=group.fields))
        previous = known.get((group.canonical_id, target))
        written = {**(previous.written if previous else {}), **group.fields}
        version = result.version if result else (previous.source_version if previous else None)
        shadows.append(ledger.shadow_row(group.canonical_id, target, object_type, after, written, version, now))
        states_after[group.canonical_id] = after
        new_to_target = result is not None and result.external_id and (
            outcome.request is None or outcome.request.external_id != result.external_id
        )
        if new_to_target and result is not None and result.external_id:
            links.append((group.canonical_id, result.external_id))
            created.append(result)
        done = (
            {"external_id": result.external_id, "version": result.version, "created": result.created}
            if result
            else {"skipped": "already in step"}
        )
        updates.set(group, "done", result=done)
        counts.done += len(group.op_ids)
        spans.append(_span(group, target, now, None))
    updates.write(session)
    writeback.record_created(session, policy, target, created, shadows, now, known, states_after)
    ledger.add_links(session, object_type, target, links, now)
    if links:
        counts.woke = _wake_waiting(session, target, object_type, now)
        intake.wake_referrers(session, target, object_type, [external for _, external in links], now)
    ledger.save_shadows(session, shadows)
    ledger.add_spans(session, spans)
    if links:  # after the shadows: the flows read what the target filled in
        flows.after_write(session, target, policy, [cid for cid, _ in links], now)


def _arrived(session: Session, target: str, object_type: str, outcomes: Sequence[_Outcome]) -> set[str]:
    """The waiting groups whose referenced records were linked in `target` while they were in flight.

    Their wake (_wake_waiting) ran while they were not pending yet, so nothing else would wake them.
    """
    references = records.REFERENCES.get(object_type, {})
    waiting = {
        o.group.canonical_id: {str(o.group.fields[n]) for n in references if o.group.fields.get(n) not in (None, "")}
        for o in outcomes
        if isinstance(o.error, WaitingError)
    }
    if not waiting:
        return set()
    linked = ledger.links_by_canonical(session, target, sorted(set().union(*waiting.values())))
    return {cid for cid, wanted in waiting.items() if wanted and wanted <= linked.keys()}


_SET = (
    update(_OPS)
    .where(_OPS.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        next_attempt_at=bindparam("b_next"),
        error_category=bindparam("b_category"),
        error_message=bindparam("b_message"),
        result=bindparam("b_result"),
        attempts=_OPS.c.attempts - bindparam("b_refund"),
        updated_at=bindparam("b_now"),
    )
)


class _Updates:
    """Every op's new status from one batch, written in a single executemany."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.rows: list[dict[str, Any]] = []

    def set(
        self,
        group: _Group,
        status: str,
        *,
        result: dict[str, Any] | None = None,
        category: str | None = None,
        message: str | None = None,
        next_attempt_at: datetime | None = None,
        refund: bool = False,
    ) -> None:
        for op_id in group.op_ids:
            self.rows.append(
                {
                    "b_id": op_id, "b_status": status, "b_next": next_attempt_at or self.now,
                    "b_category": category, "b_message": message, "b_result": result or {}, "b_now": self.now,
                    "b_refund": int(refund),
                }
            )

    def write(self, session: Session) -> None:
        statements.execute_many(session, _SET, self.rows)


def _fail(
    updates: _Updates, group: _Group, error: SyncError, retry: RetryPolicy, now: datetime, counts: BatchCounts
) -> None:
    """Carry out the retry policy's decision for a failed group."""
    decision = retry.decide(error, group.attempts, now)
    if isinstance(decision, DeadLetter):
        updates.set(group, "dead", category=decision.category.value, message=decision.reason)
        counts.dead += len(group.op_ids)
    else:
        category = error.category.value if isinstance(error, PermanentError) else ErrorCategory.TRANSIENT.value
        if isinstance(error, WaitingError):
            category = ErrorCategory.WAITING.value
        throttled = isinstance(error, RateLimitedError)
        refund = throttled or isinstance(error, WaitingError)
        updates.set(
            group, "pending", category=category, message=error.message, next_attempt_at=decision.at, refund=refund
        )
        counts.retried += len(group.op_ids)
        if throttled:
            counts.throttled_for = max(counts.throttled_for or 0.0, (decision.at - now).total_seconds())


def _span(group: _Group, target: str, now: datetime, error: SyncError | None) -> dict[str, Any]:
    return {
        "correlation_id": group.correlation_id,
        "name": "write",
        "system": target,
        "started_at": now,
        "ended_at": now,
        "status": "ok" if error is None else "error",
        "attributes": {
            "ops": list(group.op_ids), "record": group.canonical_id, **({"error": error.message} if error else {})
        },
    }
