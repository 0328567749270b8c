"""State of the Schedules page: every schedule with its next and last run; admins pause, resume, re-time, run now."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, datetime

import reflex as rx
from reflex_base.event import EventSpec
from sqlalchemy.exc import SQLAlchemyError

from console.state.session import GuardedState, requires, tab_only
from console.state.views import ago, iso, ledger_error
from sync_core.domain.access import Role
from sync_core.domain.schedules import interval_text, parse_interval
from sync_core.services import ledger_engine, schedules


@dataclass(frozen=True)
class ScheduleView:
    """One row of the Schedules table."""

    name: str
    about: str
    interval: str
    seconds: str
    paused: bool
    next_run: str
    next_run_at: str
    last_run: str
    last_run_at: str
    last_outcome: str  # ok | failed | "" (never fired)
    last_error: str
    last_how: str  # "on schedule, by worker w1" or "run now by ada, by worker w1"
    last_failure: str
    last_failure_error: str
    requested: str  # a run-now request still waiting for a worker, in words; "" when none
    updated: str


def until(value: datetime | None, now: datetime) -> str:
    """How long after `now` `value` comes ("due" once it has passed)."""
    if value is None:
        return ""
    seconds = math.ceil((value - now).total_seconds())
    if seconds <= 0:
        return "due"
    if seconds < 120:
        return f"in {seconds}s"
    if seconds < 7200:
        return f"in {seconds // 60}m"
    if seconds < 172_800:
        return f"in {seconds // 3600}h"
    return f"in {seconds // 86_400}d"


def _seconds(value: float) -> str:
    return f"{value:g}"


def _view(row: schedules.ScheduleStatus, now: datetime) -> ScheduleView:
    how = ""
    if row.last_fire_at is not None:
        by = f"run now by {row.last_requested_by}" if row.last_requested_by is not None else "on schedule"
        how = f"{by}, worker {row.last_worker}"
    requested = ""
    if row.run_requested_at is not None:
        requested = f"Run now asked by {row.run_requested_by} {ago(row.run_requested_at, now)}: waiting for a worker"
    updated = "code default" if row.updated_by == schedules.SEEDED_BY else f"by {row.updated_by}"
    return ScheduleView(
        name=row.name, about=row.about, interval=row.interval, seconds=_seconds(row.seconds), paused=row.paused,
        next_run="paused" if row.paused else until(row.next_run_at, now), next_run_at=iso(row.next_run_at),
        last_run=ago(row.last_fire_at, now), last_run_at=iso(row.last_fire_at), last_outcome=row.last_outcome or "",
        last_error=row.last_error or "", last_how=how,
        last_failure=ago(row.last_failure_at, now) if row.last_failure_at else "none",
        last_failure_error=row.last_failure_error or "", requested=requested,
        updated=f"{updated} {ago(row.updated_at, now)}",
    )  # fmt: skip


class SchedulesState(GuardedState):
    """The schedules (a handful: no paging needed) and the interval dialog's form."""

    rows: rx.Field[list[ScheduleView]] = rx.field(default_factory=list)
    error: rx.Field[str] = rx.field("")
    loaded: rx.Field[bool] = rx.field(False)
    editing: rx.Field[str] = rx.field("")  # the schedule whose interval dialog is open
    interval_input: rx.Field[str] = rx.field("")
    interval_error: rx.Field[str] = rx.field("")

    @rx.var
    def interval_preview(self) -> str:
        try:
            return f"Fires {interval_text(parse_interval(self.interval_input))}."
        except ValueError as exc:
            return str(exc)

    async def _fetch(self) -> None:
        try:
            now = datetime.now(UTC)
            found = await asyncio.to_thread(schedules.list_schedules, ledger_engine(), now)
        except SQLAlchemyError as exc:
            self.error = ledger_error(exc)
            return
        self.error, self.loaded = "", True
        self.rows = [_view(row, now) for row in found]

    @rx.event
    @requires(Role.VIEWER)
    async def on_load(self) -> None:
        self.editing = ""
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def refresh(self) -> None:
        await self._fetch()

    @rx.event
    @requires(Role.ADMIN)
    async def pause(self, name: str) -> EventSpec:
        """Stop the schedule firing in every worker (from their next look at the table, within seconds)."""
        return await self._change(
            schedules.pause, str(name),
            f"{name} is paused: no worker fires it until it is resumed.", f"{name} was paused already.",
        )  # fmt: skip

    @rx.event
    @requires(Role.ADMIN)
    async def resume(self, name: str) -> EventSpec:
        return await self._change(
            schedules.resume, str(name),
            f"{name} is running again: the workers fire it at its next time.", f"{name} was not paused.",
        )  # fmt: skip

    @rx.event
    @requires(Role.ADMIN)
    async def run_now(self, name: str) -> EventSpec:
        """Ask the workers to fire the schedule once, now (the first to see the request fires it)."""
        return await self._change(
            schedules.run_now, str(name),
            f"{name} will run within seconds, once, on whichever worker sees the request first.",
            f"{name} has a run-now request waiting already.",
        )  # fmt: skip

    async def _change(self, action: object, name: str, done: str, unchanged: str) -> EventSpec:
        assert callable(action)
        try:
            changed = await asyncio.to_thread(action, ledger_engine(), name, self._acting_user)
        except ValueError as exc:
            return rx.toast.error(str(exc), id="schedule-error")
        except SQLAlchemyError as exc:
            return rx.toast.error(ledger_error(exc), id="schedule-error")
        await self._fetch()
        return rx.toast.success(done, id="schedule-done") if changed else rx.toast.info(unchanged, id="schedule-done")

    @rx.event
    @tab_only
    def open_interval(self, name: str) -> None:
        """Open the interval dialog of `name`, filled with its interval as shown on the page."""
        row = next((row for row in self.rows if row.name == name), None)
        self.editing = row.name if row else ""
        self.interval_input = row.seconds if row else ""
        self.interval_error = ""

    @rx.event
    @tab_only
    def set_interval_input(self, value: str) -> None:
        self.interval_input, self.interval_error = value, ""

    @rx.event
    @tab_only
    def set_dialog_open(self, is_open: bool) -> None:
        if not is_open:
            self.editing, self.interval_error = "", ""

    @rx.event
    @requires(Role.ADMIN)
    async def save_interval(self) -> EventSpec | None:
        """Give the schedule in the dialog its new interval; the workers take it within seconds."""
        name = self.editing
        try:
            seconds = parse_interval(self.interval_input)
            changed = await asyncio.to_thread(schedules.set_interval, ledger_engine(), name, seconds, self._acting_user)
        except ValueError as exc:
            self.interval_error = str(exc)
            return None
        except SQLAlchemyError as exc:
            self.interval_error = ledger_error(exc)
            return None
        self.editing = ""
        await self._fetch()
        if not changed:
            return rx.toast.info(f"{name} already fires {interval_text(seconds)}.", id="schedule-done")
        return rx.toast.success(
            f"{name} now fires {interval_text(seconds)}; the workers follow within seconds.", id="schedule-done"
        )
