"""The Field ownership page (`/ownership`): who owns which field, value maps, preview, save, history."""

# Reflex's component packages ship no py.typed marker, so to mypy every rx.<component>(...) is Any.

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from console.components.layout import error_callout, page
from console.components.pager import pager
from console.state.ownership import (
    NO_OWNER,
    RULE_HINTS,
    RULES,
    ExampleView,
    FieldRow,
    HistoryView,
    OwnershipState,
    ValueEntry,
)
from console.state.session import SessionState

REFRESH_MS = 5000
LOCKED = ~SessionState.can_admin


def _rule_cell(row: ObjectVar[FieldRow]) -> rx.Component:
    return rx.select(
        RULES, value=row.rule, size="1", disabled=LOCKED, id=f"rule-{row.field}",
        on_change=lambda rule: OwnershipState.set_rule(row.field, rule),  # type: ignore[operator]
    )  # fmt: skip


def _owner_cell(row: ObjectVar[FieldRow]) -> rx.Component:
    return rx.cond(
        row.owned,
        rx.select(
            OwnershipState.systems, value=row.owner, size="1", disabled=LOCKED, id=f"owner-{row.field}",
            on_change=lambda owner: OwnershipState.set_owner(row.field, owner),  # type: ignore[operator]
        ),
        rx.text(NO_OWNER, color_scheme="gray", size="2", id=f"owner-{row.field}"),
    )  # fmt: skip


def _field_row(row: ObjectVar[FieldRow]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.field, weight="medium")),
        rx.foreach(row.vendors, lambda vendor: rx.table.cell(rx.code(vendor, variant="ghost"))),
        rx.table.cell(_rule_cell(row)),
        rx.table.cell(_owner_cell(row)),
        rx.table.cell(rx.cond(row.changed, rx.badge("edited", color_scheme="amber"), rx.fragment())),
        id=f"field-row-{row.field}",
        align="center",
    )


def _fields() -> rx.Component:
    return rx.vstack(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Field"),
                    rx.foreach(OwnershipState.systems, lambda s: rx.table.column_header_cell(s, " field")),
                    rx.table.column_header_cell("Rule"),
                    rx.table.column_header_cell("Owner"),
                    rx.table.column_header_cell(""),
                )
            ),
            rx.table.body(rx.foreach(OwnershipState.rows, _field_row)),
            variant="surface",
            size="1",
            width="100%",
            id="ownership-table",
        ),
        rx.hstack(
            rx.button(
                rx.icon("eye", size=14), "Preview and save ", OwnershipState.edited, " edited",
                on_click=OwnershipState.preview, disabled=LOCKED | (OwnershipState.edited == 0),
                id="ownership-preview",
            ),
            rx.button("Discard edits", on_click=OwnershipState.discard_edits, variant="soft", color_scheme="gray",
                      disabled=(OwnershipState.edited == 0) & ~OwnershipState.values_edited, id="ownership-discard"),
            rx.text(
                *(rx.text.span(rx.text.strong(rule), f" {hint}. ") for rule, hint in RULE_HINTS.items()),
                size="1", color_scheme="gray",
            ),
            spacing="3",
            align="center",
            width="100%",
        ),
        width="100%",
        spacing="3",
    )  # fmt: skip


def _entry_row(entry: ObjectVar[ValueEntry]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(entry.canonical, variant="ghost")),
        rx.table.cell(
            rx.input(
                value=entry.vendor, size="1", disabled=LOCKED, id=f"value-{entry.canonical}",
                on_change=lambda vendor: OwnershipState.set_entry(entry.canonical, vendor),  # type: ignore[operator]
            )
        ),
        rx.table.cell(
            rx.hstack(
                rx.cond(entry.changed, rx.badge("edited", color_scheme="amber")),
                rx.icon_button(
                    rx.icon("x", size=12), size="1", variant="ghost", color_scheme="gray", disabled=LOCKED,
                    on_click=OwnershipState.remove_entry(entry.canonical),  # type: ignore[operator]
                    title="Remove from the map",
                ),
                spacing="2",
            )
        ),
        align="center",
    )  # fmt: skip


def _value_maps() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Value maps", size="3"),
                rx.spacer(),
                rx.select(OwnershipState.value_maps, value=OwnershipState.value_map, size="1",
                          on_change=OwnershipState.open_value_map, id="value-map-select"),
                align="center",
                width="100%",
            ),
            rx.text("Revline's value, and how the system spells it (picklists, stages).", size="1",
                    color_scheme="gray"),
            rx.table.root(
                rx.table.header(rx.table.row(rx.table.column_header_cell("Revline"),
                                             rx.table.column_header_cell("System"), rx.table.column_header_cell(""))),
                rx.table.body(rx.foreach(OwnershipState.entries, _entry_row)),
                size="1",
                width="100%",
                id="value-map-table",
            ),
            rx.hstack(
                rx.input(placeholder="Revline value", value=OwnershipState.new_canonical, size="1", disabled=LOCKED,
                         on_change=OwnershipState.set_new_canonical, id="value-new-canonical"),
                rx.input(placeholder="System value", value=OwnershipState.new_vendor, size="1", disabled=LOCKED,
                         on_change=OwnershipState.set_new_vendor, id="value-new-vendor"),
                rx.button("Add", size="1", variant="soft", on_click=OwnershipState.add_entry, disabled=LOCKED,
                          id="value-add"),
                spacing="2",
            ),
            rx.button(rx.icon("eye", size=14), "Preview and save values", size="2",
                      on_click=OwnershipState.preview_values, disabled=LOCKED | ~OwnershipState.values_edited,
                      id="values-preview"),
            spacing="3",
            width="100%",
        ),
        width="380px",
        min_width="320px",
        id="value-maps",
    )  # fmt: skip


