"""Lane leases on the database clock: claim, heartbeat-and-fence, release, mark due.

A lease is (owner, expiry, version). Claiming bumps the version; every transaction that
commits a lane's work first runs `fence`, which succeeds only while the same claim still
holds an unexpired lease, so a worker that lost its lease cannot commit.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from sync_core.persistence.database import db_now
from sync_core.persistence.tables import Lane, OutboundOp

INBOUND = "inbound"
OUTBOUND = "outbound"
RECONCILE = "reconcile"  # a reconciliation pass's share of one (system, object type)


class LeaseLostError(Exception):
    """The lane's lease expired or was taken by another worker; the work must not commit."""


@dataclass(frozen=True)
class Claim:
    """A lane held by one worker; `version` is the fencing token."""

    lane_id: int
    system: str
    object_type: str
    direction: str
    cursor: str | None
    version: int
    owner: str


def ensure_lanes(session: Session, system: str, object_type: str) -> None:
    """Create the inbound and outbound lanes of (system, object) if missing, inbound due now."""
    now = db_now(session)
    for direction in (INBOUND, OUTBOUND):
        exists = session.scalar(
            select(col(Lane.id)).where(
                col(Lane.system) == system, col(Lane.object_type) == object_type, col(Lane.direction) == direction
            )
        )
        if exists is None:
            session.add(Lane(system=system, object_type=object_type, direction=direction, due_at=now))
    session.flush()


LaneKey = tuple[str, str, str]
"""(system, object type, direction): one lane."""


def claim(session: Session, owner: str, lease_seconds: float, prefer: Collection[LaneKey] = ()) -> Claim | None:
    """Take the most overdue free lane, or None when nothing is due.

    Lanes in `prefer` that are due and free come first: writes the caller's last run woke (an order
    whose customer it just created) follow at once instead of queueing behind every lane the poll
    made due meanwhile.
    """
    now = db_now(session)
    query = (
        select(Lane)
        .where(
            col(Lane.paused).is_(False),
            col(Lane.due_at) <= now,
            col(Lane.lease_expires_at).is_(None) | (col(Lane.lease_expires_at) < now),
            col(Lane.held_until).is_(None) | (col(Lane.held_until) <= now),
        )
        .order_by(col(Lane.due_at))
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    lane = None
    if prefer:
        chosen = [
            (col(Lane.system) == system) & (col(Lane.object_type) == object_type) & (col(Lane.direction) == direction)
            for system, object_type, direction in sorted(prefer)
        ]
        lane = session.scalars(query.where(or_(*chosen))).first()
    if lane is None:
        lane = session.scalars(query).first()
    if lane is None:
        return None
    lane.lease_owner = owner
    lane.lease_expires_at = now + timedelta(seconds=lease_seconds)
    lane.version += 1
    lane.due_at = None
    session.flush()
    assert lane.id is not None
    return Claim(lane.id, lane.system, lane.object_type, lane.direction, lane.cursor, lane.version, owner)


def fence(session: Session, claim: Claim, lease_seconds: float) -> datetime:
    """Extend the lease if `claim` still holds it, else raise LeaseLostError; returns the db time."""
    now = db_now(session)
    result = session.execute(
        update(Lane)
        .where(
            col(Lane.id) == claim.lane_id,
            col(Lane.version) == claim.version,
            col(Lane.lease_owner) == claim.owner,
            col(Lane.lease_expires_at) > now,
        )
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LeaseLostError(f"lease on lane {claim.lane_id} (version {claim.version}) is no longer held")
    return now


def advance_cursor(session: Session, claim: Claim, cursor: str | None) -> None:
    session.execute(update(Lane).where(col(Lane.id) == claim.lane_id).values(cursor=cursor))


def release(session: Session, claim: Claim, status: str, error: str | None, due_again: bool) -> None:
    """End the lease; the lane is due again at once when work is left, else when ops fall due."""
    now = db_now(session)
    due: datetime | None = now if due_again else None
    if not due_again and claim.direction == OUTBOUND:
        due = session.scalar(
            select(func.min(col(OutboundOp.next_attempt_at))).where(
                col(OutboundOp.target_system) == claim.system,
                col(OutboundOp.object_type) == claim.object_type,
                col(OutboundOp.status).in_(("pending", "in_flight")),
            )
        )
    session.execute(
        update(Lane)
        .where(col(Lane.id) == claim.lane_id, col(Lane.version) == claim.version)
        .values(
            lease_owner=None,
            lease_expires_at=None,
            last_run_at=now,
            last_status=status,
            last_error=error,
            due_at=func.coalesce(col(Lane.due_at), due) if due is not None else col(Lane.due_at),
        )
    )


def mark_due(session: Session, system: str, object_type: str, direction: str, at: datetime) -> None:
    """Make a lane due by `at` (an earlier due time stays)."""
    session.execute(
        update(Lane)
        .where(
            col(Lane.system) == system,
            col(Lane.object_type) == object_type,
            col(Lane.direction) == direction,
            col(Lane.due_at).is_(None) | (col(Lane.due_at) > at),
        )
        .values(due_at=at)
    )


def hold(session: Session, system: str, until: datetime) -> None:
    """Keep every lane of `system` unclaimed until `until` (its API quota is spent), in all workers."""
    session.execute(
        update(Lane)
        .where(col(Lane.system) == system, col(Lane.held_until).is_(None) | (col(Lane.held_until) < until))
        .values(held_until=until)
    )


def mark_all_due(session: Session, direction: str | None = None) -> int:
    """Make every lane (of one direction) due now; returns how many changed."""
    now = db_now(session)
    query = update(Lane).where(col(Lane.due_at).is_(None) | (col(Lane.due_at) > now))
    if direction is not None:
        query = query.where(col(Lane.direction) == direction)
    return int(session.execute(query.values(due_at=now)).rowcount)  # type: ignore[attr-defined]
