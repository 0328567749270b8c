"""The Repair queue page (`/repair`): dead letters and held orders by root cause, each record's story,
and the repairs: one record at a time, or a whole group at once with a preview and a progress bar."""

# Reflex's component packages ship no py.typed marker, so to mypy every rx.<component>(...) is Any.

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from console.components.layout import ELLIPSIS, error_callout, page
from console.components.pager import pager
from console.state.repair import DiffLineView, GroupView, HistoryView, RecordView, RepairState, SystemRowView
from console.state.session import SessionState

REFRESH_MS = 4000
OPERATORS_ONLY = "Operators and admins repair records"


def _operator_button(label: str, key: str, on_click: Any, icon: str | None = None, **props: Any) -> rx.Component:
    children = [rx.icon(icon, size=14), label] if icon else [label]
    return rx.button(
        *children, on_click=on_click, disabled=~SessionState.can_repair,
        title=rx.cond(SessionState.can_repair, "", OPERATORS_ONLY), size="1", id=key, **props,
    )


def _confirmed(label: str, key: str, question: Any, on_confirm: Any, color: str = "red") -> rx.Component:
    """A button that asks first (with what it touches), then acts."""
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button(label, size="1", color_scheme=color, variant="soft", disabled=~SessionState.can_repair,
                      title=rx.cond(SessionState.can_repair, "", OPERATORS_ONLY), id=key),
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title(f"{label}?"),
            rx.alert_dialog.description(question),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(rx.button(label, on_click=on_confirm, color_scheme=color,
                                                 id=f"{key}-confirm")),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
        ),
    )


# -- groups -------------------------------------------------------------------------------------------------------


def _group_row(group: ObjectVar[GroupView]) -> rx.Component:
    chosen = RepairState.cause == group.cause
    return rx.table.row(
        rx.table.cell(
            rx.text(group.title, weight="medium", size="2", class_name="group-title"),
            rx.badge(group.category_label, color_scheme="red", variant="soft", size="1"),
        ),
        rx.table.cell(rx.text(group.count, weight="bold", class_name="group-count")),
        rx.table.cell(rx.text(group.money, class_name="group-money")),
        rx.table.cell(rx.text(group.oldest, title=group.oldest_at, size="1")),
        rx.table.cell(
            rx.button("Open", size="1", variant=rx.cond(chosen, "solid", "soft"),
                      on_click=RepairState.choose_group(group.cause),  # type: ignore[operator]
                      id=f"group-open-{group.slug}")
        ),
        id=f"group-{group.slug}",
        data_cause=group.cause,
        align="center",
        background_color=rx.cond(chosen, rx.color("indigo", 2), "transparent"),
    )


def _groups() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text(rx.text.span(RepairState.records_total, id="repair-records-total"), " records in ",
                    rx.text.span(RepairState.group_total, id="repair-groups-total"), " root causes",
                    size="2"),
            rx.cond(RepairState.money_total != "",
                    rx.text(RepairState.money_total, " at stake", size="2", weight="bold", color_scheme="red",
                            id="repair-money-total")),
            spacing="4",
        ),
        rx.table.root(
            rx.table.header(rx.table.row(*(rx.table.column_header_cell(name) for name in
                                           ("Root cause", "Records", "At stake", "Oldest", "")))),
            rx.table.body(rx.foreach(RepairState.groups, _group_row)),
            variant="surface", size="1", width="100%", id="repair-groups",
        ),
        rx.cond(RepairState.loaded & (RepairState.group_total == 0),
                rx.text("Nothing to repair: every write went through.", color_scheme="gray", id="repair-empty")),
        pager("repair-groups", RepairState.group_page, RepairState.group_pages, RepairState.group_total,
              RepairState.groups_have_prev, RepairState.groups_have_next, RepairState.prev_groups,
              RepairState.next_groups, noun="root causes"),
        width="100%",
        spacing="3",
    )


# -- a group's records and its bulk action ---------------------------------------------------------------------


