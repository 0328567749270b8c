"""State of the Audit log page: who did what, when, with before and after; filters; nothing changes it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import reflex as rx
from sqlalchemy.exc import SQLAlchemyError

from console.state.session import GuardedState, requires, tab_only
from console.state.views import ago, iso, ledger_error
from sync_core.domain.access import Role
from sync_core.services import audit, ledger_engine

PAGE_SIZE = 50
ANY = "any"
PERIODS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30)}
DETAIL_CHARS = 4000


@dataclass(frozen=True)
class AuditView:
    """One audit entry as the table shows it; `before`/`after` when the entry carries them."""

    id: int
    at: str
    at_iso: str
    actor: str
    action: str
    subject: str
    before: str
    after: str
    details: str


def _json(value: object) -> str:
    return json.dumps(value, indent=1, sort_keys=True, default=str)[:DETAIL_CHARS]


def _view(row: audit.AuditRow, now: datetime) -> AuditView:
    details = dict(row.details)
    before, after = details.pop("before", None), details.pop("after", None)
    return AuditView(
        id=row.id, at=ago(row.at, now), at_iso=iso(row.at), actor=row.actor, action=row.action, subject=row.subject,
        before=_json(before) if before is not None else "", after=_json(after) if after is not None else "",
        details=_json(details) if details else "",
    )  # fmt: skip


class AuditState(GuardedState):
    """One page of the audit log (50 entries) under the filters, and the actors and actions to filter by."""

    rows: rx.Field[list[AuditView]] = rx.field(default_factory=list)
    actors: rx.Field[list[str]] = rx.field(default_factory=list)
    actions: rx.Field[list[str]] = rx.field(default_factory=list)
    actor: rx.Field[str] = rx.field(ANY)
    action: rx.Field[str] = rx.field(ANY)
    subject: rx.Field[str] = rx.field("")
    period: rx.Field[str] = rx.field(ANY)
    page: rx.Field[int] = rx.field(1)
    pages: rx.Field[int] = rx.field(1)
    total: rx.Field[int] = rx.field(0)
    error: rx.Field[str] = rx.field("")
    loaded: rx.Field[bool] = rx.field(False)

    @rx.var
    def has_prev(self) -> bool:
        return self.page > 1

    @rx.var
    def has_next(self) -> bool:
        return self.page < self.pages

    def _filter(self) -> audit.AuditFilter:
        since = datetime.now(UTC) - PERIODS[self.period] if self.period in PERIODS else None
        return audit.AuditFilter(
            actor=None if self.actor == ANY else self.actor,
            action=None if self.action == ANY else self.action,
            subject=self.subject or None,
            since=since,
        )

    async def _fetch(self) -> None:
        engine = ledger_engine()
        try:
            listing = await asyncio.to_thread(audit.list_entries, engine, self.page, PAGE_SIZE, self._filter())
            if not listing.items and listing.page > listing.pages:
                self.page = listing.pages
                listing = await asyncio.to_thread(audit.list_entries, engine, self.page, PAGE_SIZE, self._filter())
            actors, actions = await asyncio.to_thread(audit.choices, engine)
        except SQLAlchemyError as exc:
            self.error = ledger_error(exc)
            return
        now = datetime.now(UTC)
        self.error, self.loaded = "", True
        self.rows = [_view(row, now) for row in listing.items]
        self.total, self.pages = listing.total, listing.pages
        self.actors = [ANY, *actors]
        groups = sorted({f"{action.split('.')[0]}." for action in actions if "." in action})  # `user.`: all of them
        self.actions = [ANY, *groups, *actions]

    @rx.event
    @requires(Role.VIEWER)
    async def on_load(self) -> None:
        query = self.router.url.query_parameters
        self.actor = str(query.get("actor", "") or ANY)
        self.action = str(query.get("action", "") or ANY)
        self.subject = str(query.get("subject", "") or "")
        self.page = 1
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def refresh(self) -> None:
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def set_actor(self, actor: str) -> None:
        self.actor, self.page = actor or ANY, 1
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def set_action(self, action: str) -> None:
        self.action, self.page = action or ANY, 1
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def set_period(self, period: str) -> None:
        self.period, self.page = period if period in PERIODS else ANY, 1
        await self._fetch()

    @rx.event
    @tab_only
    def set_subject(self, subject: str) -> None:
        self.subject = subject

    @rx.event
    @requires(Role.VIEWER)
    async def search(self) -> None:
        self.page = 1
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
