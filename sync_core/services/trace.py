"""A deal's story across the three systems: correlation ids, milestones, measured hops, search.

Every record of one deal's chain (the HubSpot contact that qualified, its Salesforce lead,
the account and opportunity it became, the ERP order) shares one correlation id: the first
record's canonical id. The flows write a milestone span when they see a step happen
(`lead.qualified`, `deal.won`, `order.confirmed`, ...), and a milestone that ends a hop records
the hop's duration, so the lead-to-cash metrics are sums over small rows, not scans of spans.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core.persistence import statements
from sync_core.persistence.database import snapshot
from sync_core.persistence.tables import Correlation, EntityLink, Hop, OutboundOp, TraceKey, TraceSpan

# The steps of lead-to-cash, in the order they happen.
MILESTONES = (
    "lead.qualified", "lead.created", "lead.first_activity", "lead.converted", "deal.won", "order.placed",
    "order.confirmed", "order.delivered", "invoice.posted", "payment.received",
)  # fmt: skip
# hop -> (the milestone it starts at, the milestone it ends at)
HOPS: dict[str, tuple[str, str]] = {
    "lead_handoff": ("lead.qualified", "lead.created"),
    "lead_response": ("lead.created", "lead.first_activity"),
    "order_creation": ("deal.won", "order.confirmed"),
    "time_to_invoice": ("order.confirmed", "invoice.posted"),
    "time_to_cash": ("invoice.posted", "payment.received"),
}
_ENDING = {end: (hop, start) for hop, (start, end) in HOPS.items()}
_CORRELATIONS = Correlation.__table__  # type: ignore[attr-defined]
_KEYS = TraceKey.__table__  # type: ignore[attr-defined]
_HOPS = Hop.__table__  # type: ignore[attr-defined]
_CORRELATIONS_OF = select(_CORRELATIONS.c.canonical_id, _CORRELATIONS.c.correlation_id).where(
    statements.listed(_CORRELATIONS.c.canonical_id, "ids")
)


# -- writing (inside the sync loop's transactions) -------------------------------------------------


def correlations(session: Session, ids: Collection[str]) -> dict[str, str]:
    """canonical id -> correlation id, for the records that joined a story."""
    if not ids:
        return {}
    return {str(c): str(k) for c, k in statements.fetch(session, _CORRELATIONS_OF, ids=list(ids))}


def correlation_of(session: Session, canonical_id: str) -> str:
    """The story `canonical_id` belongs to; a record in none starts its own."""
    return correlations(session, [canonical_id]).get(canonical_id, canonical_id)


def join(session: Session, canonical_id: str, object_type: str, correlation_id: str, now: datetime) -> None:
    """Put a record into a story (a record already in one stays there)."""
    statements.insert_ignore(session, _CORRELATIONS, [{
        "canonical_id": canonical_id, "correlation_id": correlation_id, "object_type": object_type, "created_at": now,
    }], ["canonical_id"])  # fmt: skip


def add_keys(session: Session, correlation_id: str, keys: Mapping[str, Any]) -> None:
    """Make the story findable by these values (kind -> value; blanks are skipped)."""
    rows = [
        {"key": str(value).strip().lower()[:255], "correlation_id": correlation_id, "kind": kind}
        for kind, value in keys.items()
        if value not in (None, "") and str(value).strip()
    ]
    statements.insert_ignore(session, _KEYS, rows, ["key", "correlation_id"])


def milestone(
    session: Session,
    correlation_id: str,
    name: str,
    system: str,
    at: datetime,
    attributes: Mapping[str, Any] | None = None,
) -> bool:
    """Record that `name` happened in the story at `at`, once; False when it was recorded before.

    A milestone that ends a hop whose start is recorded measures the hop.
    """
    if name not in MILESTONES:
        raise ValueError(f"unknown milestone {name!r}")
    seen = session.execute(
        select(col(TraceSpan.name), col(TraceSpan.started_at)).where(
            col(TraceSpan.correlation_id) == correlation_id, col(TraceSpan.name).in_([name, *_starts(name)])
        )
    ).all()
    if any(found == name for found, _ in seen):
        return False
    began = next((when for found, when in seen if found != name), None)
    if began is not None and at < began:
        at = began  # another system's clock, a little behind ours: a hop never ends before it began
    session.add(TraceSpan(correlation_id=correlation_id, name=name, system=system, started_at=at, ended_at=at,
                          status="ok", attributes=dict(attributes or {})))  # fmt: skip
    if name in _ENDING:
        hop, _ = _ENDING[name]
        if began is not None:
            statements.insert_ignore(session, _HOPS, [{
                "correlation_id": correlation_id, "hop": hop, "started_at": began, "ended_at": at,
                "seconds": max((at - began).total_seconds(), 0.0),
            }], ["correlation_id", "hop"])  # fmt: skip
    return True


def _starts(name: str) -> list[str]:
    return [_ENDING[name][1]] if name in _ENDING else []


# -- reading (the console's Trace page) ------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One span of the story, as the timeline shows it."""

    name: str
    system: str | None
    at: datetime
    ended_at: datetime
    status: str
    error: str | None
    record: str | None
    dead_letter: int | None  # the outbox row a person can repair, when the step failed there