def _bulk() -> rx.Component:
    question = rx.vstack(
        rx.cond(
            RepairState.bulk_error != "",
            rx.callout(RepairState.bulk_error, color_scheme="red", icon="triangle-alert", id="bulk-error"),
            rx.text(RepairState.bulk_label, " touches ", rx.text.span(RepairState.bulk_count, id="bulk-count"),
                    " records: every record of “", RepairState.cause_title, "”, on every page.",
                    rx.cond(RepairState.bulk_action == "remap",
                            rx.text.span(" Every order with this product orders ", RepairState.to_code,
                                         " from now on.")),
                    id="bulk-question"),
        ),
    )
    return rx.vstack(
        rx.hstack(
            rx.select(RepairState.bulk_actions, value=RepairState.bulk_action, on_change=RepairState.set_bulk_action,
                      size="1", id="bulk-action"),
            rx.cond(RepairState.bulk_action == "remap",
                    rx.input(placeholder="Product the ERP sells", value=RepairState.to_code,
                             on_change=RepairState.set_to_code, size="1", width="200px", id="bulk-to-code")),
            rx.input(placeholder="Reason (needed to discard, approve, reject)", value=RepairState.reason,
                     on_change=RepairState.set_reason, size="1", width="300px", id="bulk-reason"),
            rx.alert_dialog.root(
                rx.alert_dialog.trigger(
                    rx.button(rx.icon("layers", size=14), "Apply to the group…", size="1",
                              on_click=RepairState.preview_bulk,
                              disabled=~SessionState.can_repair | RepairState.bulk_running,
                              title=rx.cond(SessionState.can_repair, "", OPERATORS_ONLY), id="bulk-preview"),
                ),
                rx.alert_dialog.content(
                    rx.alert_dialog.title(RepairState.bulk_label, " the whole group?"),
                    rx.alert_dialog.description(question),
                    rx.hstack(
                        rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                        rx.alert_dialog.action(rx.button(
                            RepairState.bulk_label, " ", RepairState.bulk_count, " records",
                            on_click=RepairState.run_bulk,
                            disabled=(RepairState.bulk_error != "") | (RepairState.bulk_count == 0),
                            id="bulk-confirm")),
                        justify="end",
                        spacing="3",
                        margin_top="16px",
                    ),
                ),
            ),
            align="center",
            spacing="3",
            wrap="wrap",
        ),
        rx.cond(
            RepairState.bulk_running | (RepairState.bulk_total > 0),
            rx.hstack(
                rx.progress(value=RepairState.bulk_percent, max=100, width="300px", id="bulk-progress"),
                rx.text(RepairState.bulk_done, " of ", RepairState.bulk_total, size="1", id="bulk-progress-text"),
                rx.cond(RepairState.bulk_running, rx.spinner(size="1")),
                align="center",
                spacing="3",
            ),
        ),
        spacing="2",
        width="100%",
    )


def _record_row(row: ObjectVar[RecordView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text("#", row.id.to_string(), size="1", color_scheme="gray")),
        rx.table.cell(rx.text(row.what, weight="medium", size="2"),
                      rx.text("from ", row.source, size="1", color_scheme="gray")),
        rx.table.cell(rx.text(row.message, size="2", title=row.message, style=ELLIPSIS), max_width="420px"),
        rx.table.cell(rx.text(row.money)),
        rx.table.cell(rx.text(row.age, title=row.age_at, size="1")),
        rx.table.cell(rx.button("Open", size="1", variant="soft",
                                on_click=RepairState.open_record(row.id),  # type: ignore[operator]
                                id=f"open-{row.id}")),
        id=f"repair-row-{row.id}",
        align="center",
    )


def _records() -> rx.Component:
    return rx.vstack(
        rx.heading(RepairState.cause_title, size="4", id="repair-group-title"),
        rx.cond(RepairState.op_filter == 0, _bulk()),
        rx.table.root(
            rx.table.header(rx.table.row(*(rx.table.column_header_cell(name) for name in
                                           ("Op", "Record", "Error", "At stake", "Since", "")))),
            rx.table.body(rx.foreach(RepairState.rows, _record_row)),
            variant="surface", size="1", width="100%", id="repair-records",
        ),
        pager("repair-records", RepairState.page, RepairState.pages, RepairState.total, RepairState.has_prev,
              RepairState.has_next, RepairState.prev_page, RepairState.next_page, noun="records"),
        width="100%",
        spacing="3",
        id="repair-group",
    )


# -- one record ----------------------------------------------------------------------------------------------------


def _system_row(view: ObjectVar[SystemRowView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(view.system, weight="medium")),
        rx.table.cell(rx.code(view.external_id, size="1")),
        rx.table.cell(rx.code(view.seen, size="1", variant="ghost", title=view.seen_full, style=ELLIPSIS),
                      max_width="480px"),
        rx.table.cell(rx.text(view.last_seen, title=view.last_seen_at, size="1")),
        id=f"repair-system-{view.system}",
    )


def _history(entry: ObjectVar[HistoryView]) -> rx.Component:
    return rx.text(
        rx.text.span(entry.at, color_scheme="gray"), " · ", rx.text.span(entry.actor, weight="medium"), " ",
        rx.text.span(entry.action, weight="bold"), rx.cond(entry.reason != "", rx.text.span(" — ", entry.reason)),
        size="1", class_name="repair-history",
    )


def _diff_line(line: ObjectVar[DiffLineView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(line.field, size="1")),
        rx.table.cell(rx.badge(line.kind, size="1", color_scheme=rx.match(line.kind, ("added", "green"),
                                                                         ("removed", "red"), "amber"))),
        rx.table.cell(rx.code(line.before, size="1", color_scheme="red", variant="ghost")),
        rx.table.cell(rx.code(line.after, size="1", color_scheme="green", variant="ghost")),
        class_name="repair-diff-line",
    )


