"""Sync runs, newest first, paged in SQL for the console's Runs page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import Engine, func, select
from sqlmodel import col

from sync_core.persistence.database import snapshot
from sync_core.persistence.tables import SyncRun

T = TypeVar("T")

MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing: its rows, which page it is (from 1) and how many rows match in all."""

    items: tuple[T, ...]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def page_bounds(page: int, page_size: int) -> tuple[int, int, int]:
    """(page, page_size, offset) with page clamped to >= 1 and page_size to 1..MAX_PAGE_SIZE."""
    page = max(1, page)
    page_size = min(max(1, page_size), MAX_PAGE_SIZE)
    return page, page_size, (page - 1) * page_size


def make_page(items: Sequence[T], total: int, page: int, page_size: int) -> Page[T]:
    return Page(items=tuple(items), total=total, page=page, page_size=page_size)


def lane_label(system: str, object_type: str, direction: str) -> str:
    """How a lane is named in the console and in metric labels, e.g. `hubspot.contact.inbound`."""
    return f"{system}.{object_type}.{direction}"


@dataclass(frozen=True)
class RunRow:
    """One sync run as the console lists it."""

    id: int
    lane_id: int
    system: str
    object_type: str
    direction: str
    worker_id: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    records_read: int
    ops_planned: int
    ops_done: int
    ops_retried: int
    ops_dead: int
    api_calls: int
    error: str | None

    @property
    def lane(self) -> str:
        return lane_label(self.system, self.object_type, self.direction)

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def run_row(run: SyncRun) -> RunRow:
    assert run.id is not None
    return RunRow(
        id=run.id,
        lane_id=run.lane_id,
        system=run.system,
        object_type=run.object_type,
        direction=run.direction,
        worker_id=run.worker_id,
        started_at=run.started_at,
        finished_at=run.finished_at,
        status=run.status,
        records_read=run.records_read,
        ops_planned=run.ops_planned,
        ops_done=run.ops_done,
        ops_retried=run.ops_retried,
        ops_dead=run.ops_dead,
        api_calls=run.api_calls,
        error=run.error,
    )


def list_runs(engine: Engine, page: int = 1, page_size: int = 25, lane_id: int | None = None) -> Page[RunRow]:
    """Sync runs newest first (optionally of one lane), one page of them plus the total."""
    page, page_size, offset = page_bounds(page, page_size)
    rows = select(SyncRun)
    count = select(func.count()).select_from(SyncRun)
    if lane_id is not None:
        rows = rows.where(col(SyncRun.lane_id) == lane_id)
        count = count.where(col(SyncRun.lane_id) == lane_id)
    rows = rows.order_by(col(SyncRun.started_at).desc(), col(SyncRun.id).desc())
    rows = rows.offset(offset).limit(page_size)
    with snapshot(engine) as session:
        total = session.execute(count).scalar_one()
        runs = session.execute(rows).scalars().all()
        return make_page([run_row(run) for run in runs], total, page, page_size)