@dataclass(frozen=True)
class Story:
    """One deal's story: its records, its steps in time order, the hops measured and what is stuck."""

    correlation_id: str
    keys: dict[str, list[str]]
    steps: list[Step]
    hops: dict[str, float]
    dead_letters: list[int]


def search(engine: Engine, text: str, limit: int = 20) -> list[str]:
    """Correlation ids of the stories matching `text`: an email, company, record id, order or invoice number,
    or a correlation id itself; exact matches first, then prefixes."""
    needle = text.strip().lower()
    if not needle:
        return []
    with snapshot(engine) as session:
        found: list[str] = []
        for query in (
            select(col(TraceKey.correlation_id)).where(col(TraceKey.key) == needle),
            select(col(Correlation.correlation_id)).where(
                or_(col(Correlation.correlation_id) == text.strip(), col(Correlation.canonical_id) == text.strip())
            ),
            select(col(Correlation.correlation_id)).join(
                EntityLink, col(EntityLink.canonical_id) == col(Correlation.canonical_id)
            ).where(col(EntityLink.external_id) == text.strip()),
            select(col(TraceKey.correlation_id)).where(col(TraceKey.key).startswith(needle, autoescape=True)),
        ):
            for (correlation_id,) in session.execute(query.limit(limit)):
                if correlation_id not in found:
                    found.append(str(correlation_id))
            if len(found) >= limit:
                break
        return found[:limit]


def story(engine: Engine, correlation_id: str) -> Story | None:
    """The story of `correlation_id`, or None when there is none."""
    with snapshot(engine) as session:
        members = [str(c) for c in session.scalars(
            select(col(Correlation.canonical_id)).where(col(Correlation.correlation_id) == correlation_id)
        )]  # fmt: skip
        if not members:
            return None
        keys: dict[str, list[str]] = {}
        for kind, key in session.execute(
            select(col(TraceKey.kind), col(TraceKey.key)).where(col(TraceKey.correlation_id) == correlation_id)
            .order_by(col(TraceKey.id))
        ):
            keys.setdefault(str(kind), []).append(str(key))
        dead = {
            str(cid): int(op_id or 0)
            for op_id, cid in session.execute(
                select(col(OutboundOp.id), col(OutboundOp.canonical_id)).where(
                    col(OutboundOp.canonical_id).in_(members), col(OutboundOp.status) == "dead"
                )
            )
        }
        spans = session.execute(
            select(TraceSpan).where(col(TraceSpan.correlation_id).in_([correlation_id, *members]))
            .order_by(col(TraceSpan.started_at), col(TraceSpan.id)).limit(500)
        ).scalars().all()  # fmt: skip
        steps = [_step(span, correlation_id, dead) for span in spans]
        hops = {
            str(hop): float(seconds)
            for hop, seconds in session.execute(
                select(col(Hop.hop), col(Hop.seconds)).where(col(Hop.correlation_id) == correlation_id)
            )
        }
        return Story(correlation_id, keys, steps, hops, sorted(set(dead.values())))


def _step(span: TraceSpan, correlation_id: str, dead: Mapping[str, int]) -> Step:
    attributes = dict(span.attributes or {})
    record = attributes.get("record") or (None if span.correlation_id == correlation_id else span.correlation_id)
    failed = span.status != "ok"
    return Step(
        name=span.name, system=span.system, at=span.started_at, ended_at=span.ended_at, status=span.status,
        error=attributes.get("error"), record=record,
        dead_letter=dead.get(str(record)) if failed and record else None,
    )

