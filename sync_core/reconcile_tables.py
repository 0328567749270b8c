"""Reconciliation's whole-table checks: what no single record shows, only a system's whole table.

A full pass remembers every record its scan saw (`remember_seen`: id and matching key, per run), so
that once a lane has read its whole table it can tell:

- orphans: links whose record the scan did not see and a read by id confirms gone (a change feed that
  reports deletions gives them at once, `deleted`); re-linked (`relink`) when their matching key
  finds exactly one unlinked record again;
- duplicates: two records of one system linked to one entity, or sharing one matching key;
- missing customers (deal lanes, per page): a won deal's account with no ERP customer, an ERP
  customer with orders and no sales account.

The functions return mismatches; sync_core/reconcile.py records them with the rest of the pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core import intake
from sync_core.domain import findings, identity
from sync_core.domain.findings import Kind, Mismatch
from sync_core.domain.records import WON
from sync_core.persistence import lanes, ledger, statements
from sync_core.persistence.tables import EntityLink, Finding, ReconcileRun, ReconcileSeen
from sync_core.ports import Connector
from sync_core.services import closed_won, reconciliation
from sync_core.services.policy import ObjectPolicy
from sync_core.services.reconciliation import Settings


@dataclass(frozen=True)
class Deal:
    """A linked deal read on a deal lane, as the missing-customer check needs it."""

    external_id: str
    values: dict[str, Any]
    times: dict[str, datetime]
    modified_at: datetime


def match_key(object_type: str, values: Mapping[str, Any] | None) -> str | None:
    """The record's matching key as the seen table keeps it (None without one)."""
    key = identity.match_key(object_type, values) if values is not None else None
    return key[:255] if key else None


def remember_seen(session: Session, run_id: int, claim: lanes.Claim, keys: Mapping[str, str | None]) -> None:
    """Record that the full pass `run_id` saw these live records (external id -> matching key); seeing one
    again (a lane resumed after its worker died) changes nothing."""
    rows = [
        {"run_id": run_id, "system": claim.system, "object_type": claim.object_type, "external_id": external,
         "match_key": key}
        for external, key in keys.items()
    ]  # fmt: skip
    statements.insert_ignore(session, ReconcileSeen.__table__, rows, ["run_id", "system", "object_type", "external_id"])  # type: ignore[attr-defined]


def whole_table(session: Session, claim: lanes.Claim, connector: Connector, run: ReconcileRun) -> list[Mismatch]:
    """What a full lane that read its whole table finds: orphans, and duplicates by link and by matching key."""
    return _orphans(session, claim, connector, run) + _duplicates(session, claim) + _shared_keys(session, claim, run)


def relink(session: Session, claim: lanes.Claim, run: ReconcileRun, rows: Sequence[Finding], now: datetime) -> None:
    """Heal orphans whose matching key finds the record again (deleted and entered anew, merged): the link
    moves to it, and it is read in full so the sync carries on with it."""
    if not rows:
        return
    known = ledger.shadows(session, [r.canonical_id for r in rows], claim.system)
    for row in rows:
        shadow = known.get((row.canonical_id, claim.system))
        key = identity.match_key(claim.object_type, shadow.seen) if shadow is not None else None
        if not key:
            continue
        same = list(session.scalars(select(col(ReconcileSeen.external_id)).where(
            col(ReconcileSeen.run_id) == run.id, col(ReconcileSeen.system) == claim.system,
            col(ReconcileSeen.object_type) == claim.object_type, col(ReconcileSeen.match_key) == key[:255],
        )))  # fmt: skip
        taken = ledger.links_by_external(session, claim.system, claim.object_type, same)
        free = [e for e in same if e not in taken]
        if len(free) != 1:
            continue  # none, or several: a person picks
        old = str(row.records.get(claim.system))
        ledger.relink(session, claim.system, claim.object_type, {old: free[0]})
        intake.reread(session, claim.system, claim.object_type, [free[0]], f"it took over the link of {old}", now)
        row.status, row.closed_at, row.healed_by = "healed", now, reconciliation.HEALER
        row.summary += f"; linked to {free[0]}, the record with the same matching key ({key})"
        ledger.add_spans(session, [{
            "correlation_id": row.correlation_id or row.canonical_id, "name": "reconcile.heal",
            "system": claim.system, "started_at": now, "ended_at": now, "status": "ok",
            "attributes": {"record": row.canonical_id, "finding": row.id, "kind": row.kind, "from": old,
                           "to": free[0], "by": reconciliation.HEALER},
        }])  # fmt: skip


