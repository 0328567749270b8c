"""Reconciliation: compare what each system holds now with what the rules say it should hold.

A pass (`ReconcileRun`) runs as one `reconcile` lane per (system, object type), so workers share
it as they share sync lanes, a lease keeps one worker on each, and a lane whose worker died is
taken over and resumes from its cursor. A full pass reads every record in the system's id order
(`Connector.scan`); an incremental pass reads what changed since the last one (`read_changes`).

For each page of records:

1. map them to canonical values, as intake does, and compare each with the ledger's picture of
   the other systems (the shadows' values): a record every system agrees on costs nothing more
   (the common case, `findings.agree`); the rest go through the ownership planner with the
   shadows' change times (`findings.drift`);
2. those that still disagree, and every record with an open finding an earlier pass saw, are
   candidates. Pages are pooled until the candidates fill the other systems' smallest batch as far
   as another page could without overflowing it: their copies there are read fresh (one batched
   read per system) and compared again;
3. what still disagrees becomes a finding, upserted on its key in the same transaction as the
   cursor advance past the pool, so a pass resumed half way neither loses nor doubles one; what
   no longer disagrees closes. Findings whose kind heals on its own are healed through the outbox.
   Deletions a change feed reports and missing customers (deal lanes) are judged per pool too.

A full pass remembers each page's records (id and matching key) as it reads them; the end of a
full lane looks for what only the whole table shows (sync_core/reconcile_tables.py): links whose
record is gone (orphans, re-linked when their matching key finds the record again) and two records
sharing one entity or one matching key (duplicates). The last lane to finish closes the run;
findings the full pass did not see again close themselves.

A lane counts the API calls its own thread made (`Connector.api_calls_in_thread`): the worker's
other lane threads share the connectors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core import intake, reconcile_tables
from sync_core.domain import findings, mapping, quota
from sync_core.domain.changes import ScanPage, SourceRecord
from sync_core.domain.errors import PermanentError, RetryableError, SyncError
from sync_core.domain.findings import Kind, Mismatch
from sync_core.domain.ownership import SystemState
from sync_core.domain.records import WON
from sync_core.persistence import lanes, ledger
from sync_core.persistence.database import db_now, snapshot, transaction
from sync_core.persistence.tables import Finding, ReconcileRun
from sync_core.ports import Connector
from sync_core.services import closed_won, reconciliation, trace
from sync_core.services.policy import ObjectPolicy, load
from sync_core.services.reconciliation import RUNNING, Position, Settings, settings_in

log = logging.getLogger(__name__)

Fence = Callable[[Session], datetime]

# Kinds judged record by record: a candidate read fresh and found clean closes its open ones.
_PER_RECORD = (Kind.FIELD_DRIFT, Kind.STATUS_DRIFT, Kind.WON_WITHOUT_ORDER, Kind.ORDER_WITHOUT_WON)
_CONFIRMED = "confirmed"
_BUDGET_WAIT = timedelta(seconds=30)
_FAILED_WAIT = timedelta(seconds=5)  # a lane run that failed without a hint runs again after this


@dataclass
class PageCounts:
    records: int = 0
    opened: int = 0
    closed: int = 0
    heals: int = 0


@dataclass
class _Page:
    """Pages of records as the pass reads them, with what judging them needs beyond the candidates: how many,
    when the latest of them changed, which were deleted, and on deal lanes the linked deals (missing customers).
    The seen table has each record's id and matching key (reconcile_tables.remember_seen)."""

    count: int = 0
    newest: datetime | None = None
    deleted: list[str] = field(default_factory=list)
    deals: list[reconcile_tables.Deal] = field(default_factory=list)

    def add(self, other: _Page) -> None:
        self.count += other.count
        if other.newest is not None and (self.newest is None or other.newest > self.newest):
            self.newest = other.newest
        self.deleted.extend(other.deleted)
        self.deals.extend(other.deals)