def _example(example: ObjectVar[ExampleView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(example.label, title=example.record, size="2")),
        rx.table.cell(example.system),
        rx.table.cell(example.field),
        rx.table.cell(rx.text(example.before, color_scheme="red")),
        rx.table.cell(rx.text(example.after, color_scheme="green")),
    )


def _preview_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(OwnershipState.preview_title),
            rx.vstack(
                rx.foreach(OwnershipState.preview_changes,
                           lambda change: rx.text("• ", change, size="2", weight="medium")),
                rx.callout(
                    rx.cond(
                        OwnershipState.preview_total > 0,
                        rx.text(
                            "Saving writes ", rx.text.span(OwnershipState.preview_total, id="preview-total"),
                            " records now, of ", OwnershipState.preview_scanned,
                            " held by more than one system: ", OwnershipState.preview_counts.join(", "), ".",
                        ),
                        rx.text("Saving overwrites no record now (", rx.text.span("0", id="preview-total"), " of ",
                                OwnershipState.preview_scanned, " linked records); the rule applies to the next "
                                "changes."),
                    ),
                    icon="info",
                    id="preview-summary",
                ),
                rx.cond(
                    OwnershipState.preview_examples.length() > 0,
                    rx.table.root(
                        rx.table.header(rx.table.row(*(rx.table.column_header_cell(h) for h in
                                                       ("Record", "System", "Field", "Holds now", "Written")))),
                        rx.table.body(rx.foreach(OwnershipState.preview_examples, _example)),
                        size="1",
                        width="100%",
                        id="preview-examples",
                    ),
                ),
                rx.hstack(
                    rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray", id="preview-cancel")),
                    rx.button("Save as a new version", on_click=OwnershipState.confirm, disabled=LOCKED,
                              id="preview-confirm"),
                    justify="end",
                    spacing="3",
                    width="100%",
                ),
                spacing="3",
                width="100%",
            ),
            max_width="760px",
            id="preview-dialog",
        ),
        open=OwnershipState.preview_open,
        on_open_change=OwnershipState.set_preview_open,
    )  # fmt: skip


def _history_row(entry: ObjectVar[HistoryView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.badge(entry.version, variant="soft")),
        rx.table.cell(rx.text(entry.when, title=entry.at, size="2")),
        rx.table.cell(entry.actor),
        rx.table.cell(entry.action),
        rx.table.cell(rx.text(entry.what, ": ", entry.changes, size="2")),
        rx.table.cell(entry.writes),
        rx.table.cell(
            rx.cond(
                entry.latest,
                rx.badge("in force", color_scheme="green"),
                rx.button("Roll back to this", size="1", variant="outline", disabled=LOCKED,
                          on_click=OwnershipState.preview_restore(entry.id),  # type: ignore[operator]
                          id=f"restore-{entry.id}"),
            )
        ),
        id=f"history-row-{entry.id}",
        align="center",
    )  # fmt: skip


def _history() -> rx.Component:
    return rx.vstack(
        rx.heading("History", size="4"),
        rx.table.root(
            rx.table.header(rx.table.row(*(rx.table.column_header_cell(h) for h in
                                           ("Version", "When", "Who", "Action", "What changed", "Writes", "")))),
            rx.table.body(rx.foreach(OwnershipState.history, _history_row)),
            variant="surface",
            size="1",
            width="100%",
            id="history-table",
        ),
        pager("history", OwnershipState.history_page, OwnershipState.history_pages, OwnershipState.history_total,
              OwnershipState.history_has_prev, OwnershipState.history_has_next, OwnershipState.history_prev,
              OwnershipState.history_next, noun="changes"),
        width="100%",
        spacing="3",
    )  # fmt: skip


def ownership() -> rx.Component:
    return page(
        "ownership",
        "Field ownership",
        error_callout(OwnershipState.error),
        rx.cond(
            ~SessionState.can_admin,
            rx.callout("You can read the policy; only admins change it.", icon="lock", color_scheme="gray",
                       id="ownership-read-only"),
        ),
        rx.hstack(
            rx.text("Object", size="2", color_scheme="gray"),
            rx.select(OwnershipState.objects, value=OwnershipState.object_type, on_change=OwnershipState.set_object,
                      size="2", id="ownership-object"),
            rx.text("rules v", OwnershipState.rule_version, " · mappings v", OwnershipState.mapping_version,
                    size="1", color_scheme="gray", id="ownership-versions"),
            align="center",
            spacing="3",
        ),
        rx.flex(
            rx.box(_fields(), flex="1", min_width="0"),
            _value_maps(),
            spacing="5",
            width="100%",
            align="start",
        ),
        _history(),
        _preview_dialog(),
        rx.moment(interval=REFRESH_MS, on_change=OwnershipState.refresh, display="none"),
    )  # fmt: skip