def deleted(session: Session, claim: lanes.Claim, external_ids: Sequence[str]) -> list[Mismatch]:
    """Linked records a change feed reports deleted (Salesforce's does): orphans, without waiting for a full pass."""
    if not external_ids:
        return []
    links = ledger.links_by_external(session, claim.system, claim.object_type, external_ids)
    return [_orphan(claim, cid, external) for external, cid in sorted(links.items())]


def missing_customers(
    session: Session, claim: lanes.Claim, policy: ObjectPolicy, deals: Sequence[Deal], config: Settings, now: datetime
) -> list[Mismatch]:
    """A won deal's account the ERP has no customer for; an ERP customer with orders no sales account has."""
    roles = closed_won.roles(policy) if policy.object_type == "deal" else None
    if roles is None or claim.system not in (roles.sales, roles.erp):
        return []
    other = roles.erp if claim.system == roles.sales else roles.sales
    chosen: list[Deal] = []
    for deal in deals:
        if not deal.values.get("company_id"):
            continue
        if claim.system == roles.sales:
            # Won no later than the record last changed: the flow has had the order SLA since then at least.
            won_at = deal.times.get("stage") or deal.modified_at
            if deal.values.get("stage") != WON or now - won_at < config.order_sla:
                continue
        chosen.append(deal)
    companies = {str(d.values["company_id"]) for d in chosen}
    held = ledger.links_by_canonical(session, other, companies)
    shadows = ledger.shadows(session, companies - set(held))
    names = {cid: shadow.seen.get("name") for (cid, _), shadow in shadows.items() if shadow.seen.get("name")}
    result = []
    for deal in chosen:
        company = str(deal.values["company_id"])
        if company in held:
            continue
        money, currency = findings.at_stake("deal", deal.values)
        name, account = deal.values.get("name") or deal.external_id, names.get(company) or f"company {company}"
        summary = (
            f"{account} has a won deal in {claim.system} ({name}) and no customer in {other}"
            if claim.system == roles.sales else
            f"{account} is an {claim.system} customer with orders ({name}) and no account in {other}"
        )  # fmt: skip
        result.append(Mismatch(
            kind=Kind.MISSING_CUSTOMER, object_type="company", canonical_id=company, target=other, summary=summary,
            systems=(claim.system,), records={claim.system: deal.external_id}, values={other: None},
            money=money, currency=currency,
        ))  # fmt: skip
    return result


def forget(session: Session, run_id: int | None) -> None:
    """The pass is over: what its scans saw is no longer needed."""
    session.execute(ReconcileSeen.__table__.delete().where(ReconcileSeen.__table__.c.run_id == run_id))  # type: ignore[attr-defined]


# -- orphans and duplicates -------------------------------------------------------------------------------------------