@dataclass(frozen=True)
class _Lens:
    """What comparing a lane's records needs of its policy, worked out once per lane run."""

    policy: ObjectPolicy
    mapped: dict[str, frozenset[str]]
    synced: findings.Synced
    sales: closed_won.Roles | None

    @classmethod
    def of(cls, policy: ObjectPolicy) -> _Lens:
        mapped = {s: policy.fields_of(s) for s in policy.systems}
        sales = closed_won.roles(policy) if policy.object_type == "deal" else None
        return cls(policy, mapped, findings.synced_fields(policy.rules, mapped), sales)


@dataclass
class _Candidate:
    canonical_id: str
    records: dict[str, SourceRecord] = field(default_factory=dict)  # system -> record read fresh


def run_lane(
    engine: Engine,
    claim: lanes.Claim,
    connectors: Mapping[str, Connector],
    fence: Fence,
    *,
    pages: int,
    page_size: int,
) -> tuple[bool, int, int]:
    """Run up to `pages` x `page_size` records of this lane's share of the pass: (more to do, records read, API calls).

    Pages are compared as they come and judged together: their candidates are read fresh in the other
    systems once the pool (nearly) fills those systems' batches (or holds _POOLED records), so a pass over a large
    table with a little drift spends a read per batch of candidates, not one per page. The cursor moves,
    with the findings, only when a pool is judged: a worker that dies reads the pool's pages again.
    """
    position = Position.parse(claim.cursor)
    connector = connectors[claim.system]
    ahead = _ReadAhead(connector, claim.object_type, page_size)
    calls_at_start = _calls(connectors)
    try:
        more, read = _run(engine, claim, connectors, fence, position, ahead, pages * page_size)
    except SyncError as failure:
        # The pass waits for this lane: it is due again (after the wait a rate limit asks for), not at the
        # next pass only. The worker records the failure and holds a throttled system meanwhile.
        wait = failure.retry_after if isinstance(failure, RetryableError) and failure.retry_after else None
        with transaction(engine) as session:
            now = db_now(session)
            again = now + (timedelta(seconds=wait) if wait is not None else _FAILED_WAIT)
            lanes.mark_due(session, claim.system, claim.object_type, lanes.RECONCILE, again)
        raise
    finally:
        ahead.close()  # a page read ahead and not taken was read all the same: its calls count
    return more, read, _calls(connectors) + ahead.calls - calls_at_start


def _run(
    engine: Engine,
    claim: lanes.Claim,
    connectors: Mapping[str, Connector],
    fence: Fence,
    position: Position,
    ahead: _ReadAhead,
    limit: int,
) -> tuple[bool, int]:
    """The lane run's pages, pooled and judged: (more to do, records read)."""
    connector = connectors[claim.system]

    def spent() -> int:
        return _calls(connectors) + ahead.calls

    read = 0
    lens: _Lens | None = None
    pool = _Pool(position.after, position.since, spent())
    most = 0  # the most candidates one page has brought in this run: room kept for the next page
    while read + pool.page.count < limit:  # records, whatever the vendor's page size
        if position.run is None or position.done:
            break
        if not quota.leaves_room(connector.usage()):
            read += _judge_pool(engine, claim, connectors, fence, position, pool, spent)
            with transaction(engine) as session:
                now = fence(session)
                lanes.mark_due(session, claim.system, claim.object_type, lanes.RECONCILE, now + _BUDGET_WAIT)
            return False, read  # live sync keeps what is left
        if position.mode == "full":
            scanned = ahead.scan(pool.after)
            records, pool.finished, pool.after = scanned.records, scanned.after is None, scanned.after
            if not pool.finished and read + pool.page.count + len(records) < limit and quota.leaves_room(
                connector.usage()
            ):
                ahead.start(pool.after)  # the next page, while this one is compared
        else:
            changes = connector.read_changes(claim.object_type, pool.since, ahead.page_size)
            records, pool.finished, pool.since = changes.records, not changes.has_more, changes.cursor
        if lens is None:
            with snapshot(engine) as session:
                lens = _Lens.of(load(session, claim.object_type))
        page, keys, candidates = _candidates(engine, claim, lens, position.run, records)
        if position.mode == "full" and keys:
            # Remembered as read, whatever becomes of the pool: a worker that dies reads these pages again,
            # and seeing a record twice changes nothing.
            with transaction(engine) as session:
                fence(session)
                reconcile_tables.remember_seen(session, position.run, claim, keys)
        pool.add(lens, page, candidates)
        most = max(most, len(candidates))
        if pool.finished or pool.full(connectors, claim.system, most):
            read += _judge_pool(engine, claim, connectors, fence, position, pool, spent)
            pool = _Pool(position.after, position.since, spent())
    read += _judge_pool(engine, claim, connectors, fence, position, pool, spent)
    return position.run is not None and not position.done, read


