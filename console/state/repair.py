"""State of the Repair queue page: root-cause groups, a group's records, one record's story, the actions."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import reflex as rx
from reflex_base.event import EventSpec
from sqlalchemy.exc import SQLAlchemyError

from console.state.session import GuardedState, requires, tab_only
from console.state.views import ago, category_label, iso, ledger_error, money, payload_text
from sync_core.domain.access import Role
from sync_core.domain.payload_diff import diff, parse_payload
from sync_core.domain.root_cause import describe, parse
from sync_core.services import ledger_engine, repair
from sync_core.services.runs import Page

PAGE_SIZE = 25
GROUP_PAGE_SIZE = 10
BULK_LABELS = {
    "retry": "Retry",
    "discard": "Discard",
    "approve": "Approve",
    "reject": "Reject",
    "remap": "Remap the product and retry",
}


def cause_slug(cause: str) -> str:
    """A short stable id for a root cause, for element ids (the key itself has any characters)."""
    return hashlib.sha1(cause.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class GroupView:
    cause: str
    slug: str
    title: str
    category: str
    category_label: str
    kind: str
    count: int
    money: str
    oldest: str
    oldest_at: str


@dataclass(frozen=True)
class RecordView:
    id: int
    what: str
    source: str
    message: str
    money: str
    attempts: int
    age: str
    age_at: str
    is_order: bool


@dataclass(frozen=True)
class SystemRowView:
    system: str
    external_id: str
    seen: str
    seen_full: str
    last_seen: str
    last_seen_at: str


@dataclass(frozen=True)
class HistoryView:
    action: str
    actor: str
    reason: str
    details: str
    at: str


@dataclass(frozen=True)
class DiffLineView:
    field: str
    kind: str
    before: str
    after: str


def _group_view(found: repair.Group, now: datetime) -> GroupView:
    return GroupView(
        cause=found.root_cause, slug=cause_slug(found.root_cause), title=found.title, category=found.category,
        category_label=category_label(found.category), kind=found.kind, count=found.count, money=money(found.money),
        oldest=ago(found.oldest, now), oldest_at=iso(found.oldest),
    )


def _record_view(row: repair.RepairRow, now: datetime) -> RecordView:
    what = f"{row.target_system} {row.object_type}" + (" order" if row.is_order else f" {row.operation}")
    return RecordView(
        id=row.id, what=what, source=f"{row.source_system} {row.source_id}", message=row.error_message or "",
        money=money(row.money), attempts=row.attempts, age=ago(row.updated_at, now), age_at=iso(row.updated_at),
        is_order=row.is_order,
    )


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _shown(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, default=str)


def _load(cause: str, group_page: int, page: int, op_id: int | None
          ) -> tuple[Page[repair.Group], repair.Totals, Page[repair.RepairRow] | None]:
    engine = ledger_engine()
    groups, totals = repair.list_groups(engine, group_page, GROUP_PAGE_SIZE)
    records = None
    if cause or op_id is not None:
        records = repair.list_records(engine, cause or None, page, PAGE_SIZE, op_id=op_id)
    return groups, totals, records


class RepairState(GuardedState):
    """The groups on screen (10 at a time), the chosen group's records (25 at a time), one record opened,
    the forms of the actions, and a bulk action's progress."""

    groups: rx.Field[list[GroupView]] = rx.field(default_factory=list)
    group_page: rx.Field[int] = rx.field(1)
    group_pages: rx.Field[int] = rx.field(1)
    group_total: rx.Field[int] = rx.field(0)
    records_total: rx.Field[int] = rx.field(0)
    money_total: rx.Field[str] = rx.field("")
    cause: rx.Field[str] = rx.field("")
    cause_title: rx.Field[str] = rx.field("")
    cause_kind: rx.Field[str] = rx.field("")
    rows: rx.Field[list[RecordView]] = rx.field(default_factory=list)
    page: rx.Field[int] = rx.field(1)
    pages: rx.Field[int] = rx.field(1)
    total: rx.Field[int] = rx.field(0)
    op_filter: rx.Field[int] = rx.field(0)  # one record only (`?op=`, from a trace); 0: the group's
    error: rx.Field[str] = rx.field("")
    loaded: rx.Field[bool] = rx.field(False)
    # the record opened
    selected: rx.Field[int] = rx.field(0)
    detail_title: rx.Field[str] = rx.field("")
    detail_plain: rx.Field[str] = rx.field("")
    detail_status: rx.Field[str] = rx.field("")
    detail_payload: rx.Field[str] = rx.field("")
    detail_kind: rx.Field[str] = rx.field("")  # order | ingest (read afresh on retry) | write
    detail_products: rx.Field[list[str]] = rx.field(default_factory=list)
    detail_systems: rx.Field[list[SystemRowView]] = rx.field(default_factory=list)
    detail_history: rx.Field[list[HistoryView]] = rx.field(default_factory=list)
    detail_trace: rx.Field[str] = rx.field("")
    # forms
    reason: rx.Field[str] = rx.field("")
    from_code: rx.Field[str] = rx.field("")
    to_code: rx.Field[str] = rx.field("")
    external_id: rx.Field[str] = rx.field("")
    edit_text: rx.Field[str] = rx.field("")
    edit_error: rx.Field[str] = rx.field("")
    edit_diff: rx.Field[list[DiffLineView]] = rx.field(default_factory=list)
    # dry run
    dry_shown: rx.Field[bool] = rx.field(False)
    dry_action: rx.Field[str] = rx.field("")
    dry_fields: rx.Field[str] = rx.field("")
    dry_problem: rx.Field[str] = rx.field("")
    # bulk
    bulk_action: rx.Field[str] = rx.field("retry")
    bulk_count: rx.Field[int] = rx.field(0)
    bulk_error: rx.Field[str] = rx.field("")
    bulk_running: rx.Field[bool] = rx.field(False)
    bulk_done: rx.Field[int] = rx.field(0)
    bulk_total: rx.Field[int] = rx.field(0)

    @rx.var
    def has_prev(self) -> bool:
        return self.page > 1

    @rx.var
    def has_next(self) -> bool:
        return self.page < self.pages

    @rx.var
    def groups_have_prev(self) -> bool:
        return self.group_page > 1

    @rx.var
    def groups_have_next(self) -> bool:
        return self.group_page < self.group_pages

    @rx.var
    def bulk_percent(self) -> int:
        return round(100 * self.bulk_done / self.bulk_total) if self.bulk_total else 0

    @rx.var
    def bulk_label(self) -> str:
        return BULK_LABELS.get(self.bulk_action, self.bulk_action)

    @rx.var
    def bulk_actions(self) -> list[str]:
        """The bulk actions that apply to the chosen group."""
        if self.cause_kind == "product":
            return ["remap", "retry", "reject", "discard"]
        if self.cause_kind == "price":
            return ["approve", "reject", "retry", "discard"]
        if self.cause_kind == "billing":
            return ["retry", "reject", "discard"]
        return ["retry", "discard"]

    async def _fetch(self) -> None:
        try:
            op_id = self.op_filter or None
            groups, totals, records = await asyncio.to_thread(_load, self.cause, self.group_page, self.page, op_id)
            if records is not None and not records.items and records.page > records.pages:
                self.page = records.pages  # the group shrank (repairs, other tabs): show its last page
                groups, totals, records = await asyncio.to_thread(_load, self.cause, self.group_page, self.page,
                                                                  op_id)
        except SQLAlchemyError as exc:
            self.error = ledger_error(exc)
            return
        now = datetime.now(UTC)
        self.error, self.loaded = "", True
        self.groups = [_group_view(g, now) for g in groups.items]
        self.group_pages, self.group_total = groups.pages, groups.total
        self.records_total, self.money_total = totals.records, money(totals.money)
        if records is None:
            self.rows, self.total, self.pages = [], 0, 1
        else:
            self.rows = [_record_view(r, now) for r in records.items]
            self.total, self.pages = records.total, records.pages
        if self.cause and not self.cause_title:
            self.cause_title = describe(self.cause)
        if self.selected:
            await self._open(self.selected)

    async def _open(self, op_id: int) -> None:
        try:
            found = await asyncio.to_thread(repair.record, ledger_engine(), op_id)
        except ValueError as exc:
            self.selected, self.detail_plain = 0, str(exc)
            return
        now = datetime.now(UTC)
        row = found.row
        self.selected = op_id
        source = f"{row.source_system} {row.source_id}"
        self.detail_title = f"#{row.id} · {row.target_system} {row.object_type} from {source}"
        self.detail_plain = found.plain
        self.detail_status = found.status
        self.detail_payload = _pretty(found.payload)
        self.detail_kind = "order" if row.is_order else "ingest" if row.operation == repair.INGEST else "write"
        self.detail_products = sorted({str(line.get("product_code") or "") for line in found.payload.get("lines") or []
                                       if isinstance(line, dict)} - {""})
        self.detail_systems = [
            SystemRowView(system=s.system, external_id=s.external_id or "not linked",
                          seen=payload_text(s.values, 160), seen_full=payload_text(s.values, 2000),
                          last_seen=ago(s.last_seen, now) if s.last_seen else "never seen",
                          last_seen_at=iso(s.last_seen))
            for s in found.systems
        ]
        self.detail_history = [
            HistoryView(action=h.action, actor=h.actor, reason=h.reason or "", at=iso(h.at),
                        details=payload_text(h.details, 300))
            for h in found.history
        ]
        self.detail_trace = f"/trace?q={row.correlation_id}"

    def _clear_detail(self) -> None:
        self.selected = 0
        self.dry_shown = False
        self.edit_diff, self.edit_error = [], ""

    # -- reading -------------------------------------------------------------------------------------------------

    @rx.event
    @requires(Role.VIEWER)
    async def on_load(self) -> None:
        """Groups page 1; the group named by `?cause=`, the record named by `?op=` (from a trace)."""
        query = self.router.url.query_parameters
        self.cause = str(query.get("cause", "") or "")
        self.cause_title = describe(self.cause) if self.cause else ""
        self.cause_kind = parse(self.cause).kind if self.cause else ""
        wanted = str(query.get("op", "") or "")
        self.op_filter = int(wanted) if wanted.isdigit() else 0
        self.group_page = self.page = 1
        self._clear_detail()
        self.bulk_count, self.bulk_error = 0, ""
        if self.cause:
            self.bulk_action = self.bulk_actions[0]
        if self.op_filter:
            self.selected = self.op_filter
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def refresh(self) -> None:
        if not self.bulk_running:
            await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def choose_group(self, cause: str) -> None:
        self.cause = cause
        self.cause_title = describe(cause)
        self.cause_kind = parse(cause).kind
        self.op_filter, self.page = 0, 1
        self.bulk_action = self.bulk_actions[0]
        self.bulk_count, self.bulk_error = 0, ""
        self._clear_detail()
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def next_groups(self) -> None:
        if self.group_page < self.group_pages:
            self.group_page += 1
            await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def prev_groups(self) -> None:
        if self.group_page > 1:
            self.group_page -= 1
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
    async def open_record(self, op_id: int) -> None:
        """Show one record: its error in plain words, payload, each system's copy, history and trace."""
        self._clear_detail()
        self.reason = self.from_code = self.to_code = self.external_id = ""
        await self._open(int(op_id))
        self.edit_text = self.detail_payload
        if self.detail_products:
            self.from_code = self.detail_products[0]

    @rx.event
    @tab_only
    def close_record(self) -> None:
        self._clear_detail()

    @rx.event
    @requires(Role.VIEWER)
    async def dry_run(self) -> EventSpec | None:
        """What a retry would write now under the current mapping; nothing is written."""
        try:
            run = await asyncio.to_thread(repair.dry_run, ledger_engine(), self.selected)
        except (ValueError, SQLAlchemyError) as exc:
            return rx.toast.error(str(exc) if isinstance(exc, ValueError) else ledger_error(exc))
        self.dry_shown = True
        self.dry_action = f"{run.action} in {run.target_system} {run.object_type}"
        self.dry_fields = _pretty(run.fields)
        self.dry_problem = run.problem or ""
        return None

    # -- the forms (this tab only) ---------------------------------------------------------------------------------

    @rx.event
    @tab_only
    def set_reason(self, reason: str) -> None:
        self.reason = reason

    @rx.event
    @tab_only
    def set_from_code(self, code: str) -> None:
        self.from_code = code

    @rx.event
    @tab_only
    def set_to_code(self, code: str) -> None:
        self.to_code = code

    @rx.event
    @tab_only
    def set_external_id(self, external_id: str) -> None:
        self.external_id = external_id

    @rx.event
    @tab_only
    def set_edit_text(self, text: str) -> None:
        """The payload being edited, and its diff against the record's payload as it is typed."""
        self.edit_text = text
        try:
            before, after = json.loads(self.detail_payload or "{}"), parse_payload(text)
        except ValueError as exc:
            self.edit_error, self.edit_diff = str(exc), []
            return
        self.edit_error = ""
        self.edit_diff = [
            DiffLineView(field=c.field, kind=c.kind, before=_shown(c.before), after=_shown(c.after))
            for c in diff(before, after)
        ]

    @rx.event
    @tab_only
    def set_bulk_action(self, action: str) -> None:
        self.bulk_action = action if action in BULK_LABELS else "retry"
        self.bulk_count, self.bulk_error = 0, ""

    # -- actions on the record opened -------------------------------------------------------------------------------

    async def _act(self, done: str, call: Any, *args: Any) -> EventSpec:
        op_id = self.selected
        try:
            await asyncio.to_thread(call, ledger_engine(), op_id, *args)
        except ValueError as exc:
            return rx.toast.error(str(exc), id=f"repair-error-{op_id}")
        except SQLAlchemyError as exc:
            return rx.toast.error(ledger_error(exc), id=f"repair-error-{op_id}")
        self.reason = ""
        self.dry_shown = False
        await self._fetch()
        return rx.toast.success(done.format(op_id=op_id))

    @rx.event
    @requires(Role.OPERATOR)
    async def retry(self) -> EventSpec:
        return await self._act("Record {op_id} is queued again; the next outbound run writes it.", repair.retry,
                               self._acting_user, self.reason.strip() or None)

    @rx.event
    @requires(Role.OPERATOR)
    async def save_edit(self) -> EventSpec:
        """Replace the payload with the edited one (the diff shown above is what is audited) and retry."""
        try:
            payload = parse_payload(self.edit_text)
        except ValueError as exc:
            return rx.toast.error(str(exc))
        return await self._act("Record {op_id} is queued again with the edited payload.", repair.edit_and_retry,
                               payload, self._acting_user, self.reason.strip() or None)

    @rx.event
    @requires(Role.OPERATOR)
    async def discard(self) -> EventSpec:
        return await self._act("Record {op_id} is discarded: it will not be written.", repair.discard,
                               self._acting_user, self.reason)

    @rx.event
    @requires(Role.OPERATOR)
    async def approve(self) -> EventSpec:
        return await self._act("Order {op_id} is approved at the prices shown and goes to the ERP.", repair.approve,
                               self._acting_user, self.reason)

    @rx.event
    @requires(Role.OPERATOR)
    async def reject(self) -> EventSpec:
        return await self._act("Order {op_id} is rejected: no order is placed for the deal.", repair.reject,
                               self._acting_user, self.reason)

    @rx.event
    @requires(Role.OPERATOR)
    async def remap(self) -> EventSpec:
        """Order another product in place of the one the ERP does not sell, on this order, and decide it again."""
        return await self._act(f"Order {{op_id}} now orders {self.to_code.strip()} for {self.from_code}.",
                               repair.remap_product, self.from_code, self.to_code, self._acting_user,
                               self.reason.strip() or None)

    @rx.event
    @requires(Role.OPERATOR)
    async def relink(self) -> EventSpec:
        """Point the record at a record the target system holds already, and retry."""
        return await self._act(f"Record {{op_id}} now points at {self.external_id.strip()} and is queued again.",
                               repair.relink, self.external_id, self._acting_user, self.reason.strip() or None)

    # -- actions on the whole group ----------------------------------------------------------------------------------

    @rx.event
    @requires(Role.VIEWER)
    async def preview_bulk(self) -> None:
        """How many records the chosen bulk action would touch, before anything is written."""
        try:
            self.bulk_count = await asyncio.to_thread(repair.preview_bulk, ledger_engine(), self.cause,
                                                      self.bulk_action)
            self.bulk_error = ""
        except ValueError as exc:
            self.bulk_count, self.bulk_error = 0, str(exc)
        except SQLAlchemyError as exc:
            self.bulk_count, self.bulk_error = 0, ledger_error(exc)

    @rx.event(background=True)  # type: ignore[operator]
    @requires(Role.OPERATOR, background=True)
    async def run_bulk(self) -> EventSpec | None:
        """Apply the bulk action to every record of the group, a chunk at a time, moving the progress bar."""
        async with self:
            if self.bulk_running or not self.cause:
                return None
            actor, cause, action = self._acting_user, self.cause, self.bulk_action
            reason, to_code = self.reason.strip() or None, self.to_code.strip() or None
            self.bulk_running, self.bulk_done, self.bulk_total, self.bulk_error = True, 0, 0, ""
        engine = ledger_engine()
        done = 0
        try:
            plan = await asyncio.to_thread(repair.start_bulk, engine, cause, action, actor, reason, to_code)
            async with self:
                self.bulk_total = len(plan.ids)
            for chunk in plan.chunks():
                done += await asyncio.to_thread(repair.run_bulk, engine, plan, chunk, actor)
                async with self:
                    self.bulk_done += len(chunk)
        except (ValueError, SQLAlchemyError) as exc:
            message = str(exc) if isinstance(exc, ValueError) else ledger_error(exc)
            async with self:
                self.bulk_running, self.bulk_error = False, message
            return rx.toast.error(message, id="bulk-error")
        async with self:
            self.bulk_running, self.bulk_count, self.reason = False, 0, ""
            self._clear_detail()
            await self._fetch()
        label = BULK_LABELS.get(action, action)
        return rx.toast.success(f"{label}: done for {done} of {len(plan.ids)} records of “{plan.title}”.")