def _orphans(session: Session, claim: lanes.Claim, connector: Connector, run: ReconcileRun) -> list[Mismatch]:
    """Links of this lane the scan did not see, and a read by id confirms are gone."""
    seen = select(col(ReconcileSeen.external_id)).where(
        col(ReconcileSeen.run_id) == run.id, col(ReconcileSeen.system) == claim.system,
        col(ReconcileSeen.object_type) == claim.object_type,
    )  # fmt: skip
    unseen = session.execute(
        select(col(EntityLink.canonical_id), col(EntityLink.external_id)).where(
            col(EntityLink.system) == claim.system, col(EntityLink.object_type) == claim.object_type,
            col(EntityLink.created_at) < run.started_at, col(EntityLink.external_id).not_in(seen),
        )
    ).all()  # fmt: skip
    if not unseen:
        return []
    externals = [external for _, external in unseen]
    alive: set[str] = set()
    size = max(1, connector.max_batch_size)
    for start in range(0, len(externals), size):
        found = connector.read(claim.object_type, externals[start : start + size])
        alive |= {r.external_id for r in found if not r.deleted}
    return [_orphan(claim, cid, external) for cid, external in unseen if external not in alive]


def _orphan(claim: lanes.Claim, cid: str, external: str) -> Mismatch:
    return Mismatch(
        kind=Kind.ORPHAN, object_type=claim.object_type, canonical_id=cid, target=claim.system,
        summary=f"{claim.object_type} {external} is linked but no longer in {claim.system}",
        systems=(claim.system,), records={claim.system: external}, values={claim.system: None},
    )


def _duplicates(session: Session, claim: lanes.Claim) -> list[Mismatch]:
    """Two records of this system linked to one entity."""
    doubled = session.execute(
        select(col(EntityLink.canonical_id), func.count()).where(
            col(EntityLink.system) == claim.system, col(EntityLink.object_type) == claim.object_type,
        ).group_by(col(EntityLink.canonical_id)).having(func.count() > 1)
    ).all()  # fmt: skip
    result = []
    for cid, _count in doubled:
        externals = sorted(session.scalars(
            select(col(EntityLink.external_id)).where(
                col(EntityLink.system) == claim.system, col(EntityLink.object_type) == claim.object_type,
                col(EntityLink.canonical_id) == cid,
            )
        ))  # fmt: skip
        result.append(Mismatch(
            kind=Kind.DUPLICATE, object_type=claim.object_type, canonical_id=cid, target=claim.system,
            summary=f"{len(externals)} {claim.object_type} records in {claim.system} are one entity: "
                    + ", ".join(externals),
            systems=(claim.system,), records={claim.system: ", ".join(externals)}, values={},
        ))  # fmt: skip
    return result


def _shared_keys(session: Session, claim: lanes.Claim, run: ReconcileRun) -> list[Mismatch]:
    """Records of this system that share a matching key (a contact's email, a company's domain)."""
    seen = ReconcileSeen.__table__.c  # type: ignore[attr-defined]
    shared = session.execute(
        select(seen.match_key, func.count()).where(
            seen.run_id == run.id, seen.system == claim.system, seen.object_type == claim.object_type,
            seen.match_key.is_not(None),
        ).group_by(seen.match_key).having(func.count() > 1)
    ).all()  # fmt: skip
    if not shared:
        return []
    keys = [str(k) for k, _ in shared]
    owners = ledger.match_key_owners(session, claim.object_type, keys)
    result = []
    for key in keys:
        rows = session.execute(select(seen.external_id).where(
            seen.run_id == run.id, seen.system == claim.system, seen.object_type == claim.object_type,
            seen.match_key == key,
        )).all()  # fmt: skip
        externals = sorted(str(row[0]) for row in rows)
        links = ledger.links_by_external(session, claim.system, claim.object_type, externals)
        cid = owners.get(key) or next(iter(sorted(links.values())), None)
        if cid is None:
            continue
        result.append(Mismatch(
            kind=Kind.DUPLICATE, object_type=claim.object_type, canonical_id=cid, target=claim.system, field=key[:80],
            summary=f"{len(externals)} {claim.object_type} records in {claim.system} share {key}: "
                    + ", ".join(externals),
            systems=(claim.system,), records={claim.system: ", ".join(externals)}, values={"key": key},
        ))  # fmt: skip
    return result