def _order_actions() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            _operator_button("Approve", "repair-approve", RepairState.approve, icon="check", color_scheme="green"),
            _confirmed("Reject", "repair-reject",
                       rx.text("No order is placed for this deal; the reason stays on record: ", RepairState.reason),
                       RepairState.reject),
            spacing="2",
        ),
        rx.cond(
            RepairState.detail_products.length() > 0,
            rx.hstack(
                rx.text("Order", size="1"),
                rx.select(RepairState.detail_products, value=RepairState.from_code,
                          on_change=RepairState.set_from_code, size="1", id="repair-from-code"),
                rx.text("as", size="1"),
                rx.input(placeholder="Product the ERP sells", value=RepairState.to_code,
                         on_change=RepairState.set_to_code, size="1", width="180px", id="repair-to-code"),
                _operator_button("Remap on this order", "repair-remap", RepairState.remap, icon="replace"),
                align="center",
                spacing="2",
            ),
        ),
        spacing="2",
    )


def _write_actions() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.input(placeholder="Id of the record the target holds already", value=RepairState.external_id,
                     on_change=RepairState.set_external_id, size="1", width="280px", id="repair-external-id"),
            _operator_button("Point at it and retry", "repair-relink", RepairState.relink, icon="link"),
            align="center",
            spacing="2",
        ),
        rx.text("Edit the payload, then save and retry", size="1", color_scheme="gray"),
        rx.text_area(value=RepairState.edit_text, on_change=RepairState.set_edit_text, rows="8", width="100%",
                     font_family="monospace", id="repair-edit"),
        rx.cond(RepairState.edit_error != "", rx.text(RepairState.edit_error, color_scheme="red", size="1",
                                                      id="repair-edit-error")),
        rx.cond(
            RepairState.edit_diff.length() > 0,
            rx.table.root(rx.table.body(rx.foreach(RepairState.edit_diff, _diff_line)), size="1", variant="surface",
                          id="repair-diff"),
        ),
        _operator_button("Save and retry", "repair-save-edit", RepairState.save_edit, icon="save",
                         variant="outline"),
        spacing="2",
        width="100%",
    )


def _dry_run() -> rx.Component:
    return rx.cond(
        RepairState.dry_shown,
        rx.card(
            rx.text("A retry now would: ", rx.text.span(RepairState.dry_action, weight="bold"), size="2"),
            rx.cond(RepairState.dry_problem != "",
                    rx.callout(RepairState.dry_problem, color_scheme="amber", icon="triangle-alert", size="1")),
            rx.code_block(RepairState.dry_fields, language="json", width="100%"),
            rx.text("Nothing was written.", size="1", color_scheme="gray"),
            id="repair-dry",
            width="100%",
        ),
    )


def _record() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(RepairState.detail_title, size="3", id="repair-record-title"),
                rx.badge(RepairState.detail_status, id="repair-record-status"),
                rx.spacer(),
                rx.link("Trace", href=RepairState.detail_trace, size="2", id="repair-trace"),
                rx.icon_button(rx.icon("x", size=14), on_click=RepairState.close_record, size="1", variant="ghost",
                               id="repair-close"),
                align="center",
                width="100%",
            ),
            rx.callout(RepairState.detail_plain, color_scheme="red", icon="circle-alert", id="repair-plain",
                       width="100%"),
            rx.text("Payload", size="1", color_scheme="gray"),
            rx.code_block(RepairState.detail_payload, language="json", width="100%", id="repair-payload"),
            rx.text("The record as each system has it now", size="1", color_scheme="gray"),
            rx.table.root(
                rx.table.header(rx.table.row(*(rx.table.column_header_cell(n) for n in
                                               ("System", "Id", "Values", "Last seen")))),
                rx.table.body(rx.foreach(RepairState.detail_systems, _system_row)),
                size="1", width="100%", id="repair-systems",
            ),
            rx.cond(RepairState.detail_history.length() > 0,
                    rx.vstack(rx.text("What people did", size="1", color_scheme="gray"),
                              rx.foreach(RepairState.detail_history, _history), spacing="1", id="repair-history")),
            rx.separator(),
            rx.hstack(
                rx.input(placeholder="Reason (needed to approve, reject, discard)", value=RepairState.reason,
                         on_change=RepairState.set_reason, size="1", width="360px", id="repair-reason"),
                rx.button(rx.icon("flask-conical", size=14), "Dry run", size="1", variant="outline",
                          on_click=RepairState.dry_run, id="repair-dry-run"),
                _operator_button("Retry", "repair-retry", RepairState.retry, icon="rotate-ccw"),
                _confirmed("Discard", "repair-discard",
                           rx.text("This record leaves the queue and is never written. Reason: ", RepairState.reason),
                           RepairState.discard),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            _dry_run(),
            rx.match(
                RepairState.detail_kind,
                ("order", _order_actions()),
                ("ingest", rx.text("A retry reads this record afresh from its system: fix it there first, then retry.",
                                   size="1", color_scheme="gray", id="repair-ingest-hint")),
                _write_actions(),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="repair-record",
    )


def repair_page() -> rx.Component:
    return page(
        "repair",
        "Repair queue",
        error_callout(RepairState.error),
        _groups(),
        rx.cond((RepairState.cause != "") | (RepairState.op_filter != 0), _records()),
        rx.cond(RepairState.selected != 0, _record()),
        rx.moment(interval=REFRESH_MS, on_change=RepairState.refresh, display="none"),
    )
