"""The Audit log page (`/audit`): every human action and policy change, newest first, 50 a page, filtered.

Read-only by design: the page has no action, and the database refuses to change an entry.
"""

# Reflex's component packages ship no py.typed marker, so to mypy every rx.<component>(...) is Any.

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from console.components.layout import error_callout, page
from console.components.pager import pager
from console.state.audit import ANY, PERIODS, AuditState, AuditView

REFRESH_MS = 10000
COLUMNS = ("When", "Who", "Action", "Subject", "Before", "After", "Details")


def _code(text: rx.Var[str]) -> rx.Component:
    return rx.cond(
        text != "",
        rx.code_block(text, language="json", font_size="11px", max_height="160px", overflow="auto",
                      custom_style={"margin": "0"}),
        rx.text("—", color_scheme="gray"),
    )  # fmt: skip


def _row(row: ObjectVar[AuditView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.at, title=row.at_iso, size="2"), white_space="nowrap"),
        rx.table.cell(rx.text(row.actor, weight="medium", size="2")),
        rx.table.cell(rx.badge(row.action, variant="soft", color_scheme="indigo")),
        rx.table.cell(rx.text(row.subject, size="2"), max_width="220px"),
        rx.table.cell(_code(row.before), max_width="260px"),
        rx.table.cell(_code(row.after), max_width="260px"),
        rx.table.cell(_code(row.details), max_width="300px"),
        id=f"audit-row-{row.id}",
        vertical_align="top",
    )


def _filter(label: str, value: rx.Var[str], options: object, on_change: object,
            key: str) -> rx.Component:
    return rx.hstack(
        rx.text(label, size="1", color_scheme="gray"),
        rx.select(options, value=value, on_change=on_change, size="1", id=f"audit-filter-{key}"),
        align="center",
        spacing="2",
    )  # fmt: skip


def audit_page() -> rx.Component:
    filters = rx.flex(
        _filter("Who", AuditState.actor, AuditState.actors, AuditState.set_actor, "actor"),
        _filter("Action", AuditState.action, AuditState.actions, AuditState.set_action,
                "action"),
        _filter("When", AuditState.period, [ANY, *PERIODS], AuditState.set_period, "period"),
        rx.form(
            rx.hstack(
                rx.input(placeholder="Subject contains…", value=AuditState.subject, on_change=AuditState.set_subject,
                         size="1", id="audit-subject"),
                rx.button("Search", size="1", type="submit", id="audit-search"),
                spacing="2",
            ),
            on_submit=lambda _: AuditState.search,
        ),
        wrap="wrap",
        align="center",
        style={"gap": "16px"},
    )  # fmt: skip
    table = rx.table.root(
        rx.table.header(rx.table.row(*(rx.table.column_header_cell(c) for c in COLUMNS))),
        rx.table.body(rx.foreach(AuditState.rows, _row)),
        width="100%",
        size="1",
        id="audit-table",
    )
    return page(
        "audit",
        "Audit log",
        error_callout(AuditState.error),
        rx.text("Every person's action and every policy change, as it happened. Entries cannot be changed or "
                "deleted.", size="2", color_scheme="gray"),
        filters,
        rx.cond(AuditState.loaded & (AuditState.total == 0),
                rx.callout("No entry matches these filters.", icon="info", id="audit-empty"), table),
        pager("audit", AuditState.page, AuditState.pages, AuditState.total, AuditState.has_prev,
              AuditState.has_next, AuditState.prev_page, AuditState.next_page, noun="entries"),
        rx.moment(interval=REFRESH_MS, on_change=AuditState.refresh, display="none"),
    )  # fmt: skip