class _ReadAhead:
    """A full scan's pages, each next one read in a helper thread while the lane compares the one before: the
    system and the network answer while the lane works. The helper's calls are the lane's (`calls`)."""

    def __init__(self, connector: Connector, object_type: str, page_size: int) -> None:
        self._connector = connector
        self._object_type = object_type
        self.page_size = page_size
        self.calls = 0  # the helper's calls (only the helper adds to it)
        self._helper: ThreadPoolExecutor | None = None
        self._next: tuple[str | None, Future[ScanPage]] | None = None

    def start(self, after: str | None) -> None:
        """Read the page after `after`, in the helper."""
        self._drop()
        if self._helper is None:
            self._helper = ThreadPoolExecutor(1, thread_name_prefix=f"reconcile-{self._connector.system}")
        self._next = (after, self._helper.submit(self._counted, after))

    def scan(self, after: str | None) -> ScanPage:
        """The page after `after`: the one read ahead if it is that one, else read now."""
        if self._next is not None and self._next[0] == after:
            future, self._next = self._next[1], None
            return future.result()
        self._drop()
        return self._connector.scan(self._object_type, after, self.page_size)

    def close(self) -> None:
        self._drop()
        if self._helper is not None:
            self._helper.shutdown(wait=True)

    def _counted(self, after: str | None) -> ScanPage:
        before = self._connector.api_calls_in_thread
        try:
            return self._connector.scan(self._object_type, after, self.page_size)
        finally:
            self.calls += self._connector.api_calls_in_thread - before

    def _drop(self) -> None:
        """Forget a page read ahead and not taken (its calls were made all the same)."""
        if self._next is None:
            return
        future, self._next = self._next[1], None
        if future.exception() is not None:  # waits for it; the page is not wanted, nor its failure
            log.debug("a page read ahead and not wanted failed: %s", future.exception())


# Records judged together at most: the pool holds little per record (its candidates are bounded by the
# other systems' batches), so this bounds what a worker that dies reads again, and a lane run bounds it too.
_POOLED = 50_000


@dataclass
class _Pool:
    """Pages read and compared, not yet judged: where the scan (or change feed) got to after them."""

    after: str | None
    since: str | None
    calls_before: int  # the API calls spent before its first page
    finished: bool = False
    lens: _Lens | None = None
    page: _Page = field(default_factory=_Page)  # the pages read, as one
    candidates: dict[str, _Candidate] = field(default_factory=dict)

    def add(self, lens: _Lens, page: _Page, candidates: Mapping[str, _Candidate]) -> None:
        self.lens = lens
        self.page.add(page)
        self.candidates.update(candidates)

    def full(self, connectors: Mapping[str, Connector], system: str, headroom: int) -> bool:
        """Whether to judge the pool now: another page could take its candidates past the other systems' smallest
        batch (`headroom`: what a page brings at most), and one more batched read per system for a few of them."""
        others = [c.max_batch_size for s, c in connectors.items() if s != system]
        batch = max(1, min(others, default=1))
        return self.page.count >= _POOLED or len(self.candidates) >= batch or len(self.candidates) + headroom > batch


