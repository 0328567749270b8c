"""Bulk reads and writes of links, shadows, ops and spans for one page or batch of records."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core.domain.ownership import SystemState
from sync_core.persistence import statements
from sync_core.persistence.tables import (
    EntityLink,
    InboxEvent,
    MatchKey,
    OutboundOp,
    PendingReference,
    Shadow,
    TraceSpan,
)

_LINKS = EntityLink.__table__  # type: ignore[attr-defined]
_SHADOWS = Shadow.__table__  # type: ignore[attr-defined]
_OPS = OutboundOp.__table__  # type: ignore[attr-defined]
_SPANS = TraceSpan.__table__  # type: ignore[attr-defined]
_MATCH_KEYS = MatchKey.__table__  # type: ignore[attr-defined]
_PENDING = PendingReference.__table__  # type: ignore[attr-defined]
_INBOX = InboxEvent.__table__  # type: ignore[attr-defined]


def idempotency_key(target: str, object_type: str, source: str, source_id: str, version: str, op: str) -> str:
    """The key of one intended write: (target, object, source record, source version, operation)."""
    raw = "|".join((target, object_type, source, source_id, version, op))
    return hashlib.sha256(raw.encode()).hexdigest()


# The statements below run once per page or batch: built once, with the page's ids as one parameter.
_LINKS_BY_EXTERNAL = select(_LINKS.c.external_id, _LINKS.c.canonical_id).where(
    _LINKS.c.system == bindparam("system"), _LINKS.c.object_type == bindparam("object_type"),
    statements.listed(_LINKS.c.external_id, "ids"),
)
_KNOWN_CANONICAL = select(_LINKS.c.canonical_id).where(
    _LINKS.c.object_type == bindparam("object_type"), statements.listed(_LINKS.c.canonical_id, "ids")
)
_LINKS_BY_CANONICAL = select(_LINKS.c.canonical_id, _LINKS.c.external_id).where(
    _LINKS.c.system == bindparam("system"), statements.listed(_LINKS.c.canonical_id, "ids")
)


def links_by_external(session: Session, system: str, object_type: str, ids: Collection[str]) -> dict[str, str]:
    """external id -> canonical id for the given records of one system."""
    if not ids:
        return {}
    rows = statements.fetch(session, _LINKS_BY_EXTERNAL, system=system, object_type=object_type, ids=list(ids))
    return {str(e): str(c) for e, c in rows}


def known_canonical(session: Session, object_type: str, ids: Collection[str]) -> set[str]:
    """Which of `ids` are canonical ids of linked records."""
    if not ids:
        return set()
    return {str(c) for (c,) in statements.fetch(session, _KNOWN_CANONICAL, object_type=object_type, ids=list(ids))}


def links_by_canonical(session: Session, system: str, ids: Collection[str]) -> dict[str, str]:
    """canonical id -> external id in `system`."""
    if not ids:
        return {}
    rows = statements.fetch(session, _LINKS_BY_CANONICAL, system=system, ids=list(ids))
    return {str(c): str(e) for c, e in rows}


def add_links(session: Session, object_type: str, system: str, pairs: Iterable[tuple[str, str]], now: datetime) -> None:
    """Record (canonical id, external id) links; a link that exists is left alone."""
    rows = [
        {"canonical_id": c, "object_type": object_type, "system": system, "external_id": e, "created_at": now}
        for c, e in pairs
    ]
    statements.insert_ignore(session, _LINKS, rows, ["object_type", "system", "external_id"])


def await_references(session: Session, rows: list[dict[str, Any]]) -> None:
    """Remember records pointing at records not linked yet (system, target_type, target_id, object_type,
    external_id, created_at)."""
    statements.insert_ignore(
        session, _PENDING, rows, ["system", "target_type", "target_id", "object_type", "external_id"]
    )


_WAITING = (
    _PENDING.c.system == bindparam("system"), _PENDING.c.target_type == bindparam("target_type"),
    statements.listed(_PENDING.c.target_id, "ids"),
)
_REFERRERS = select(_PENDING.c.object_type, _PENDING.c.external_id).where(*_WAITING)
_ANY_WAITING = select(_PENDING.c.id).where(*_WAITING[:2]).limit(1)
_FORGET_REFERRERS = delete(_PENDING).where(*_WAITING)


def referrers_of(session: Session, system: str, target_type: str, target_ids: Collection[str]) -> list[tuple[str, str]]:
    """(object type, external id) of the records waiting for these targets to be linked; forgets them."""
    if not target_ids:
        return []
    if not statements.fetch(session, _ANY_WAITING, system=system, target_type=target_type):
        return []  # nothing waits for a record of this type (most pages): one probe, not one per id
    where = {"system": system, "target_type": target_type, "ids": list(target_ids)}
    found = [(str(t), str(e)) for t, e in statements.fetch(session, _REFERRERS, **where)]
    if found:
        statements.run(session, _FORGET_REFERRERS, **where)
    return found


def relink(session: Session, system: str, object_type: str, moves: Mapping[str, str]) -> None:
    """Move links from old external ids to their successors (old -> new); a successor already linked
    to something else keeps that link, and the old one stays."""
    if not moves:
        return
    taken = links_by_external(session, system, object_type, list(moves.values()))
    for old, new in moves.items():
        if new in taken or old == new:
            continue
        session.execute(
            update(_LINKS)
            .where(_LINKS.c.system == system, _LINKS.c.object_type == object_type, _LINKS.c.external_id == old)
            .values(external_id=new)
        )


class ShadowView(NamedTuple):
    """A read-only shadow row: what Revline last saw in and wrote to one system for one record."""

    seen: dict[str, Any]
    field_times: dict[str, str]
    written: dict[str, Any]
    source_version: str | None


def claim_match_keys(session: Session, object_type: str, proposed: Mapping[str, str], now: datetime) -> dict[str, str]:
    """key -> canonical id: each key keeps the canonical id that claimed it first (`proposed` if none)."""
    if not proposed:
        return {}
    table = _MATCH_KEYS
    rows = [{"object_type": object_type, "key": k, "canonical_id": c, "created_at": now} for k, c in proposed.items()]
    statements.insert_ignore(session, table, rows, ["object_type", "key"])
    found = statements.fetch(session, _MATCH_KEY_OWNERS, object_type=object_type, keys=list(proposed))
    return {str(k): str(c) for k, c in found}


_MATCH_KEY_OWNERS = select(_MATCH_KEYS.c.key, _MATCH_KEYS.c.canonical_id).where(
    _MATCH_KEYS.c.object_type == bindparam("object_type"), statements.listed(_MATCH_KEYS.c.key, "keys")
)


def match_key_owners(session: Session, object_type: str, keys: Collection[str]) -> dict[str, str]:
    """key -> canonical id for the given matching keys that some record claimed."""
    if not keys:
        return {}
    table = _MATCH_KEYS
    found = session.execute(
        select(table.c.key, table.c.canonical_id).where(table.c.object_type == object_type, table.c.key.in_(list(keys)))
    )
    return {str(k): str(c) for k, c in found}


_SHADOWS_OF = select(
    _SHADOWS.c.canonical_id, _SHADOWS.c.system, _SHADOWS.c.seen, _SHADOWS.c.field_times, _SHADOWS.c.written,
    _SHADOWS.c.source_version,
).where(statements.listed(_SHADOWS.c.canonical_id, "ids"))
_SHADOWS_IN = _SHADOWS_OF.where(_SHADOWS.c.system == bindparam("system"))


def shadows(session: Session, ids: Collection[str], system: str | None = None) -> dict[tuple[str, str], ShadowView]:
    """(canonical id, system) -> shadow, for every system (or one) holding the given records."""
    if not ids:
        return {}
    if system is None:
        rows = statements.fetch(session, _SHADOWS_OF, ids=list(ids))
    else:
        rows = statements.fetch(session, _SHADOWS_IN, ids=list(ids), system=system)
    return {(c, s): ShadowView(seen, times, written, version) for c, s, seen, times, written, version in rows}


def state_of(shadow: ShadowView | None) -> SystemState | None:
    """The planner's view of a shadow: None while the system has no record (or never showed it)."""
    if shadow is None or (not shadow.seen and not shadow.written):
        return None
    parse = _time_of
    return SystemState(values=dict(shadow.seen), field_times={name: parse(t) for name, t in shadow.field_times.items()})


