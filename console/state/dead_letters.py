"""State of the Dead letters page: one page of dead ops, a category filter, and retry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import reflex as rx
from reflex_base.event import EventSpec
from sqlalchemy.exc import SQLAlchemyError

from console.state.session import GuardedState, requires
from console.state.views import (
    PAYLOAD_PREVIEW_CHARS,
    PAYLOAD_TITLE_CHARS,
    CountCard,
    DeadLetterView,
    ago,
    category_card,
    category_label,
    iso,
    ledger_error,
    payload_text,
)
from sync_core.domain.access import Role
from sync_core.services import dead_letters, ledger_engine
from sync_core.services.runs import Page

PAGE_SIZE = 25
ALL = "all"


def _view(row: dead_letters.DeadLetterRow, now: datetime) -> DeadLetterView:
    return DeadLetterView(
        id=row.id,
        target=row.target_system,
        object_type=row.object_type,
        operation=row.operation,
        category=row.error_category,
        category_label=category_label(row.error_category),
        message=row.error_message or "",
        payload=payload_text(row.payload, PAYLOAD_PREVIEW_CHARS),
        payload_full=payload_text(row.payload, PAYLOAD_TITLE_CHARS),
        attempts=row.attempts,
        source=f"{row.source_system} {row.source_id}",
        updated=ago(row.updated_at, now),
        updated_at=iso(row.updated_at),
    )


def _load(
    page: int, category: str, op_id: int | None = None
) -> tuple[Page[dead_letters.DeadLetterRow], dict[str, int]]:
    engine = ledger_engine()
    listing = dead_letters.list_dead_letters(
        engine, page=page, page_size=PAGE_SIZE, category=None if category == ALL else category, op_id=op_id
    )
    return listing, dead_letters.counts_by_category(engine)


class DeadLettersState(GuardedState):
    """The dead letters on screen (25 at a time) and the per-category counts for the filter."""

    rows: rx.Field[list[DeadLetterView]] = rx.field(default_factory=list)
    categories: rx.Field[list[CountCard]] = rx.field(default_factory=list)
    category: rx.Field[str] = rx.field(ALL)
    page: rx.Field[int] = rx.field(1)
    pages: rx.Field[int] = rx.field(1)
    total: rx.Field[int] = rx.field(0)
    all_total: rx.Field[int] = rx.field(0)
    error: rx.Field[str] = rx.field("")
    loaded: rx.Field[bool] = rx.field(False)
    op_id: rx.Field[int] = rx.field(0)  # one dead letter only (`?op=`, from a trace); 0: all

    @rx.var
    def has_prev(self) -> bool:
        return self.page > 1

    @rx.var
    def has_next(self) -> bool:
        return self.page < self.pages

    @rx.var
    def category_title(self) -> str:
        return "All categories" if self.category == ALL else category_label(self.category)

    async def _fetch(self) -> None:
        try:
            only = self.op_id or None
            listing, counts = await asyncio.to_thread(_load, self.page, self.category, only)
            if not listing.items and listing.page > listing.pages:
                self.page = listing.pages  # the list shrank (retries, other tabs): show its last page
                listing, counts = await asyncio.to_thread(_load, self.page, self.category, only)
        except SQLAlchemyError as exc:
            self.error = ledger_error(exc)
            return
        now = datetime.now(UTC)
        self.error = ""
        self.loaded = True
        self.rows = [_view(row, now) for row in listing.items]
        self.total = listing.total
        self.pages = listing.pages
        self.categories = [category_card(category, n) for category, n in counts.items()]
        self.all_total = sum(counts.values())

    @rx.event
    @requires(Role.VIEWER)
    async def on_load(self) -> None:
        """Start at page 1 of the category named by `?category=<name>` (all categories without one)."""
        query = self.router.url.query_parameters
        self.category = query.get("category", "") or ALL
        wanted = str(query.get("op", "") or "")
        self.op_id = int(wanted) if wanted.isdigit() else 0
        self.page = 1
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def refresh(self) -> None:
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def set_category(self, category: str) -> None:
        self.category = category or ALL
        self.op_id = 0
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

    @rx.event
    @requires(Role.OPERATOR)
    async def retry(self, op_id: int) -> EventSpec:
        """Send one dead letter back to the queue, then say so and show the list without it."""
        op_id = int(op_id)
        toast: EventSpec
        try:
            await asyncio.to_thread(dead_letters.retry, ledger_engine(), op_id, self._acting_user)
        except ValueError as exc:
            await self._fetch()
            toast = rx.toast.error(str(exc), id=f"retry-error-{op_id}")
            return toast
        except SQLAlchemyError as exc:
            toast = rx.toast.error(ledger_error(exc), id=f"retry-error-{op_id}")
            return toast
        await self._fetch()
        toast = rx.toast.success(f"Op {op_id} is queued again; the next outbound run will write it.")
        return toast