def _judge_pool(
    engine: Engine,
    claim: lanes.Claim,
    connectors: Mapping[str, Connector],
    fence: Fence,
    position: Position,
    pool: _Pool,
    spent: Callable[[], int],
) -> int:
    """Read the pool's candidates fresh, record its findings and move the cursor past it; records judged."""
    if pool.lens is None:
        return 0
    policy = pool.lens.policy
    _read_fresh(engine, claim, connectors, policy, pool.candidates)
    finished = pool.finished
    with transaction(engine) as session:
        now = fence(session)
        # Locked: a pass starting now (which supersedes this one and resets the lanes' cursors) waits for
        # this pool to commit, so its cursor is never overwritten by this one's.
        run = session.get(ReconcileRun, position.run, with_for_update=True)
        if run is None or run.status != RUNNING:
            position.done = True  # the pass was superseded: the lane's cursor is the new pass's now
            return 0
        config = settings_in(session)
        counts, settled = _judge(session, claim, policy, run, pool.page, pool.candidates, config, now)
        since = pool.since
        if position.mode != "full" and not settled:
            finished, since = True, position.since  # recent changes wait for the next pass, unread
        position.after, position.since = pool.after, since
        if finished:
            counts.opened += _finish_lane(session, claim, connectors, run, config, now)
            position.done = True
        lanes.advance_cursor(session, claim, position.dump())
        session.execute(
            update(ReconcileRun).where(col(ReconcileRun.id) == run.id).values(
                records_read=col(ReconcileRun.records_read) + counts.records,
                findings_opened=col(ReconcileRun.findings_opened) + counts.opened,
                findings_closed=col(ReconcileRun.findings_closed) + counts.closed,
                heals=col(ReconcileRun.heals) + counts.heals,
                api_calls=col(ReconcileRun.api_calls) + spent() - pool.calls_before,
            )
        )
        if finished:
            _lane_done(session, run.id, now)
    return pool.page.count


def _calls(connectors: Mapping[str, Connector]) -> int:
    """The API calls this lane's thread has made: other lane threads share the connectors and move their totals."""
    return sum(c.api_calls_in_thread for c in connectors.values())


# -- 1. the cheap comparison with the ledger ------------------------------------------------------


def _candidates(
    engine: Engine, claim: lanes.Claim, lens: _Lens, run_id: int | None, records: Sequence[SourceRecord]
) -> tuple[_Page, dict[str, str | None], dict[str, _Candidate]]:
    """The page read; its live records' matching keys (external id -> key); and canonical id -> candidate for
    its records that disagree with the ledger or have open findings an earlier pass saw."""
    system, object_type, policy = claim.system, claim.object_type, lens.policy
    with snapshot(engine) as session:
        canonical, _failures = _canonical(session, system, policy, records)
        links = ledger.links_by_external(session, system, object_type, list(canonical))
        cids = set(links.values())
        # The shadows' values first, their change times only for the few records that need planning.
        held_by = ledger.shadow_values(session, cids)
        open_ids = _open_for(session, object_type, cids, run_id)
        source_mapping = policy.mappings.get(system)
        closer: list[tuple[SourceRecord, str]] = []
        for record in records:
            cid = links.get(record.external_id)
            if cid is None or record.external_id not in canonical:
                continue
            values = canonical[record.external_id][0]
            own = held_by.get((cid, system))
            if source_mapping is not None and own is not None:
                values = mapping.as_written(source_mapping, values, own[1])
            held = {s: values if s == system else held_by[(cid, s)][0] for s in policy.systems
                    if s == system or (cid, s) in held_by}  # fmt: skip
            if cid not in open_ids and findings.agree(lens.synced, held) and (
                lens.sales is None or not _deal_suspicious(held, lens.sales)
            ):
                continue  # every system holds what the rules want: the common case, no planning needed
            closer.append((record, cid))
        known = ledger.shadows(session, {cid for _, cid in closer})
        candidates: dict[str, _Candidate] = {}
        for record, cid in closer:
            values, times = canonical[record.external_id]
            fresh = intake.observed_state(known.get((cid, system)), source_mapping, record, values, times)
            states = {s: fresh if s == system else ledger.state_of(known.get((cid, s))) for s in policy.systems}
            present = {s: st for s, st in states.items() if st is not None}
            suspicious = bool(findings.drift(object_type, cid, policy.rules, present, lens.mapped, {}))
            if lens.sales is not None:
                suspicious = suspicious or _deal_suspicious({s: st.values for s, st in present.items()}, lens.sales)
            if suspicious or cid in open_ids:
                candidates[cid] = _Candidate(cid, {system: record})
    page = _Page(count=len(records), newest=max((r.modified_at for r in records), default=None))
    page.deleted = [r.external_id for r in records if r.deleted]
    keys = {r.external_id: reconcile_tables.match_key(object_type, canonical[r.external_id][0]
                                                       if r.external_id in canonical else None)
            for r in records if not r.deleted}  # fmt: skip
    if object_type == "deal":
        page.deals = [reconcile_tables.Deal(r.external_id, *canonical[r.external_id], r.modified_at)
                      for r in records if r.external_id in canonical and r.external_id in links]  # fmt: skip
    return page, keys, candidates