# A record's fields share a few times, and a page's records often the same ones: each text is parsed once.
_time_of = lru_cache(maxsize=16_384)(datetime.fromisoformat)


def save_shadows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Upsert shadow rows: keys canonical_id, system, object_type, seen, field_times, written, ..."""
    statements.upsert(
        session, _SHADOWS, rows, ["canonical_id", "system"],
        ["seen", "field_times", "written", "source_version", "updated_at"],
    )


def shadow_row(
    canonical_id: str,
    system: str,
    object_type: str,
    state: SystemState,
    written: Mapping[str, Any],
    version: str | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "canonical_id": canonical_id,
        "system": system,
        "object_type": object_type,
        "seen": dict(state.values),
        "field_times": _times_text(state.field_times),
        "written": dict(written),
        "source_version": version,
        "updated_at": now,
    }


def _times_text(times: Mapping[str, datetime]) -> dict[str, str]:
    result: dict[str, str] = {}
    last: datetime | None = None
    text = ""
    for name, when in times.items():
        if when is not last:  # a record's fields often share one time object: format it once
            last, text = when, when.isoformat()
        result[name] = text
    return result


def busy(session: Session, ids: Collection[str]) -> set[str]:
    """The canonical ids with a write still in the outbox (pending or being sent)."""
    if not ids:
        return set()
    return set(session.scalars(
        select(col(OutboundOp.canonical_id)).where(
            col(OutboundOp.canonical_id).in_(list(ids)), col(OutboundOp.status).in_(("pending", "in_flight"))
        )
    ))  # fmt: skip


def add_ops(session: Session, rows: list[dict[str, Any]]) -> None:
    """Plan writes; an op whose idempotency key exists is not planned again."""
    statements.insert_ignore(session, _OPS, rows, ["idempotency_key"])


def supersede_pending(
    session: Session, object_type: str, canonical_ids: Collection[str], keep: Collection[str], now: datetime
) -> None:
    """Retire the pending writes of records that were just planned afresh (except `keep`).

    A new plan is computed from every system's current state, so it already holds whatever
    an older, not yet sent write still had to do; sending the older one as well could put
    back a value that another system has since changed.
    """
    if not canonical_ids:
        return
    where = {"ids": list(canonical_ids), "object_type": object_type, "now": now}
    if keep:
        statements.run(session, _SUPERSEDE_KEEPING, **where, keep=list(keep))
    else:
        statements.run(session, _SUPERSEDE, **where)


_SUPERSEDE = (
    update(_OPS)
    .where(
        statements.listed(_OPS.c.canonical_id, "ids"),
        _OPS.c.object_type == bindparam("object_type"),
        statements.unindexed(_OPS.c.status) == "pending",  # by the records' ids, not through every pending op
        _OPS.c.operation == "upsert",
    )
    .values(status="superseded", updated_at=bindparam("now"))
)
_SUPERSEDE_KEEPING = _SUPERSEDE.where(statements.unlisted(_OPS.c.idempotency_key, "keep"))


def put_dead_ops(session: Session, rows: list[dict[str, Any]]) -> None:
    """Record dead letters found before any write (mapping, validation); a repeat revives the row."""
    statements.upsert(
        session, _OPS, rows, ["idempotency_key"],
        ["status", "error_category", "error_message", "payload", "source_version", "updated_at"],
    )


def resolve_dead_ingests(
    session: Session, object_type: str, source: str, canonical_ids: Collection[str], now: datetime
) -> None:
    """Close the dead letters of records that have now been read without fault (fixed at the source)."""
    if not canonical_ids:
        return
    statements.run(session, _RESOLVE_DEAD_INGESTS, ids=list(canonical_ids), object_type=object_type, source=source,
                   now=now)  # fmt: skip


_RESOLVE_DEAD_INGESTS = (
    update(_OPS)
    .where(
        statements.listed(_OPS.c.canonical_id, "ids"),
        _OPS.c.object_type == bindparam("object_type"),
        _OPS.c.target_system == bindparam("source"),
        _OPS.c.operation == "ingest",
        statements.unindexed(_OPS.c.status) == "dead",
    )
    .values(status="done", result={"resolved": "the record was read again without fault"}, updated_at=bindparam("now"))
)


def add_inbox(session: Session, rows: list[dict[str, Any]]) -> None:
    """Queue change notices; one already queued under the same dedupe key is not queued again."""
    statements.insert_ignore(session, _INBOX, rows, ["dedupe_key"])


_ADD_SPANS = _SPANS.insert()


def add_spans(session: Session, rows: list[dict[str, Any]]) -> None:
    statements.execute_many(session, _ADD_SPANS, rows)
