"""State of the Mismatches page: findings by kind with the money at stake, filters, heal and ignore."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import plotly.graph_objects as go
import reflex as rx
from reflex_base.event import EventSpec
from sqlalchemy.exc import SQLAlchemyError

from console.state.session import GuardedState, requires, tab_only
from console.state.views import ago, iso, ledger_error, money
from sync_core.domain.access import Role
from sync_core.services import ledger_engine, reconciliation
from sync_core.services.reconciliation import FindingFilter

PAGE_SIZE = 25
ALL = "all"
KIND_LABELS = {
    "won_without_order": ("Won without order", "Closed won, no confirmed ERP order after the SLA"),
    "order_without_won": ("Order without won deal", "An ERP order whose deal is not won, or gone"),
    "missing_customer": ("Missing customer", "A won account the ERP lacks, or an ERP customer no CRM has"),
    "field_drift": ("Field drift", "A value differs from what its owner says"),
    "status_drift": ("Status drift", "Order, delivery, invoice or payment state disagrees with the ERP"),
    "duplicate": ("Duplicates", "Two records in one system for one entity"),
    "orphan": ("Orphans", "A linked record was deleted in its system"),
}
STATUSES = ("open", "ignored", "healed", "resolved")
LINKABLE = ("orphan", "duplicate", "missing_customer")
HEALABLE = ("field_drift", "status_drift", "won_without_order")
TREND = timedelta(days=7)  # how far back the open-findings chart looks
AGES = {"any": None, "1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7)}


@dataclass(frozen=True)
class KindCard:
    key: str
    label: str
    hint: str
    count: int
    money: str


@dataclass(frozen=True)
class ValueView:
    system: str
    value: str
    differs: bool  # not what it should be


@dataclass(frozen=True)
class FindingView:
    id: int
    kind: str
    kind_label: str
    object_type: str
    summary: str
    field: str
    cells: list[ValueView]
    expected: str
    records: str
    money: str
    status: str
    seen: str
    seen_at: str
    first_seen: str
    healed_by: str
    reason: str
    trace_href: str
    linkable: bool  # a record in one system that a person can point elsewhere
    healable: bool  # a kind Revline knows how to heal


def _text(value: object) -> str:
    if value is None or value == "":
        return "(blank)"
    return value if isinstance(value, str) else json.dumps(value)


def _view(row: reconciliation.FindingRow, now: datetime) -> FindingView:
    values = dict(row.values)
    expected = values.pop("expected", None)
    label = KIND_LABELS.get(row.kind, (row.kind, ""))[0]
    return FindingView(
        id=row.id, kind=row.kind, kind_label=label, object_type=row.object_type, summary=row.summary,
        field=row.field or "",
        cells=[ValueView(s, _text(v), "expected" in row.values and v != expected) for s, v in sorted(values.items())],
        expected=_text(expected) if "expected" in row.values else "",
        records=", ".join(f"{s} {r}" for s, r in sorted(row.records.items())),
        money=money(row.money, row.currency), status=row.status, seen=ago(row.last_seen_at, now),
        seen_at=iso(row.last_seen_at), first_seen=ago(row.first_seen_at, now), healed_by=row.healed_by or "",
        reason=row.reason or "", trace_href=f"/trace?q={row.correlation_id}" if row.correlation_id else "",
        linkable=row.kind in LINKABLE, healable=row.kind in HEALABLE,
    )  # fmt: skip


class MismatchesState(GuardedState):
    """The findings on screen (25 at a time), the cards per kind, the filters and the actions."""

    cards: rx.Field[list[KindCard]] = rx.field(default_factory=list)
    rows: rx.Field[list[FindingView]] = rx.field(default_factory=list)
    kind: rx.Field[str] = rx.field(ALL)
    status: rx.Field[str] = rx.field("open")
    system: rx.Field[str] = rx.field(ALL)
    age: rx.Field[str] = rx.field("any")
    page: rx.Field[int] = rx.field(1)
    pages: rx.Field[int] = rx.field(1)
    total: rx.Field[int] = rx.field(0)
    reason: rx.Field[str] = rx.field("")
    record: rx.Field[str] = rx.field("")  # the record id a Link points a finding's record at
    error: rx.Field[str] = rx.field("")
    loaded: rx.Field[bool] = rx.field(False)
    last_run: rx.Field[str] = rx.field("")
    trend_at: rx.Field[list[str]] = rx.field(default_factory=list)  # when passes finished (ISO)
    trend_open: rx.Field[list[int]] = rx.field(default_factory=list)  # findings open then

    @rx.var
    def trend_figure(self) -> go.Figure:
        """Open findings as each pass left them, over the last week."""
        figure = go.Figure(go.Scatter(
            x=self.trend_at, y=self.trend_open, mode="lines+markers", line={"color": "#e5484d", "shape": "hv"},
            hovertemplate="%{x}<br>%{y} open<extra></extra>",
        ))  # fmt: skip
        figure.update_layout(
            height=180, margin={"l": 40, "r": 10, "t": 10, "b": 30}, plot_bgcolor="rgba(0,0,0,0)",
            paper_bgcolor="rgba(0,0,0,0)", xaxis={"type": "date", "showgrid": False},
            yaxis={"rangemode": "tozero", "gridcolor": "#eee"},
        )  # fmt: skip
        return figure

    @rx.var
    def has_prev(self) -> bool:
        return self.page > 1

    @rx.var
    def has_next(self) -> bool:
        return self.page < self.pages

    def _filter(self) -> FindingFilter:
        return FindingFilter(
            kind=None if self.kind == ALL else self.kind,
            status=None if self.status == ALL else self.status,
            system=None if self.system == ALL else self.system,
            older_than=AGES.get(self.age),
        )

    async def _fetch(self) -> None:
        engine = ledger_engine()
        try:
            which = self._filter()
            listing = await asyncio.to_thread(reconciliation.list_findings, engine, self.page, PAGE_SIZE, which)
            if not listing.items and listing.page > listing.pages:
                self.page = listing.pages
                listing = await asyncio.to_thread(reconciliation.list_findings, engine, self.page, PAGE_SIZE, which)
            kinds = await asyncio.to_thread(reconciliation.summary, engine)
            runs = await asyncio.to_thread(reconciliation.list_runs, engine, 1, 1)
            trend = await asyncio.to_thread(reconciliation.open_over_time, engine, datetime.now(UTC) - TREND)
        except SQLAlchemyError as exc:
            self.error = ledger_error(exc)
            return
        now = datetime.now(UTC)
        self.error, self.loaded = "", True
        self.rows = [_view(row, now) for row in listing.items]
        self.total, self.pages = listing.total, listing.pages
        self.cards = [
            KindCard(k.kind, *KIND_LABELS.get(k.kind, (k.kind, "")), k.open, money(k.money)) for k in kinds
        ]  # fmt: skip
        self.trend_at = [at.isoformat() for at, _ in trend]
        self.trend_open = [n for _, n in trend]
        latest = runs.items[0] if runs.items else None
        self.last_run = (
            f"Last pass: {latest.mode}, {latest.status}, {ago(latest.started_at, now)}" if latest else "No pass yet"
        )

    @rx.event
    @requires(Role.VIEWER)
    async def on_load(self) -> None:
        query = self.router.url.query_parameters
        self.kind = str(query.get("kind", "") or ALL)
        self.page = 1
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def refresh(self) -> None:
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def set_kind(self, kind: str) -> None:
        self.kind, self.page = kind or ALL, 1
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def set_status(self, status: str) -> None:
        self.status, self.page = status or ALL, 1
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def set_system(self, system: str) -> None:
        self.system, self.page = system or ALL, 1
        await self._fetch()

    @rx.event
    @requires(Role.VIEWER)
    async def set_age(self, age: str) -> None:
        self.age, self.page = age if age in AGES else "any", 1
        await self._fetch()

    @rx.event
    @tab_only
    def set_reason(self, reason: str) -> None:
        self.reason = reason

    @rx.event
    @tab_only
    def set_record(self, record: str) -> None:
        self.record = record

    @rx.event
    @requires(Role.OPERATOR)
    async def link(self, finding_id: int) -> EventSpec:
        """Point the finding's record at the record id typed above (with the reason), audited."""
        try:
            await asyncio.to_thread(
                reconciliation.link_to, ledger_engine(), int(finding_id), self.record, self._acting_user, self.reason
            )
        except ValueError as exc:
            return rx.toast.error(str(exc))
        except SQLAlchemyError as exc:
            return rx.toast.error(ledger_error(exc))
        await self._fetch()
        return rx.toast.success(f"Finding {finding_id} now points at {self.record.strip()}; the next pass checks it.")

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
    async def heal(self, finding_id: int) -> EventSpec:
        return await self._act("heal", [int(finding_id)])

    @rx.event
    @requires(Role.OPERATOR)
    async def ignore(self, finding_id: int) -> EventSpec:
        return await self._act("ignore", [int(finding_id)])

    @rx.event
    @requires(Role.OPERATOR)
    async def heal_all(self) -> EventSpec:
        """Heal every finding the filters match (the button says how many first)."""
        ids = await asyncio.to_thread(reconciliation.finding_ids, ledger_engine(), self._filter())
        return await self._act("heal", ids)

    @rx.event
    @requires(Role.OPERATOR)
    async def ignore_all(self) -> EventSpec:
        ids = await asyncio.to_thread(reconciliation.finding_ids, ledger_engine(), self._filter())
        return await self._act("ignore", ids)

    @rx.event
    @requires(Role.OPERATOR)
    async def run_now(self) -> EventSpec:
        try:
            run_id = await asyncio.to_thread(reconciliation.run_now, ledger_engine(), self._acting_user)
        except SQLAlchemyError as exc:
            return rx.toast.error(ledger_error(exc))
        await self._fetch()
        return rx.toast.success(f"Pass {run_id} is running: the workers compare every record now.")

    async def _act(self, action: str, ids: list[int]) -> EventSpec:
        engine = ledger_engine()
        try:
            if action == "heal":
                done = await asyncio.to_thread(reconciliation.heal_now, engine, ids, self._acting_user)
                message = f"{done} of {len(ids)} findings have a heal on its way; the next pass confirms it."
            else:
                done = await asyncio.to_thread(reconciliation.ignore, engine, ids, self._acting_user, self.reason)
                message = f"{done} findings ignored: {self.reason.strip()}"
        except ValueError as exc:
            return rx.toast.error(str(exc))
        except SQLAlchemyError as exc:
            return rx.toast.error(ledger_error(exc))
        await self._fetch()
        return rx.toast.success(message)