def _deal_suspicious(values: Mapping[str, Mapping[str, Any]], roles: closed_won.Roles) -> bool:
    """Won in sales without a confirmed order in the ERP, or the other way round."""
    deal, order = values.get(roles.sales), values.get(roles.erp)
    won = deal is not None and deal.get("stage") == WON
    placed = order is not None and order.get("order_status") == _CONFIRMED
    return won != placed


def _canonical(
    session: Session, system: str, policy: ObjectPolicy, records: Sequence[SourceRecord]
) -> tuple[dict[str, tuple[dict[str, Any], dict[str, datetime]]], dict[str, PermanentError]]:
    """The records' canonical values (references translated); the ones that do not map, apart."""
    canonical: dict[str, tuple[dict[str, Any], dict[str, datetime]]] = {}
    failures: dict[str, PermanentError] = {}
    for record in records:
        if record.deleted:
            continue
        try:
            canonical[record.external_id] = intake.to_canonical(
                record, policy.mappings.get(system), system, policy.object_type
            )
        except PermanentError as failure:
            failures[record.external_id] = failure
    intake.resolve_references(session, system, policy.object_type, canonical)
    return canonical, failures


def _open_for(session: Session, object_type: str, cids: set[str], run_id: int | None) -> set[str]:
    """Records with open per-record findings that this pass has not seen yet: each is read fresh again, so it
    closes once put right. One another lane of this pass found has just been judged on fresh reads of every
    system; it is judged again only if its record here disagrees with the ledger."""
    if not cids:
        return set()
    return set(session.scalars(
        select(col(Finding.canonical_id)).where(
            col(Finding.status) == "open", col(Finding.object_type) == object_type,
            col(Finding.canonical_id).in_(cids), col(Finding.kind).in_([k.value for k in _PER_RECORD]),
            or_(col(Finding.run_id).is_(None), col(Finding.run_id) != run_id),
        )
    ))  # fmt: skip


# -- 2. the candidates' other copies, read fresh ----------------------------------------------------


def _read_fresh(
    engine: Engine,
    claim: lanes.Claim,
    connectors: Mapping[str, Connector],
    policy: ObjectPolicy,
    candidates: Mapping[str, _Candidate],
) -> None:
    """Read each candidate's copy in every other system that holds it: one batched read per system."""
    if not candidates:
        return
    with snapshot(engine) as session:
        wanted = {
            system: ledger.links_by_canonical(session, system, list(candidates))
            for system in policy.systems if system != claim.system
        }  # fmt: skip
    for system, links in wanted.items():
        connector = connectors.get(system)
        if connector is None or not links:
            continue
        by_external = {external: cid for cid, external in links.items()}
        externals = list(by_external)
        for start in range(0, len(externals), max(1, connector.max_batch_size)):
            try:
                found = connector.read(claim.object_type, externals[start:start + connector.max_batch_size])
            except SyncError as failure:
                log.warning("reconciliation could not read %s %s: %s", system, claim.object_type, failure)
                for external in externals[start:start + connector.max_batch_size]:
                    candidates[by_external[external]].records.pop(system, None)
                continue
            for record in found:
                cid = by_external.get(record.external_id)
                if cid is not None:
                    candidates[cid].records[system] = record


# -- 3. judging, recording, healing ---------------------------------------------------------------


