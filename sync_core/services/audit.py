"""The audit log as people read it: every human action and policy change, newest first, filtered.

Nothing here writes: the services that act write their own entries, and the database refuses
to change or delete one (triggers, migration 0015).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import col

from sync_core.persistence.database import snapshot
from sync_core.persistence.tables import AuditLog
from sync_core.services.runs import Page, make_page, page_bounds


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to show: by who, by kind of action (`user.` for every user action, or one action),
    by a piece of the subject, and from when."""

    actor: str | None = None
    action: str | None = None
    subject: str | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, Any]


def _where(which: AuditFilter) -> list[Any]:
    where: list[Any] = []
    if which.actor:
        where.append(col(AuditLog.actor) == which.actor)
    if which.action:
        action = col(AuditLog.action)
        where.append(action.startswith(which.action) if which.action.endswith(".") else action == which.action)
    if which.subject and which.subject.strip():
        where.append(col(AuditLog.subject).contains(which.subject.strip(), autoescape=True))
    if which.since is not None:
        where.append(col(AuditLog.at) >= which.since)
    return where


def list_entries(
    engine: Engine, page: int = 1, page_size: int = 50, which: AuditFilter | None = None
) -> Page[AuditRow]:
    """One page of entries, newest first, with the total the filter matches."""
    page, page_size, offset = page_bounds(page, page_size)
    where = _where(which or AuditFilter())
    rows = select(AuditLog).where(*where).order_by(col(AuditLog.id).desc()).offset(offset).limit(page_size)
    with snapshot(engine) as session:
        total = session.execute(select(func.count()).select_from(AuditLog).where(*where)).scalar_one()
        items = [
            AuditRow(entry.id or 0, entry.at, entry.actor, entry.action, entry.subject, dict(entry.details))
            for entry in session.execute(rows).scalars()
        ]
    return make_page(items, int(total), page, page_size)


def choices(engine: Engine) -> tuple[list[str], list[str]]:
    """The actors and the actions the log holds, for the filters (each read from its own index)."""
    with snapshot(engine) as session:
        actors = session.execute(select(col(AuditLog.actor)).distinct().order_by(col(AuditLog.actor))).scalars()
        actions = session.execute(select(col(AuditLog.action)).distinct().order_by(col(AuditLog.action))).scalars()
        return [str(a) for a in actors], [str(a) for a in actions]
