"""The Mismatches page (`/mismatches`): what reconciliation found, the money at stake, heal or ignore."""

# Reflex's component packages ship no py.typed marker, so to mypy every rx.<component>(...) is Any.

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from console.components.layout import error_callout, page
from console.components.pager import pager
from console.state.mismatches import (
    AGES,
    ALL,
    KIND_LABELS,
    STATUSES,
    FindingView,
    KindCard,
    MismatchesState,
    ValueView,
)
from console.state.session import SessionState

REFRESH_MS = 5000
COLUMNS = ("", "Kind", "What", "Values side by side", "At stake", "Age", "Status", "")


def _card(card: ObjectVar[KindCard]) -> rx.Component:
    selected = MismatchesState.kind == card.key
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(card.label, size="2", weight="medium"),
                rx.spacer(),
                rx.heading(card.count, size="6", id=f"mismatch-count-{card.key}"),
                align="center",
                width="100%",
            ),
            rx.text(card.hint, size="1", color_scheme="gray"),
            rx.text(rx.cond(card.money != "", rx.text.span(card.money, " at stake"), "nothing at stake"), size="2",
                    weight="medium", color_scheme=rx.cond(card.money != "", "red", "gray"),
                    id=f"mismatch-money-{card.key}"),
            spacing="2",
            width="100%",
        ),
        width="230px",
        on_click=MismatchesState.set_kind(card.key),  # type: ignore[operator]
        cursor="pointer",
        border=rx.cond(selected, f"2px solid {rx.color('indigo', 8)}", "none"),
        id=f"mismatch-card-{card.key}",
    )


def _select(label: str, value: rx.Var[str], options: list[str], on_change: object, key: str) -> rx.Component:
    return rx.hstack(
        rx.text(label, size="1", color_scheme="gray"),
        rx.select(options, value=value, on_change=on_change, size="1", id=f"mismatch-filter-{key}"),
        align="center",
        spacing="2",
    )


def _filters() -> rx.Component:
    return rx.flex(
        _select("Kind", MismatchesState.kind, [ALL, *KIND_LABELS], MismatchesState.set_kind, "kind"),
        _select("Status", MismatchesState.status, [ALL, *STATUSES], MismatchesState.set_status, "status"),
        _select("System", MismatchesState.system, [ALL, "hubspot", "salesforce", "erp"], MismatchesState.set_system,
                "system"),
        _select("Older than", MismatchesState.age, list(AGES), MismatchesState.set_age, "age"),
        wrap="wrap",
        style={"gap": "16px"},
        align="center",
    )


def _value(value: ObjectVar[ValueView]) -> rx.Component:
    return rx.hstack(
        rx.badge(value.system, variant="soft", color_scheme="gray", size="1"),
        rx.code(value.value, size="1", color_scheme=rx.cond(value.differs, "red", "gray"), variant="ghost"),
        spacing="1",
        align="center",
    )


def _row(row: ObjectVar[FindingView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text("#", row.id.to_string(), size="1", color_scheme="gray")),
        rx.table.cell(rx.badge(row.kind_label, color_scheme="orange", variant="soft"),
                      rx.text(row.object_type, " ", row.field, size="1", color_scheme="gray")),
        rx.table.cell(rx.text(row.summary, size="2"), rx.text(row.records, size="1", color_scheme="gray"),
                      max_width="360px"),
        rx.table.cell(
            rx.vstack(
                rx.foreach(row.cells, _value),
                rx.cond(row.expected != "", rx.hstack(rx.badge("should be", color_scheme="green", size="1"),
                                                      rx.code(row.expected, size="1", variant="ghost"), spacing="1")),
                spacing="1",
            ),
            class_name="mismatch-values",
        ),
        rx.table.cell(rx.text(row.money, weight="medium")),
        rx.table.cell(rx.text(row.first_seen, size="1"), rx.text("seen ", row.seen, size="1", color_scheme="gray",
                                                                  title=row.seen_at)),
        rx.table.cell(
            rx.badge(row.status, color_scheme=rx.cond(row.status == "open", "red", "gray")),
            rx.cond(row.healed_by != "", rx.text("heal by ", row.healed_by, size="1", color_scheme="gray")),
            rx.cond(row.reason != "", rx.text(row.reason, size="1", color_scheme="gray")),
        ),
        rx.table.cell(
            rx.hstack(
                rx.cond(
                    row.status == "open",
                    rx.hstack(
                        rx.cond(row.healable, rx.button(
                            "Heal now", size="1", on_click=MismatchesState.heal(row.id),  # type: ignore[operator]
                            disabled=~SessionState.can_repair, id=f"heal-{row.id}")),
                        rx.button("Ignore", size="1", variant="soft", color_scheme="gray",
                                  on_click=MismatchesState.ignore(row.id),  # type: ignore[operator]
                                  disabled=~SessionState.can_repair, id=f"ignore-{row.id}"),
                        rx.cond(row.linkable, rx.button(
                            "Link", size="1", variant="soft", on_click=MismatchesState.link(row.id),  # type: ignore[operator]
                            disabled=~SessionState.can_repair, title="Point this record at the record id typed above",
                            id=f"link-{row.id}")),
                        spacing="1",
                    ),
                ),
                rx.cond(row.trace_href != "", rx.link("Trace", href=row.trace_href, size="1")),
                spacing="2",
                align="center",
            )
        ),
        id=f"finding-row-{row.id}",
        data_kind=row.kind,
        align="center",
    )


