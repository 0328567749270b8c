"""State of the Runs page: one page of sync runs, newest first, optionally of one lane."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import reflex as rx
from sqlalchemy.exc import SQLAlchemyError

from console.state.session import GuardedState, requires
from console.state.views import PassView, RunView, ago, duration, iso, ledger_error
from sync_core.domain.access import Role
from sync_core.services import ledger_engine, reconciliation, runs

PAGE_SIZE = 25
PASSES = 10  # the latest reconciliation passes shown under the runs


def _run_view(row: runs.RunRow, now: datetime) -> RunView:
    return RunView(
        id=row.id,
        lane=row.lane,
        worker=row.worker_id,
        started=ago(row.started_at, now),
        started_at=iso(row.started_at),
        duration=duration(row.duration_seconds),
        status=row.status,
        records_read=row.records_read,
        ops_planned=row.ops_planned,
        ops_done=row.ops_done,
        ops_retried=row.ops_retried,
        ops_dead=row.ops_dead,
        api_calls=row.api_calls,
        error=row.error or "",
    )


def _pass_view(row: reconciliation.RunRow, now: datetime) -> PassView:
    finished = row.finished_at
    return PassView(
        id=row.id, mode=row.mode, status=row.status, started=ago(row.started_at, now), started_at=iso(row.started_at),
        duration=duration((finished - row.started_at).total_seconds()) if finished else "",
        lanes=f"{row.lanes_done}/{row.lanes_total}", records_read=row.records_read, opened=row.findings_opened,
        closed=row.findings_closed, heals=row.heals, api_calls=row.api_calls, started_by=row.started_by,
    )  # fmt: skip


def _load(page: int, lane_id: int | None) -> runs.Page[runs.RunRow]:
    return runs.list_runs(ledger_engine(), page=page, page_size=PAGE_SIZE, lane_id=lane_id)


class RunsState(GuardedState):
    """The page of runs on screen; the query runs in SQL, only these 25 rows live here."""

    rows: rx.Field[list[RunView]] = rx.field(default_factory=list)
    passes: rx.Field[list[PassView]] = rx.field(default_factory=list)
    page: rx.Field[int] = rx.field(1)
    pages: rx.Field[int] = rx.field(1)
    total: rx.Field[int] = rx.field(0)
    lane_id: rx.Field[int] = rx.field(0)  # 0: every lane
    error: rx.Field[str] = rx.field("")
    loaded: rx.Field[bool] = rx.field(False)

    @rx.var
    def has_prev(self) -> bool:
        return self.page > 1

    @rx.var
    def has_next(self) -> bool:
        return self.page < self.pages

    async def _fetch(self) -> None:
        try:
            result = await asyncio.to_thread(_load, self.page, self.lane_id or None)
            passes = await asyncio.to_thread(reconciliation.list_runs, ledger_engine(), 1, PASSES)
        except SQLAlchemyError as exc:
            self.error = ledger_error(exc)
            return
        if result.items == () and result.page > result.pages:
            self.page = result.pages  # the list shrank under us: show its last page
            result = await asyncio.to_thread(_load, self.page, self.lane_id or None)
        now = datetime.now(UTC)
        self.error = ""
        self.loaded = True
        self.rows = [_run_view(row, now) for row in result.items]
        self.passes = [_pass_view(row, now) for row in passes.items]
        self.total = result.total
        self.pages = result.pages

    @rx.event
    @requires(Role.VIEWER)
    async def on_load(self) -> None:
        """Start at page 1, of the lane named by `?lane=<id>` if there is one."""
        lane = self.router.url.query_parameters.get("lane", "")
        self.lane_id = int(lane) if lane.isdigit() else 0
        self.page = 1
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def refresh(self) -> None:
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def next_page(self) -> None:
        if self.page < self.pages:
            self.page += 1
            await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def prev_page(self) -> None:
        if self.page > 1:
            self.page -= 1
            await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def all_lanes(self) -> None:
        self.lane_id = 0
        self.page = 1
        await self._fetch()
