"""Change feeds over several models: records whose own write_date moved, and those whose related records changed.

A deal (its sale.order) changes when the order is written, and also when its invoices or pickings
are (a payment touches the invoice, not the order) and when an invoice becomes overdue (which
touches nothing: the ERP's date passes the due date). A company likewise changes with its invoices.
One page merges every stream by time and hands on at most `limit` records, each at its current
state; each stream's window and the overdue sweep advance past what the page consumed (feed_cursor.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from connectors.erp.billing import OPEN_STATES, overdue_since
from connectors.erp.client import OdooClient
from connectors.erp.cursor import ChangeCursor
from connectors.erp.feed_cursor import FeedCursor, Position
from connectors.erp.mapping import as_date, format_datetime, version_of
from sync_core.domain.changes import ChangePage, SourceRecord

Row = Mapping[str, Any]
# Which record each row leads to (None: none this feed hands on), given a model's rows of one page.
Targets = Callable[[str, Sequence[Row]], dict[int, int | None]]
# The current state of records by Odoo id on the ERP's `today`, reusing rows of the records already read.
Records = Callable[[Sequence[int], date, Mapping[int, Row]], list[SourceRecord]]


@dataclass(frozen=True)
class Stream:
    """A model polled on write_date: its rows lead to the feed's records."""

    name: str
    model: str
    domain: tuple[Any, ...]
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """A feed: the records' own stream first, then the related streams; the overdue sweep is every feed's."""

    primary: Stream
    related: tuple[Stream, ...]
    targets: Targets
    records: Records


@dataclass(frozen=True)
class _Trigger:
    key: tuple[str, int, int]  # (when, stream rank, row id): the merge order
    stream: str
    row: Row
    version: str


def _domain(terms: Sequence[Any], *extra: list[Any]) -> list[Any]:
    return [list(t) if isinstance(t, tuple) else t for t in terms] + list(extra)


def _row_version(row: Row) -> str:
    return version_of(str(row["write_date"])[:19], {k: v for k, v in row.items() if k not in ("id", "write_date")})


def overdue_domain(today: date, position: Position) -> list[Any]:
    """Posted customer invoices left to pay, due before `today` and after the sweep's position."""
    due, last_id = position
    domain: list[Any] = [["move_type", "=", "out_invoice"], ["state", "=", "posted"],
                         ["payment_state", "in", list(OPEN_STATES)], ["invoice_date_due", "<", today.isoformat()]]
    if last_id is None:
        return [*domain, ["invoice_date_due", ">", due.isoformat()]]
    return [*domain, "|", ["invoice_date_due", ">", due.isoformat()],
            "&", ["invoice_date_due", "=", due.isoformat()], ["id", ">", last_id]]  # fmt: skip


class CompositeFeed:
    """Reads one page of a Plan's feed."""

    def __init__(self, client: OdooClient, overlap: timedelta) -> None:
        self._client = client
        self._overlap = overlap

    def read(self, plan: Plan, cursor: str | None, limit: int, now: datetime) -> ChangePage:
        state = FeedCursor.decode(cursor, plan.primary.name)
        today = now.date()
        triggers: list[_Trigger] = []
        windows: dict[str, ChangeCursor] = {}
        complete: dict[str, bool] = {}
        for rank, stream in enumerate((plan.primary, *plan.related)):
            window = state.streams.get(stream.name)
            if window is None:  # the records' own stream starts at the beginning, the others at the first read
                window = ChangeCursor() if stream is plan.primary else ChangeCursor(format_datetime(now))
            windows[stream.name] = window
            lower = window.lower_bound(self._overlap)
            extra = [["write_date", ">=", lower]] if lower is not None else []
            fetch = limit + len(window.seen)
            rows = self._client.call(stream.model, "search_read", domain=_domain(stream.domain, *extra),
                                     fields=[*stream.fields, "write_date"], order="write_date asc, id asc",
                                     limit=fetch, context={"active_test": False})
            complete[stream.name] = len(rows) < fetch
            for row in rows:
                version = _row_version(row)
                if window.is_new(str(row["id"]), version):
                    triggers.append(_Trigger((version.partition("#")[0], rank, int(row["id"])), stream.name, row,
                                             version))
        position: Position = state.overdue or (today - timedelta(days=1), None)
        overdue_rows = self._client.call("account.move", "search_read",
                                         domain=overdue_domain(today, position),
                                         fields=["invoice_date_due", "commercial_partner_id"],
                                         order="invoice_date_due asc, id asc", limit=limit)
        complete["overdue"] = len(overdue_rows) < limit
        rank = len(plan.related) + 1
        for row in overdue_rows:
            due = as_date(row.get("invoice_date_due"))
            assert due is not None
            triggers.append(_Trigger((format_datetime(overdue_since(due)), rank, int(row["id"])), "overdue", row, ""))

        targets = self._targets(plan, triggers)
        chosen: dict[int, None] = {}
        consumed: list[_Trigger] = []
        for trigger in sorted(triggers, key=lambda t: t.key):
            target = targets.get((trigger.stream, int(trigger.row["id"])))
            if target is not None and target not in chosen:
                if len(chosen) >= limit:
                    break
                chosen[target] = None
            consumed.append(trigger)
        known = {int(t.row["id"]): t.row for t in consumed if t.stream == plan.primary.name}
        found = plan.records(list(chosen), today, known)
        delivered = sorted((r for r in found if state.is_new(r.external_id, r.version)),
                           key=lambda r: (r.modified_at, int(r.external_id)))

        following: dict[str, ChangeCursor] = {}
        for name, window in windows.items():
            mine = [(str(t.row["id"]), t.version) for t in consumed if t.stream == name]
            advanced = window.after(mine, self._overlap)
            if complete[name] and len(mine) == sum(1 for t in triggers if t.stream == name):
                advanced = advanced.caught_up(now, self._overlap)
            following[name] = advanced
        swept = [t for t in consumed if t.stream == "overdue"]
        if complete["overdue"] and len(swept) == len(overdue_rows):
            position = (today - timedelta(days=1), None)
        elif swept:
            last = swept[-1].row
            due = as_date(last.get("invoice_date_due"))
            assert due is not None
            position = (due, int(last["id"]))
        more = len(consumed) < len(triggers) or not all(complete.values())
        after = state.after(following, position, {r.external_id: r.version for r in delivered}, self._overlap)
        return ChangePage(tuple(delivered), after.encode(), has_more=more)

    def _targets(self, plan: Plan, triggers: Sequence[_Trigger]) -> dict[tuple[str, int], int | None]:
        """Each trigger's record: one call per model at most (the plan's targets decide how)."""
        by_model: dict[str, list[_Trigger]] = {}
        models = {s.name: s.model for s in (plan.primary, *plan.related)} | {"overdue": "account.move"}
        for trigger in triggers:
            by_model.setdefault(models[trigger.stream], []).append(trigger)
        result: dict[tuple[str, int], int | None] = {}
        for model, group in by_model.items():
            rows = list({int(t.row["id"]): t.row for t in group}.values())
            found = plan.targets(model, rows)
            for trigger in group:
                result[(trigger.stream, int(trigger.row["id"]))] = found.get(int(trigger.row["id"]))
        return result