def _bulk(label: str, action: object, key: str, color: str) -> rx.Component:
    """A bulk action over every finding the filters match, confirmed with the count first."""
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button(label, " all ", MismatchesState.total, size="1", variant="outline", color_scheme=color,
                      disabled=(MismatchesState.total == 0) | ~SessionState.can_repair, id=f"bulk-{key}"),
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title(f"{label} every matching finding?"),
            rx.alert_dialog.description(
                rx.text(label, " touches ", rx.text.span(MismatchesState.total, id=f"bulk-{key}-count"),
                        " findings: every one the filters above match, on every page."),
            ),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(rx.button(label, on_click=action, color_scheme=color,
                                                 id=f"bulk-{key}-confirm")),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
        ),
    )


def mismatches() -> rx.Component:
    return page(
        "mismatches",
        "Mismatches",
        error_callout(MismatchesState.error),
        rx.flex(rx.foreach(MismatchesState.cards, _card), wrap="wrap", style={"gap": "12px"}, id="mismatch-cards"),
        rx.cond(
            MismatchesState.trend_at.length() > 0,
            rx.box(
                rx.text("Open findings as each pass left them (last 7 days, UTC)", size="2", color_scheme="gray"),
                rx.plotly.cartesian(data=MismatchesState.trend_figure,
                                    config={"displayModeBar": False, "responsive": True}),
                width="100%",
                id="mismatch-trend",
            ),
        ),
        _filters(),
        rx.hstack(
            rx.input(placeholder="Reason (needed to ignore or link)", value=MismatchesState.reason,
                     on_change=MismatchesState.set_reason, size="1", width="320px", id="mismatch-reason"),
            rx.input(placeholder="Record id (to link to)", value=MismatchesState.record,
                     on_change=MismatchesState.set_record, size="1", width="200px", id="mismatch-record"),
            _bulk("Heal", MismatchesState.heal_all, "heal", "indigo"),
            _bulk("Ignore", MismatchesState.ignore_all, "ignore", "gray"),
            align="center",
            spacing="3",
        ),
        rx.table.root(
            rx.table.header(rx.table.row(*(rx.table.column_header_cell(name) for name in COLUMNS))),
            rx.table.body(rx.foreach(MismatchesState.rows, _row)),
            variant="surface",
            size="1",
            width="100%",
            id="mismatch-table",
        ),
        rx.cond(
            MismatchesState.loaded & (MismatchesState.total == 0),
            rx.text("No mismatches match. Every system agrees with the rules here.", color_scheme="gray",
                    id="mismatches-empty"),
        ),
        pager("mismatches", MismatchesState.page, MismatchesState.pages, MismatchesState.total,
              MismatchesState.has_prev, MismatchesState.has_next, MismatchesState.prev_page,
              MismatchesState.next_page, noun="findings"),
        rx.moment(interval=REFRESH_MS, on_change=MismatchesState.refresh, display="none"),
        actions=rx.hstack(
            rx.text(MismatchesState.last_run, size="1", color_scheme="gray", id="mismatch-last-run"),
            rx.button(rx.icon("refresh-cw", size=14), "Run a full pass now", size="2",
                      on_click=MismatchesState.run_now, disabled=~SessionState.can_repair, id="reconcile-run-now"),
            align="center",
            spacing="3",
        ),
    )
