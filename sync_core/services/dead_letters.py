"""Dead letters (outbound ops in status `dead`): list them by category and send them back to the queue."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core.persistence import lanes
from sync_core.persistence.database import db_now, snapshot, transaction
from sync_core.persistence.tables import AuditLog, OutboundOp, RepairAction, op_status_is
from sync_core.services import closed_won
from sync_core.services.runs import Page, make_page, page_bounds

DEAD = "dead"
UNCATEGORISED = "uncategorised"  # dead ops with no error_category, so they still get a card
_CHUNK = 500  # ids per IN (...) list, well under SQLite's bound-parameter limit


@dataclass(frozen=True)
class DeadLetterRow:
    """One dead letter as the console lists it."""

    id: int
    target_system: str
    object_type: str
    operation: str
    canonical_id: str
    source_system: str
    source_id: str
    error_category: str
    error_message: str | None
    payload: dict[str, Any]
    attempts: int
    correlation_id: str
    created_at: datetime
    updated_at: datetime


def _category_filter(category: str) -> Any:
    if category == UNCATEGORISED:
        return col(OutboundOp.error_category).is_(None)
    return col(OutboundOp.error_category) == category


def list_dead_letters(
    engine: Engine, page: int = 1, page_size: int = 25, category: str | None = None, op_id: int | None = None
) -> Page[DeadLetterRow]:
    """Dead letters newest first, optionally of one error category (or the one op `op_id`), one page plus the total.

    The page's ids are found first, in the dead letters' indexes alone, and only its rows are read:
    a deep page skips index entries, not a hundred thousand rows with their payloads.
    """
    page, page_size, offset = page_bounds(page, page_size)
    where = [op_status_is(DEAD)]
    if category:
        where.append(_category_filter(category))
    if op_id is not None:
        where.append(col(OutboundOp.id) == op_id)
    ids = select(col(OutboundOp.id)).where(*where).order_by(col(OutboundOp.id).desc()).offset(offset).limit(page_size)
    rows = select(OutboundOp).where(col(OutboundOp.id).in_(ids.correlate(None))).order_by(col(OutboundOp.id).desc())
    count = select(func.count()).select_from(OutboundOp).where(*where)
    with snapshot(engine) as session:
        total = session.execute(count).scalar_one()
        ops = session.execute(rows).scalars().all()
        items = [
            DeadLetterRow(
                id=op.id or 0,
                target_system=op.target_system,
                object_type=op.object_type,
                operation=op.operation,
                canonical_id=op.canonical_id,
                source_system=op.source_system,
                source_id=op.source_id,
                error_category=op.error_category or UNCATEGORISED,
                error_message=op.error_message,
                payload=dict(op.payload),
                attempts=op.attempts,
                correlation_id=op.correlation_id,
                created_at=op.created_at,
                updated_at=op.updated_at,
            )
            for op in ops
        ]
        return make_page(items, total, page, page_size)


def counts_by_category(engine: Engine) -> dict[str, int]:
    """How many dead letters there are per error category, largest first."""
    with snapshot(engine) as session:
        return dead_counts(session)


def dead_counts(session: Session) -> dict[str, int]:
    """`counts_by_category` inside a transaction the caller already holds."""
    query = (
        select(col(OutboundOp.error_category), func.count())
        .where(op_status_is(DEAD))
        .group_by(col(OutboundOp.error_category))
    )
    rows = session.execute(query).all()
    counts = [(category or UNCATEGORISED, int(n)) for category, n in rows]
    return dict(sorted(counts, key=lambda item: (-item[1], item[0])))


def _retry_op(session: Session, op: OutboundOp, actor: str, reason: str | None, now: datetime) -> None:
    """Send one dead op back to the queue and leave the trail: a repair action and an audit row."""
    assert op.id is not None
    previous = {
        "previous_category": op.error_category,
        "previous_message": op.error_message,
        "previous_attempts": op.attempts,
    }
    op.status = "pending"
    op.next_attempt_at = now
    op.attempts = 0
    op.error_category = None
    op.error_message = None
    op.root_cause = None
    op.money_at_stake = None
    op.updated_at = now
    session.add(
        RepairAction(op_id=op.id, action="retry", actor=actor, reason=reason, details=previous, at=now)
    )
    session.add(
        AuditLog(
            at=now,
            actor=actor,
            action="dead_letter.retry",
            subject=f"outbound_op:{op.id}",
            details={**previous, "reason": reason, "target_system": op.target_system},
        )
    )
    if closed_won.is_order(op):
        # A held order is decided again on what is true now, not sent as it was held.
        closed_won.reconsider(session, op, now)


def retry_locked(session: Session, op: OutboundOp, actor: str, reason: str | None, now: datetime) -> None:
    """`retry` of an op the caller has read for update in its own transaction (after an edit, a relink)."""
    _retry_op(session, op, actor, reason, now)
    lanes.mark_due(session, op.target_system, op.object_type, lanes.OUTBOUND, now)


def retry(engine: Engine, op_id: int, actor: str, reason: str | None = None) -> None:
    """Put dead letter `op_id` back in the queue now with attempts reset; ValueError if it is not dead."""
    with transaction(engine) as session:
        op = session.execute(select(OutboundOp).where(col(OutboundOp.id) == op_id).with_for_update()).scalar()
        if op is None:
            raise ValueError(f"outbound op {op_id} does not exist")
        if op.status != DEAD:
            raise ValueError(f"outbound op {op_id} is {op.status}; only dead letters can be retried")
        now = db_now(session)
        _retry_op(session, op, actor, reason, now)
        lanes.mark_due(session, op.target_system, op.object_type, lanes.OUTBOUND, now)


def retry_many(engine: Engine, op_ids: Iterable[int], actor: str, reason: str | None = None) -> list[int]:
    """Retry the dead letters among `op_ids` in one transaction; return the ids retried, skip the rest."""
    ids = sorted(set(op_ids))
    if not ids:
        return []
    retried: list[int] = []
    woken: set[tuple[str, str]] = set()
    with transaction(engine) as session:
        now = db_now(session)
        for start in range(0, len(ids), _CHUNK):
            query = (
                select(OutboundOp)
                .where(col(OutboundOp.id).in_(ids[start : start + _CHUNK]), col(OutboundOp.status) == DEAD)
                .order_by(col(OutboundOp.id))
                .with_for_update()
            )
            for op in session.execute(query).scalars().all():
                _retry_op(session, op, actor, reason, now)
                woken.add((op.target_system, op.object_type))
                retried.append(op.id or 0)
        for target_system, object_type in sorted(woken):
            lanes.mark_due(session, target_system, object_type, lanes.OUTBOUND, now)
    return retried