def _judge(
    session: Session,
    claim: lanes.Claim,
    policy: ObjectPolicy,
    run: ReconcileRun,
    page: _Page,
    candidates: Mapping[str, _Candidate],
    config: Settings,
    now: datetime,
) -> tuple[PageCounts, bool]:
    """Record the page's findings; (counts, whether every record was old enough to judge)."""
    counts = PageCounts(records=page.count)
    object_type = policy.object_type
    settled = page.newest is None or now - page.newest >= config.grace
    found_now = reconcile_tables.deleted(session, claim, page.deleted) + reconcile_tables.missing_customers(
        session, claim, policy, page.deals, config, now
    )
    if found_now:
        counts.opened += _record(session, run, found_now, now)[0]
    if not candidates:
        return counts, settled
    cids = list(candidates)
    known = ledger.shadows(session, cids)
    links = {s: ledger.links_by_canonical(session, s, cids) for s in policy.systems}
    busy = ledger.busy(session, cids)
    found: list[Mismatch] = []
    judged: list[str] = []
    for cid, candidate in candidates.items():
        if cid in busy or any(now - r.modified_at < config.grace for r in candidate.records.values()):
            continue  # a change still on its way: live sync has it
        states: dict[str, SystemState] = {}
        for system, record in candidate.records.items():
            canonical, _ = _canonical(session, system, policy, [record])
            if record.external_id in canonical:
                values, times = canonical[record.external_id]
                states[system] = intake.observed_state(
                    known.get((cid, system)), policy.mappings.get(system), record, values, times
                )
        records_of = {s: links[s][cid] for s in policy.systems if cid in links[s]}
        mapped = {s: policy.fields_of(s) for s in states}
        judged.append(cid)
        found.extend(findings.drift(object_type, cid, policy.rules, states, mapped, records_of))
        found.extend(_deal_findings(policy, cid, states, records_of, config, now))
    opened, healable = _record(session, run, found, now)
    counts.opened += opened
    counts.closed += _close_unseen(session, object_type, judged, {m.key for m in found}, now)
    counts.heals += _heal(session, policy, healable, candidates, config, now)
    return counts, settled


def _deal_findings(
    policy: ObjectPolicy,
    cid: str,
    states: Mapping[str, SystemState],
    records_of: Mapping[str, str],
    config: Settings,
    now: datetime,
) -> list[Mismatch]:
    found = closed_won.roles(policy) if policy.object_type == "deal" else None
    if found is None:
        return []
    deal, order = states.get(found.sales), states.get(found.erp)
    placed = order is not None and order.values.get("order_status") == _CONFIRMED
    result: list[Mismatch] = []
    if deal is not None:
        missing = findings.won_without_order(cid, found.sales, deal, placed, now, config.order_sla, records_of)
        if missing is not None:
            result.append(missing)
    if placed and order is not None and (deal is None or deal.values.get("stage") != WON):
        money, currency = findings.at_stake("deal", order.values)
        stage = deal.values.get("stage") if deal is not None else None
        where = f"{stage or 'without a stage'} in {found.sales}" if deal is not None else f"gone from {found.sales}"
        result.append(Mismatch(
            kind=Kind.ORDER_WITHOUT_WON, object_type="deal", canonical_id=cid,
            summary=f"order {order.values.get('order_number') or cid} is confirmed in {found.erp}, the deal is {where}",
            systems=tuple(sorted(states)), records=dict(records_of),
            values={found.erp: _CONFIRMED, found.sales: stage, "expected": WON}, money=money, currency=currency,
        ))  # fmt: skip
    return result


def _record(session: Session, run: ReconcileRun, found: Sequence[Mismatch], now: datetime) -> tuple[int, list[Finding]]:
    """Upsert the mismatches on their keys; (how many are new, the open ones that may heal)."""
    if not found:
        return 0, []
    unique = {m.key: m for m in found}
    existing = {
        f.key: f for f in session.scalars(select(Finding).where(col(Finding.key).in_(list(unique))))
    }  # fmt: skip
    stories = trace.correlations(session, {m.canonical_id for m in unique.values()})
    opened = 0
    rows: list[Finding] = []
    for key, mismatch in unique.items():
        row = existing.get(key)
        facts = {
            "systems": list(mismatch.systems), "records": dict(mismatch.records), "values": dict(mismatch.values),
            "summary": mismatch.summary, "money": float(mismatch.money), "currency": mismatch.currency,
            "last_seen_at": now, "run_id": run.id,
        }  # fmt: skip
        if row is None or row.status in ("healed", "resolved"):
            opened += 1
            if row is None:
                row = Finding(key=key, kind=mismatch.kind.value, object_type=mismatch.object_type,
                              canonical_id=mismatch.canonical_id, field=mismatch.field, first_seen_at=now,
                              correlation_id=stories.get(mismatch.canonical_id, mismatch.canonical_id))
                session.add(row)
            row.status, row.closed_at, row.first_seen_at, row.heal_op_id, row.healed_by = "open", None, now, None, None
        for name, value in facts.items():
            setattr(row, name, value)
        rows.append(row)
    session.flush()
    return opened, [r for r in rows if r.status == "open"]


def _close_unseen(session: Session, object_type: str, judged: Sequence[str], seen: set[str], now: datetime) -> int:
    """Close the open per-record findings of entities read fresh just now that no longer show them."""
    if not judged:
        return 0
    rows = session.scalars(
        select(Finding).where(
            col(Finding.status) == "open", col(Finding.object_type) == object_type,
            col(Finding.canonical_id).in_(list(judged)), col(Finding.kind).in_([k.value for k in _PER_RECORD]),
        )
    ).all()  # fmt: skip
    closed = 0
    for row in rows:
        if row.key not in seen:
            reconciliation.close(row, now)
            closed += 1
    return closed


def _heal(
    session: Session,
    policy: ObjectPolicy,
    rows: Sequence[Finding],
    candidates: Mapping[str, _Candidate],
    config: Settings,
    now: datetime,
) -> int:
    """Heal the open findings whose kind heals on its own and that no heal is on its way for."""
    chosen = [r for r in rows if config.heals(r.kind) and not reconciliation.heal_on_its_way(session, r)]
    fresh = {cid: c.records for cid, c in candidates.items()}
    return reconciliation.heal(session, policy, chosen, reconciliation.HEALER, now, fresh)


# -- the end of a lane, the end of a pass ---------------------------------------------------------


def _finish_lane(
    session: Session,
    claim: lanes.Claim,
    connectors: Mapping[str, Connector],
    run: ReconcileRun,
    config: Settings,
    now: datetime,
) -> int:
    """A full lane read its whole table: record the orphans and duplicates only that shows."""
    if run.mode != "full":
        return 0
    found = reconcile_tables.whole_table(session, claim, connectors[claim.system], run)
    opened, rows = _record(session, run, found, now)
    if config.heals(Kind.ORPHAN):
        reconcile_tables.relink(session, claim, run, [r for r in rows if r.kind == Kind.ORPHAN], now)
    return opened


def _lane_done(session: Session, run_id: int | None, now: datetime) -> None:
    """Count this lane's share done; the last one closes the pass."""
    session.execute(
        update(ReconcileRun).where(col(ReconcileRun.id) == run_id)
        .values(lanes_done=col(ReconcileRun.lanes_done) + 1)
    )
    run = session.get(ReconcileRun, run_id)
    if run is None:
        return
    session.refresh(run)
    if run.lanes_done < run.lanes_total:
        return
    closed = 0
    if run.mode == "full":
        stale = session.scalars(
            select(Finding).where(col(Finding.status) == "open", col(Finding.last_seen_at) < run.started_at)
        ).all()
        for row in stale:
            reconciliation.close(row, now)
            closed += 1
        reconcile_tables.forget(session, run_id)
    run.status, run.finished_at = "done", now
    run.findings_closed += closed
    session.flush()
    run.open_findings = int(session.scalar(select(func.count()).select_from(Finding).where(
        col(Finding.status) == "open")) or 0)  # fmt: skip


